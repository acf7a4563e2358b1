#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "ai/model_registry.h"
#include "ai/pipeline.h"
#include "app/commands.h"
#include "core/clock.h"
#include "core/thread_pool.h"
#include "store/archive.h"

namespace dxhub::app {
namespace {

namespace stdfs = std::filesystem;

struct Tally {
  std::atomic<int64_t> done{0};
  std::atomic<int64_t> imported{0};
  std::atomic<int64_t> replaced{0};
  std::atomic<int64_t> duplicates{0};
  std::atomic<int64_t> rejected{0};
  std::atomic<int64_t> coerced{0};  // archived with blank UIDs filled in
  std::mutex mu;
  std::map<std::string, std::vector<std::string>> reasons;  // guarded by mu
};

void DrawProgress(const Tally& t, int64_t total, bool final_line) {
  const int width = 30;
  int64_t done = t.done.load();
  int filled = total > 0 ? static_cast<int>(width * done / total) : width;
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(width, '.');
  std::fprintf(
      stderr, "\r[%s] %lld/%lld  imported %lld  duplicates %lld  rejected %lld%s", bar.c_str(),
      static_cast<long long>(done), static_cast<long long>(total),
      static_cast<long long>(t.imported.load()) + static_cast<long long>(t.replaced.load()),
      static_cast<long long>(t.duplicates.load()), static_cast<long long>(t.rejected.load()),
      final_line ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace

int RunImport(const Config& config, const ImportOptions& options) {
  std::vector<std::string> files;
  for (const auto& p : options.paths) {
    std::error_code ec;
    if (stdfs::is_directory(p, ec)) {
      for (auto it = stdfs::recursive_directory_iterator(
               p, stdfs::directory_options::skip_permission_denied, ec);
           it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec)
          break;
        if (it->is_regular_file(ec))
          files.push_back(it->path().string());
      }
    } else if (stdfs::is_regular_file(p, ec)) {
      files.push_back(p);
    } else {
      std::fprintf(stderr, "dxhub import: %s: no such file or directory\n", p.c_str());
      return 2;
    }
  }

  SystemClock clock;
  auto archive = store::Archive::Open(config, clock);
  if (!archive.ok()) {
    std::fprintf(stderr, "dxhub import: cannot open archive: %s\n",
                 archive.error().ToString().c_str());
    return 1;
  }

  store::Attribution attribution;
  if (!options.institution.empty()) {
    auto found = (*archive)->index().institutions().Find(options.institution);
    if (!found.ok() || !found->has_value()) {
      std::fprintf(stderr, "dxhub import: no institution named '%s' (see dxhub institution list)\n",
                   options.institution.c_str());
      return 1;
    }
    attribution.institution = (*found)->id;
  }

  // Imported images are queued for the AI models like received ones; `serve` runs the jobs.
  auto models = ai::ScanModels(config.ModelRoots());
  auto disabled = (*archive)->index().ai().DisabledModels();
  if (!disabled.ok()) {
    std::fprintf(stderr, "dxhub import: %s\n", disabled.error().message.c_str());
    return 1;
  }
  (*archive)->SetJobPlanner([&models, &disabled](const dicom::InstanceInfo& info) {
    return ai::PlanJobs(models.cards, *disabled, info.modality, info.sop_class_uid, info.body_part);
  });

  const int64_t total = static_cast<int64_t>(files.size());
  const bool tty = options.progress && ::isatty(STDERR_FILENO);
  Tally tally;
  auto start = std::chrono::steady_clock::now();
  {
    size_t threads = options.threads > 0 ? static_cast<size_t>(options.threads)
                                         : std::max(1u, std::thread::hardware_concurrency());
    ThreadPool pool(threads, threads * 4);
    std::atomic<bool> finished{false};
    std::thread progress([&] {
      while (!finished) {
        if (tty)
          DrawProgress(tally, total, false);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    });
    for (const auto& file : files) {
      pool.Submit([&, file] {
        auto outcome = (*archive)->ImportFile(file, attribution);
        if (!outcome.ok()) {
          ++tally.rejected;
          std::lock_guard lock(tally.mu);
          tally.reasons[outcome.error().message].push_back(file);
        } else if (outcome->kind == store::IngestKind::kDuplicate) {
          ++tally.duplicates;
        } else if (outcome->kind == store::IngestKind::kReplaced) {
          ++tally.replaced;
        } else {
          ++tally.imported;
        }
        if (outcome.ok() && !outcome->info.coerced.empty())
          ++tally.coerced;
        ++tally.done;
      });
    }
    pool.Wait();
    finished = true;
    progress.join();
  }
  if (tty)
    DrawProgress(tally, total, true);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::printf(
      "import summary: %lld files in %.1f s: imported %lld, replaced %lld, "
      "duplicates %lld, rejected %lld\n",
      static_cast<long long>(total), secs, static_cast<long long>(tally.imported.load()),
      static_cast<long long>(tally.replaced.load()),
      static_cast<long long>(tally.duplicates.load()),
      static_cast<long long>(tally.rejected.load()));
  if (tally.coerced > 0) {
    std::printf("  %lld arrived with blank UIDs (anonymised data) and were given derived ones\n",
                static_cast<long long>(tally.coerced.load()));
  }
  for (const auto& [reason, paths] : tally.reasons) {
    std::printf("  rejected %zu: %s\n", paths.size(), reason.c_str());
    for (size_t i = 0; i < paths.size() && i < 5; ++i)
      std::printf("    %s\n", paths[i].c_str());
    if (paths.size() > 5)
      std::printf("    ... and %zu more\n", paths.size() - 5);
  }
  return tally.rejected > 0 ? 3 : 0;
}

}  // namespace dxhub::app
