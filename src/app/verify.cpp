#include <cstdio>

#include "app/commands.h"
#include "core/clock.h"
#include "store/archive.h"

namespace dxhub::app {

int RunVerify(const Config& config, bool deep) {
  SystemClock clock;
  auto archive = store::Archive::Open(config, clock);
  if (!archive.ok()) {
    std::fprintf(stderr, "dxhub verify: cannot open archive: %s\n",
                 archive.error().ToString().c_str());
    return 2;
  }
  auto report = (*archive)->Verify(deep);
  if (!report.ok()) {
    std::fprintf(stderr, "dxhub verify: %s\n", report.error().ToString().c_str());
    return 2;
  }
  std::printf("verify: %lld indexed instances, %lld blobs%s\n",
              static_cast<long long>(report->indexed), static_cast<long long>(report->blobs),
              deep ? " (contents re-hashed)" : "");
  auto list = [](const char* what, const std::vector<std::string>& items) {
    if (items.empty())
      return;
    std::printf("  %s: %zu\n", what, items.size());
    for (const auto& item : items)
      std::printf("    %s\n", item.c_str());
  };
  list("indexed but blob missing", report->missing_blobs);
  list("blob differs from index (size or checksum)", report->corrupt_blobs);
  list("blob not indexed", report->unindexed_blobs);
  if (report->Clean()) {
    std::printf("verify: OK, no differences\n");
    return 0;
  }
  std::printf("verify: DIFFERENCES FOUND\n");
  return 1;
}

}  // namespace dxhub::app
