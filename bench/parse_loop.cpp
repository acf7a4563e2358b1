// Per-instance cost of the ingest path's CPU steps (parse, hash) on real files, for profiling.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/hash.h"
#include "dicom/instance.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [ROUNDS]\n", argv[0]);
    return 2;
  }
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(argv[1]))
    files.push_back(e.path().string());
  const int rounds = argc > 2 ? std::stoi(argv[2]) : 3;
  using Clock = std::chrono::steady_clock;
  for (int r = 0; r < rounds; ++r) {
    auto t0 = Clock::now();
    for (const auto& f : files)
      (void)dxhub::dicom::ReadInstanceFile(f);
    auto t1 = Clock::now();
    for (const auto& f : files)
      (void)dxhub::Sha256File(f);
    auto t2 = Clock::now();
    auto us = [&](auto a, auto b) {
      return std::chrono::duration<double, std::micro>(b - a).count() / double(files.size());
    };
    std::printf("parse %.1f us  sha256 %.1f us  (%zu files)\n", us(t0, t1), us(t1, t2),
                files.size());
  }
}
