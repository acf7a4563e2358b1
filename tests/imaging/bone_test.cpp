#include "imaging/bone.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <vector>

#include "../test_util.h"
#include "imaging/dsa.h"
#include "imaging/reslice.h"
#include "phantoms.h"
#include "real_data.h"

namespace dxhub::imaging {
namespace {

using phantoms::BoneCta;
using phantoms::MakeBoneCta;

struct BoneScores {
  double bone_removed = 0;                // fraction of true bone voxels in the mask
  std::map<uint8_t, double> vessel_dice;  // each vessel against what the mask leaves of it
};

BoneScores Score(const BoneCta& c, const BoneResult& r) {
  int64_t bone = 0, bone_hit = 0;
  std::map<uint8_t, int64_t> total, kept;
  for (size_t i = 0; i < c.truth.size(); ++i) {
    const uint8_t t = c.truth[i];
    const bool masked = r.mask.labels[i] != 0;
    if (t == 1) {
      ++bone;
      bone_hit += masked ? 1 : 0;
    } else if (t > 1) {
      ++total[t];
      kept[t] += masked ? 0 : 1;
    }
  }
  BoneScores s;
  s.bone_removed = static_cast<double>(bone_hit) / static_cast<double>(bone);
  for (const auto& [label, n] : total)
    s.vessel_dice[label] =
        2.0 * static_cast<double>(kept[label]) / static_cast<double>(n + kept[label]);
  return s;
}

void Check(double noise) {
  const BoneCta c = MakeBoneCta(256, 256, 96, 0.625, noise);
  auto r = RemoveBone(c.ct);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  const BoneScores s = Score(c, *r);
  std::printf("bone, noise %.0f: %.2f%% of bone removed, %d pieces, %d vetoed, %.1f mL\n", noise,
              100 * s.bone_removed, r->pieces, r->vetoed_pieces, r->bone_ml);
  EXPECT_GE(s.bone_removed, 0.98);
  EXPECT_GE(r->vetoed_pieces, 2);  // the 550 HU vein (no cortex), the 800 HU one (its shape)
  for (const auto& v : c.vessels) {
    const double dice = s.vessel_dice.at(v.label);
    std::printf("  %-36s Dice %.4f\n", v.name, dice);
    if (v.gap_mm >= 1)
      EXPECT_GE(dice, 0.95) << v.name;
    else
      EXPECT_GE(dice, 0.85) << v.name;  // touching: the rim takes some of its wall
  }
  // The bone-free volume keeps every vessel voxel the mask left and nothing of the mask.
  for (size_t i = 0; i < c.truth.size(); ++i) {
    if (r->mask.labels[i] != 0)
      ASSERT_EQ(r->bone_free.voxels[i], -1000.0F);
    else
      ASSERT_EQ(r->bone_free.voxels[i], c.ct.voxels[i]);
  }
}

TEST(Bone, PhantomRemovesBoneAndKeepsVessels) {
  Check(15);
}
TEST(Bone, NoisierPhantom) {
  Check(30);
}

// The real abdominal CT against TotalSegmentator's bone labels. The reference is the bones'
// outlines, fatty marrow included, which bone removal rightly leaves (below 100 HU it never shows
// in a vessel MIP): Dice is bounded well below 1 by that; what matters is the share of the dense
// bone (200 HU or more) removed. Costal cartilage, which calcifies, counts neither way.
TEST(Bone, RealCtAgainstReferenceLabels) {
  dxhub::testing::ScratchDir dir;
  auto ct = real_data::AbdomenCt(dir.path());
  ASSERT_TRUE(ct.ok()) << ct.error().ToString();
  auto reference = real_data::AbdomenLabels(*ct);
  ASSERT_TRUE(reference.ok()) << reference.error().ToString();
  // Portal-venous phase (aorta ~150 HU): the non-contrast settings apply.
  auto r = RemoveBone(*ct, BoneOptions::NonContrast());
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  int64_t truth = 0, found = 0, both = 0, cartilage = 0, dense = 0, dense_found = 0;
  for (size_t i = 0; i < ct->voxels.size(); ++i) {
    const uint8_t l = reference->labels[i];
    const bool bone = real_data::IsBone(l);
    const bool masked = r->mask.labels[i] != 0;
    if (l == 117) {  // costal cartilage: neither counted for nor against
      cartilage += masked ? 1 : 0;
      continue;
    }
    truth += bone ? 1 : 0;
    // What would clutter a vessel MIP: the reference bone's voxels at 200 HU or more.
    if (bone && ct->voxels[i] >= 200) {
      ++dense;
      dense_found += masked ? 1 : 0;
    }
    found += masked ? 1 : 0;
    both += bone && masked ? 1 : 0;
  }
  const double dice = 2.0 * static_cast<double>(both) / static_cast<double>(truth + found);
  const double recall = static_cast<double>(both) / static_cast<double>(truth);
  const double dense_recall = static_cast<double>(dense_found) / static_cast<double>(dense);
  std::printf(
      "real CT bone: Dice %.3f vs the reference bone, %.1f%% of them removed (%.1f%% of those >= "
      "200 HU), %.1f mL, "
      "%d pieces, %d vetoed, %lld cartilage voxels taken\n",
      dice, 100 * recall, 100 * dense_recall, r->bone_ml, r->pieces, r->vetoed_pieces,
      static_cast<long long>(cartilage));
  EXPECT_GE(dice, 0.7);
  EXPECT_GE(dense_recall, 0.98);

  // Slice 10: the CT, then with dxhub's mask and with the reference bone blacked out.
  {
    const int k = 10;
    Image2D plain, mine, theirs;
    for (Image2D* im : {&plain, &mine, &theirs}) {
      im->width = ct->size[0];
      im->height = ct->size[1];
    }
    for (int j = 0; j < ct->size[1]; ++j) {
      for (int i = 0; i < ct->size[0]; ++i) {
        const size_t at = ct->Index(i, j, k);
        plain.pixels.push_back(ct->voxels[at]);
        mine.pixels.push_back(r->mask.labels[at] != 0 ? -1000.0F : ct->voxels[at]);
        theirs.pixels.push_back(real_data::IsBone(reference->labels[at]) ? -1000.0F
                                                                         : ct->voxels[at]);
      }
    }
    int w = 0, h = 0;
    const auto grey = real_data::SideBySide({plain, mine, theirs}, 40, 400, w, h);
    ASSERT_TRUE(WritePng(real_data::PicturePath("bone-real-ct-slice10.png"), grey, w, h).ok());
  }
  // Coronal MIPs before and after, side by side.
  const PlaneSpec coronal = StandardPlane(*ct, Axis::kCoronal);
  auto before = Project(*ct, coronal, Projection::kMax);
  auto after = Project(r->bone_free, coronal, Projection::kMax);
  ASSERT_TRUE(before.ok() && after.ok());
  int w = 0, h = 0;
  const auto grey = real_data::SideBySide({*before, *after}, 300, 1200, w, h);
  ASSERT_TRUE(WritePng(real_data::PicturePath("bone-real-ct-coronal-mip.png"), grey, w, h).ok());
}

TEST(Bone, RefusesBadInput) {
  Volume flat;
  flat.size = {4, 4, 1};
  flat.voxels.assign(16, 0);
  EXPECT_EQ(RemoveBone(flat).error().code, ErrorCode::kInvalidArgument);
  const BoneCta c = MakeBoneCta(32, 32, 8, 1, 0);
  BoneOptions o;
  o.rim_hu = 900;
  EXPECT_EQ(RemoveBone(c.ct, o).error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace dxhub::imaging
