#pragma once
// Analytic phantoms with known truth, shared by the imaging tests and bench/imaging_bench: a chest
// CT with labelled lungs and airways, a partial-volume ball, and a Beer-Lambert DSA pair.

#include <array>
#include <cstdint>
#include <vector>

#include "imaging/dsa.h"
#include "imaging/volume.h"

namespace dxhub::imaging::phantoms {

/// An analytic chest (LPS mm, head at +z) on an nx x ny x nz grid covering 320 x 240 x 300 mm:
/// body 40 HU, lungs -850 (ellipsoids of 55 x 75 x 120 mm semi-axes at x = +-75), trachea and
/// main bronchi -1000, forty 2-3 mm vessels in the lungs at 40 HU, spine 700, aorta 300, Gaussian
/// noise. `touching` joins the lungs with an anterior bridge. Truth: 1 left lung, 2 right
/// (vessels inside count as lung, airways do not), 3 airway.
struct Chest {
  Volume ct;
  std::vector<uint8_t> truth;
};
Chest MakeChest(int nx, int ny, int nz, double noise, bool touching, uint32_t seed = 7);

/// A CT angiogram around the spine (LPS mm, grid of `spacing` mm centred on (0, 40, 0)): body
/// 40 HU; a vertebral column (18 mm radius, 2 mm cortex at 1000 HU around a 250 HU core) with a
/// cortical arch around the spinal canal; ribs every 30 mm in z (5 mm radius, 1.5 mm cortex,
/// 250 HU core) curving from the spine towards the front; 350 HU aortas of 10 mm radius 0, 1 and
/// 2 mm from the vertebral body; 1.25 mm intercostal arteries 1 or 2 mm below the ribs; 1.25 mm
/// lumbar arteries 1 and 2 mm beside the vertebral body; 550 and 800 HU contrast-filled veins away
/// from bone (the second as dense as cortex). Partial-volume edges, Gaussian noise. Truth: 1 bone,
/// then one label per vessel.
struct VesselTruth {
  uint8_t label;
  const char* name;
  double gap_mm;  // to the nearest bone
};
struct BoneCta {
  Volume ct;
  std::vector<uint8_t> truth;
  std::vector<VesselTruth> vessels;
};
BoneCta MakeBoneCta(int nx, int ny, int nz, double spacing, double noise, uint32_t seed = 11);

/// Vessels in a cube of n^3 voxels of `spacing` mm centred on the origin: helices and curved
/// tubes of radius 0.75-2.5 mm at 350 HU in 50 HU (one with a side branch), a plate (3 mm thick)
/// and a ball (4 mm) of the same density that a vessel filter must ignore, partial-volume edges,
/// Gaussian noise. Truth: 1 tube, 2 plate or ball; each tube's centre line densely sampled.
struct TubeTruth {
  std::vector<Vec3> centre_line;  // every 0.05 mm
  double radius;
};
struct Tubes {
  Volume ct;
  std::vector<uint8_t> truth;
  std::vector<TubeTruth> tubes;
};
Tubes MakeTubes(int n, double spacing, double noise, uint32_t seed = 5);

/// A ball of radius `r` mm (1000 inside, 0 outside) on an isotropic grid, with partial-volume
/// edges (each voxel holds the fraction of it inside, 4x4x4 supersampling).
Volume Ball(double r, double voxel, Vec3 centre_offset = {0.3, -0.2, 0.1});

/// Contrast in a sinuous vessel 12 px wide across a size x size frame (attenuation, 0.5 on its
/// centre line).
double Vessel(double x, double y, int size);

/// Mask and live X-ray frames (Beer-Lambert, I0 = 4000) of textured anatomy, the live one moved
/// by `shift` pixels and, optionally, with the contrast-filled vessel.
FrameSeries DsaPair(int size, std::array<double, 2> shift, bool with_vessel);

}  // namespace dxhub::imaging::phantoms
