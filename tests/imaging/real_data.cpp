#include "real_data.h"

#include <filesystem>

#include "core/clock.h"
#include "core/config.h"
#include "imaging/assembly.h"
#include "imaging/nifti.h"
#include "store/archive.h"

namespace dxhub::imaging::real_data {

Result<Volume> AbdomenCt(const std::string& scratch) {
  Config config;
  config.data_dir = scratch;
  SystemClock clock;
  auto archive = store::Archive::Open(config, clock);
  if (!archive.ok())
    return archive.error();
  for (const auto& entry : std::filesystem::directory_iterator(std::string(DXHUB_SHARED_DATA) +
                                                               "/ct-abdomen-20slices")) {
    auto outcome = (*archive)->ImportFile(entry.path().string());
    if (!outcome.ok())
      return outcome.error();
  }
  store::IndexQuery q;
  q.level = store::Level::kSeries;
  auto rows = (*archive)->index().Query(q);
  if (!rows.ok())
    return rows.error();
  if (rows->size() != 1)
    return MakeError(ErrorCode::kInternal, "expected one series in the real CT");
  return LoadSeriesVolume(**archive, rows->front().series.series_uid);
}

Result<LabelVolume> AbdomenLabels(const Geometry& grid) {
  return ReadLabelsOnto(std::string(DXHUB_SHARED_DATA) + "/ct-abdomen-20slices-labels.nii.gz",
                        grid);
}

bool IsBone(uint8_t label) {
  return (label >= 25 && label <= 50) || (label >= 69 && label <= 78) ||
         (label >= 91 && label <= 116);
}

std::string PicturePath(const std::string& name) {
  std::filesystem::create_directories(DXHUB_PICTURES_DIR);
  return std::string(DXHUB_PICTURES_DIR) + "/" + name;
}

}  // namespace dxhub::imaging::real_data
