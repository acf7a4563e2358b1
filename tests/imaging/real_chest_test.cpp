// Lung segmentation on real contrast chest CT: the two TotalSegmentator crops of testdata/
// (NIfTI, 1.5 mm). Both crops cut the lungs at their edges, as a cardiac CT's small field of view
// does. No reference labels come with them, so the checks are what must hold of any chest (two
// lungs on their own sides, lung-dense, parenchyma found, the trachea's air not lung)
// and the pictures (build/pictures/) show the rest.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "imaging/dsa.h"
#include "imaging/lung.h"
#include "real_data.h"

namespace dxhub::imaging {
namespace {

// One row per slice (a quarter, half and three quarters up): the CT in a lung window beside the
// labels (left lung white, right lung light grey, over the CT dimmed to a third), three times
// enlarged.
void WriteLungPicture(const Volume& ct, const LabelVolume& labels, const std::string& name) {
  const std::vector<int> slices = {ct.size[2] / 4, ct.size[2] / 2, 3 * ct.size[2] / 4};
  constexpr int kZoom = 3;  // the crops are small: 1.5 mm voxels
  const int w = ct.size[0] * kZoom, h = ct.size[1] * kZoom;
  const int width = w * 2, height = h * static_cast<int>(slices.size());
  std::vector<unsigned char> grey(static_cast<size_t>(width) * static_cast<size_t>(height));
  for (size_t s = 0; s < slices.size(); ++s) {
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        const size_t at = ct.Index(x / kZoom, y / kZoom, slices[s]);
        const double g = std::clamp((ct.voxels[at] + 600.0) / 1500.0 + 0.5, 0.0, 1.0) * 255;
        const uint8_t l = labels.labels[at];
        const size_t row =
            (s * static_cast<size_t>(h) + static_cast<size_t>(y)) * static_cast<size_t>(width);
        grey[row + static_cast<size_t>(x)] = static_cast<unsigned char>(g);
        grey[row + static_cast<size_t>(w + x)] = l == 1   ? 255
                                                 : l == 2 ? 170
                                                          : static_cast<unsigned char>(g / 3);
      }
    }
  }
  ASSERT_TRUE(WritePng(real_data::PicturePath(name), grey, width, height).ok());
}

class RealChestLungs : public ::testing::TestWithParam<const char*> {};

TEST_P(RealChestLungs, TwoLungsOnTheirSidesAirwaysExcluded) {
  auto ct = real_data::ChestCrop(GetParam());
  ASSERT_TRUE(ct.ok()) << ct.error().ToString();
  auto r = SegmentLungs(*ct);
  ASSERT_TRUE(r.ok()) << r.error().ToString();

  // The crop's middle in x (LPS: +x is the patient's left).
  const double mid_x = ct->PointAt((ct->size[0] - 1) / 2.0, 0, 0)[0];
  int64_t n[3] = {0, 0, 0}, own_side[3] = {0, 0, 0}, dense[3] = {0, 0, 0};
  int64_t parenchyma = 0, parenchyma_found = 0, darkest = 0, darkest_as_lung = 0;
  for (int k = 0; k < ct->size[2]; ++k) {
    for (int j = 0; j < ct->size[1]; ++j) {
      for (int i = 0; i < ct->size[0]; ++i) {
        const size_t at = ct->Index(i, j, k);
        const float hu = ct->voxels[at];
        const uint8_t l = r->labels.labels[at];
        const double x = ct->PointAt(i, j, k)[0];
        if (l != 0) {
          ++n[l];
          own_side[l] += (l == 1) == (x > mid_x) ? 1 : 0;
          dense[l] += hu < -500 ? 1 : 0;
        }
        // Lung parenchyma is -950 to -600 HU; little else in a chest is.
        if (hu > -950 && hu < -600) {
          ++parenchyma;
          parenchyma_found += l != 0 ? 1 : 0;
        }
        // Below -980 HU in the top fifth of the crop, within 20 mm of its middle, is the air
        // of the trachea (the smaller bronchi are part of the lung). Below the carina the main
        // bronchi are not checked: see docs/imaging.md.
        if (hu < -980 && std::abs(x - mid_x) < 20 && k >= ct->size[2] * 4 / 5) {
          ++darkest;
          darkest_as_lung += l != 0 ? 1 : 0;
        }
      }
    }
  }
  const auto share = [](int64_t a, int64_t b) {
    return static_cast<double>(a) / static_cast<double>(std::max<int64_t>(b, 1));
  };
  std::printf(
      "real chest %s: left %.0f mL right %.0f mL, on their own side %.1f%% / %.1f%%, below "
      "-500 HU %.1f%% / %.1f%%, parenchyma found %.1f%%, central airway air as lung %.2f%% "
      "of %lld voxels, airways %s, split %s\n",
      GetParam(), r->left_ml, r->right_ml, 100 * share(own_side[1], n[1]),
      100 * share(own_side[2], n[2]), 100 * share(dense[1], n[1]), 100 * share(dense[2], n[2]),
      100 * share(parenchyma_found, parenchyma), 100 * share(darkest_as_lung, darkest),
      static_cast<long long>(darkest), r->airways_found ? "found" : "none",
      r->split_touching ? "yes" : "no");
  EXPECT_GT(r->left_ml, 300);
  EXPECT_GT(r->right_ml, 300);
  EXPECT_GE(share(own_side[1], n[1]), 0.9);
  EXPECT_GE(share(own_side[2], n[2]), 0.9);
  // The rest is the vessels filled in.
  EXPECT_GE(share(dense[1], n[1]), 0.85);
  EXPECT_GE(share(dense[2], n[2]), 0.85);
  EXPECT_GE(share(parenchyma_found, parenchyma), 0.95);
  EXPECT_TRUE(r->airways_found);
  EXPECT_LT(share(darkest_as_lung, darkest), 0.05);
  WriteLungPicture(*ct, r->labels, std::string("lungs-real-chest-") + GetParam() + ".png");
}

INSTANTIATE_TEST_SUITE_P(Crops, RealChestLungs, ::testing::Values("aorta", "pulmonary"));

}  // namespace
}  // namespace dxhub::imaging
