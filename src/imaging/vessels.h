#pragma once
// Vessel and coronary tree extraction in a region of interest: multiscale Hessian vesselness
// (Frangi; ITK's implementation), lumen grown from the tubular cores, centre lines by
// topology-preserving thinning, re-centred and sized from the image itself (the lumen's
// half-contrast edge along rays across the vessel), joined into trees.

#include <string>
#include <vector>

#include "core/result.h"
#include "imaging/volume.h"

namespace dxhub::imaging {

struct VesselOptions {
  double sigma_min_mm = 0.5;  // smallest and largest Hessian scales; radii about sqrt(2) sigma
  double sigma_max_mm = 2.0;
  int scales = 4;                // log-spaced between them
  double alpha = 0.5;            // Frangi: plate suppression
  double beta = 0.5;             // Frangi: blob suppression
  double gamma = 40;             // Frangi: structure (noise) term, in scale-normalised HU
  bool bright = true;            // contrast-filled lumen (CTA); false for dark vessels
  double core_threshold = 0.25;  // vesselness (0-1) that marks a tubular core
  /// Where to grow from (patient mm): keep only the trees through these; empty keeps every tree
  /// with at least min_length_mm of centre line.
  std::vector<Vec3> seeds;
  double min_length_mm = 8;
};

struct CenterlinePoint {
  Vec3 position{0, 0, 0};  // mm, patient space
  double radius_mm = 0;
};

/// One unbranched stretch of vessel, from its parent's end towards the periphery.
struct VesselBranch {
  int id = 0;
  int parent = -1;  // -1: a root
  double length_mm = 0;
  std::vector<CenterlinePoint> points;
};

struct VesselResult {
  LabelVolume mask;               // 1 lumen
  std::vector<float> vesselness;  // 0-1 per voxel, on the input's grid
  std::vector<VesselBranch> branches;
  int trees = 0;
};

/// kInvalidArgument for a volume under 3 voxels in a direction or options out of range.
Result<VesselResult> ExtractVessels(const Volume& volume, const VesselOptions& options = {});

/// The centre lines as JSON: {"trees": n, "branches": [{"id", "parent", "length_mm",
/// "points": [[x, y, z, radius], ...]}]} (mm, LPS).
std::string VesselTreeJson(const VesselResult& result);

}  // namespace dxhub::imaging
