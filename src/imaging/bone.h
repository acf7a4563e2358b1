#pragma once
// Automatic bone removal for CT and CT angiography: a bone mask that leaves contrast-filled
// vessels alone, even where they run beside bone, and the volume with the bone taken out (for
// vessel MIPs and volume rendering).
//
// Bone is found from its cortex: pieces of dense tissue (`seed_hu`) with enough truly cortical
// voxels (`cortex_hu`) in them; dense pieces without, such as a contrast-filled vein or an
// enhancing organ, are vetoed whatever their shape. A shape veto catches vessels whose contrast
// is as dense as cortex (undiluted contrast in a vein): an elongated piece, solid in every slice
// and evenly dense inside, is a tube of contrast, not bone (bone is a shell round marrow, its
// density uneven). Thin cortex (ribs, osteoporotic vertebrae) is
// seen only in fragments at CT resolution, so each slice's dense bone is closed over `closing_mm`
// before what it encloses is taken as marrow, only where dense enough to be marrow rather than
// the spinal canal or fat. Last, a thin partial-volume rim is grown outwards while the density
// keeps falling: a vessel next to bone is denser than the gap between them, so growth stops in
// the gap instead of flooding the vessel. Where a vessel touches bone the rim still takes up to
// `rim_mm` of its wall, and a vessel denser than `seed_hu` touching bone goes with it: the
// limits to report, measured in bench/RESULTS.md.

#include <cstdint>

#include "core/result.h"
#include "imaging/volume.h"

namespace dxhub::imaging {

/// The defaults suit CT angiography, where arteries hold 250-450 HU of contrast.
struct BoneOptions {
  float seed_hu = 450;    // bone after smoothing; contrast in arteries stays below in most CTAs
  float cortex_hu = 600;  // a piece of bone has some voxels this dense (1% or more of it)
  float marrow_hu = 100;  // enclosed tissue at least this dense is marrow, less is canal or fat
  double closing_mm = 3;  // gaps in a slice's cortex this wide are bridged before enclosing
  float rim_hu = 180;     // the rim grows through voxels denser than this...
  double rim_mm = 1.0;    // ...and at most this far from the dense bone
  double smoothing_mm = 0.5;
  double min_piece_ml = 0.02;  // smaller dense specks are noise or calcification, not bone
  float removed_hu = -1000;    // the value bone voxels get in the bone-free volume

  /// For CT without arterial contrast (venous phase, plain): no vessel is dense, so bone can be
  /// seeded much lower and its thin cortex and trabecular marrow followed further.
  static BoneOptions NonContrast() {
    BoneOptions o;
    o.seed_hu = 220;
    o.cortex_hu = 500;
    o.rim_hu = 150;
    o.rim_mm = 2;
    return o;
  }
};

struct BoneResult {
  LabelVolume mask;  // 1 bone
  Volume bone_free;  // the input with bone voxels set to removed_hu
  double bone_ml = 0;
  int pieces = 0;         // pieces of dense tissue kept as bone
  int vetoed_pieces = 0;  // dense pieces without cortex or shaped as contrast tubes, left in
};

/// kInvalidArgument for a volume of fewer than three slices or options out of range.
Result<BoneResult> RemoveBone(const Volume& ct, const BoneOptions& options = {});

}  // namespace dxhub::imaging
