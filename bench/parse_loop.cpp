// Per-instance cost of the ingest path's CPU steps (parse, hash) on real files, read from the
// files and from memory, for profiling.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
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
  std::vector<std::string> contents;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    contents.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
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
    // What the C-STORE path does now: the bytes are in memory already.
    double memory_us = 0;
    double memory_sha_us = 0;
    for (size_t i = 0; i < files.size(); ++i) {
      const std::string& bytes = contents[i];
      auto m0 = Clock::now();
      (void)dxhub::dicom::ReadInstance(files[i], bytes);
      auto m1 = Clock::now();
      (void)dxhub::Sha256Hex(bytes);
      auto m2 = Clock::now();
      memory_us += std::chrono::duration<double, std::micro>(m1 - m0).count();
      memory_sha_us += std::chrono::duration<double, std::micro>(m2 - m1).count();
    }
    auto us = [&](auto a, auto b) {
      return std::chrono::duration<double, std::micro>(b - a).count() / double(files.size());
    };
    std::printf(
        "parse %.1f us  sha256 %.1f us  from memory: parse %.1f us  sha256 %.1f us  (%zu files)\n",
        us(t0, t1), us(t1, t2), memory_us / double(files.size()),
        memory_sha_us / double(files.size()), files.size());
  }
}
