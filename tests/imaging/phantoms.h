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
