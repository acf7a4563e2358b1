#include "real_data.h"

#include <algorithm>
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
  for (const auto& entry : std::filesystem::directory_iterator(std::string(DXHUB_SAMPLE_DATA) +
                                                               "/ct-abdomen-20slices")) {
    auto outcome = (*archive)->ImportFile(entry.path().string());
    if (!outcome.ok())
      return outcome.error();
  }
  store::IndexQuery q;
  q.level = store::Level::kSeries;
  auto rows = (*archive)->index().Query(dxhub::store::Scope::Everything(), q);
  if (!rows.ok())
    return rows.error();
  if (rows->size() != 1)
    return MakeError(ErrorCode::kInternal, "expected one series in the real CT");
  return LoadSeriesVolume(**archive, rows->front().series.series_uid);
}

Result<LabelVolume> AbdomenLabels(const Geometry& grid) {
  return ReadLabelsOnto(std::string(DXHUB_SAMPLE_DATA) + "/ct-abdomen-20slices-labels.nii.gz",
                        grid);
}

Result<Volume> ChestCrop(const std::string& name) {
  return ReadVolume(std::string(DXHUB_SAMPLE_DATA) + "/ct-chest-crops/" + name + "/ct.nii.gz");
}

std::vector<unsigned char> SideBySide(const std::vector<Image2D>& images, double centre,
                                      double width, int& out_width, int& out_height) {
  out_width = 0;
  out_height = 0;
  for (const auto& im : images) {
    out_width += im.width;
    out_height = std::max(out_height, im.height);
  }
  std::vector<unsigned char> grey(static_cast<size_t>(out_width) * static_cast<size_t>(out_height));
  int x0 = 0;
  for (const auto& im : images) {
    for (int y = 0; y < im.height; ++y) {
      for (int x = 0; x < im.width; ++x) {
        const double g = std::clamp((im.At(x, y) - centre) / width + 0.5, 0.0, 1.0);
        grey[static_cast<size_t>(y) * static_cast<size_t>(out_width) +
             static_cast<size_t>(x0 + x)] = static_cast<unsigned char>(g * 255);
      }
    }
    x0 += im.width;
  }
  return grey;
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
