#include "phantoms.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>

namespace dxhub::imaging::phantoms {
namespace {

// Distance from p to the segment a-b.
double SegmentDistance(const Vec3& p, const Vec3& a, const Vec3& b) {
  Vec3 ab{b[0] - a[0], b[1] - a[1], b[2] - a[2]};
  Vec3 ap{p[0] - a[0], p[1] - a[1], p[2] - a[2]};
  const double len2 = ab[0] * ab[0] + ab[1] * ab[1] + ab[2] * ab[2];
  const double t = std::clamp((ap[0] * ab[0] + ap[1] * ab[1] + ap[2] * ab[2]) / len2, 0.0, 1.0);
  const Vec3 q{a[0] + t * ab[0] - p[0], a[1] + t * ab[1] - p[1], a[2] + t * ab[2] - p[2]};
  return std::sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2]);
}

struct Tube {
  Vec3 a, b;
  double radius;
  // Cheap rejection: a point farther than this from the midpoint cannot be inside.
  bool Near(const Vec3& p) const {
    const double mx = (a[0] + b[0]) / 2 - p[0], my = (a[1] + b[1]) / 2 - p[1],
                 mz = (a[2] + b[2]) / 2 - p[2];
    const double half = std::sqrt((b[0] - a[0]) * (b[0] - a[0]) + (b[1] - a[1]) * (b[1] - a[1]) +
                                  (b[2] - a[2]) * (b[2] - a[2])) /
                            2 +
                        radius;
    return mx * mx + my * my + mz * mz <= half * half;
  }
};

struct Blob {
  double x, y, sigma, mu;
};

// Background attenuation: smooth anatomy (Gaussian blobs and a gradient), fixed seed.
std::vector<Blob> Anatomy(int size) {
  std::mt19937 rng(20261125);
  std::uniform_real_distribution<double> pos(0, size), sigma(size / 40.0, size / 10.0),
      mu(0.2, 1.0);
  std::vector<Blob> blobs;
  for (int b = 0; b < 30; ++b)
    blobs.push_back({pos(rng), pos(rng), sigma(rng), mu(rng)});
  // Fine structure (bone trabeculae, lung texture): what registration locks on to in practice.
  std::uniform_real_distribution<double> fine(2, 6), faint(0.02, 0.08);
  for (int b = 0; b < 3000; ++b)
    blobs.push_back({pos(rng), pos(rng), fine(rng), faint(rng)});
  return blobs;
}

// Background attenuation on the pixel grid with the anatomy moved by `shift`: each blob is
// added over its own +-6 sigma box (beyond that it adds nothing measurable).
std::vector<double> Background(const std::vector<Blob>& blobs, int size,
                               std::array<double, 2> shift) {
  std::vector<double> mu(static_cast<size_t>(size) * static_cast<size_t>(size));
  for (int y = 0; y < size; ++y) {
    for (int x = 0; x < size; ++x)
      mu[static_cast<size_t>(y) * size + x] =
          0.3 * (x - shift[0]) / size + 0.2 * (y - shift[1]) / size;
  }
  for (const auto& b : blobs) {
    const double cx = b.x + shift[0];
    const double cy = b.y + shift[1];
    const int r = static_cast<int>(std::ceil(6 * b.sigma));
    for (int y = std::max(0, static_cast<int>(cy) - r);
         y <= std::min(size - 1, static_cast<int>(cy) + r); ++y) {
      for (int x = std::max(0, static_cast<int>(cx) - r);
           x <= std::min(size - 1, static_cast<int>(cx) + r); ++x) {
        const double d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
        mu[static_cast<size_t>(y) * size + x] += b.mu * std::exp(-d2 / (2 * b.sigma * b.sigma));
      }
    }
  }
  return mu;
}

}  // namespace

Chest MakeChest(int nx, int ny, int nz, double noise, bool touching, uint32_t seed) {
  Chest c;
  Volume& v = c.ct;
  v.size = {nx, ny, nz};
  v.spacing = {320.0 / nx, 240.0 / ny, 300.0 / nz};
  v.origin = {-160, -120, -150};
  v.voxels.resize(v.Count());
  c.truth.assign(v.Count(), 0);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1), r(1.0, 1.5);
  std::vector<Tube> vessels;
  while (vessels.size() < 40) {
    const double side = vessels.size() % 2 == 0 ? 1 : -1;
    const Vec3 a{side * (75 + 35 * u(rng)), 50 * u(rng), 90 * u(rng)};
    const Vec3 b{a[0] + 25 * u(rng), a[1] + 25 * u(rng), a[2] + 30 * u(rng)};
    vessels.push_back({a, b, r(rng)});
  }
  const std::vector<Tube> airways = {{{0, -20, 160}, {0, -20, 60}, 9},
                                     {{0, -20, 60}, {50, -10, 20}, 6},
                                     {{0, -20, 60}, {-50, -10, 20}, 6}};
  std::normal_distribution<double> n(0, noise);
  for (int k = 0; k < nz; ++k) {
    for (int j = 0; j < ny; ++j) {
      for (int i = 0; i < nx; ++i) {
        const Vec3 p = v.PointAt(i, j, k);
        double hu = -1000;
        uint8_t label = 0;
        const double body = (p[0] / 150) * (p[0] / 150) + (p[1] / 110) * (p[1] / 110);
        if (body <= 1) {
          hu = 40;
          for (int side : {1, -1}) {
            const double e = std::pow((p[0] - side * 75) / 55, 2) + std::pow(p[1] / 75, 2) +
                             std::pow(p[2] / 120, 2);
            if (e <= 1) {
              hu = -850;
              label = side > 0 ? 1 : 2;
            }
          }
          // Lungs touching in front of the heart: a thin bridge of lung tissue.
          if (touching && std::abs(p[0]) <= 55 && p[1] >= -72 && p[1] <= -60 &&
              std::abs(p[2]) <= 30) {
            hu = -850;
            label = p[0] > 0 ? 1 : 2;
          }
          if (label != 0) {
            for (const auto& t : vessels) {
              if (t.Near(p) && SegmentDistance(p, t.a, t.b) <= t.radius)
                hu = 40;
            }
          }
          for (const auto& t : airways) {
            if (t.Near(p) && SegmentDistance(p, t.a, t.b) <= t.radius) {
              hu = -1000;
              label = 3;
            }
          }
          if (std::hypot(p[0], p[1] - 80) <= 20)
            hu = 700;
          if (std::hypot(p[0] - 25, p[1] - 40) <= 12)
            hu = 300;
        }
        v.At(i, j, k) = static_cast<float>(hu + (noise > 0 ? n(rng) : 0));
        c.truth[v.Index(i, j, k)] = label;
      }
    }
  }
  return c;
}

Volume Ball(double r, double voxel, Vec3 centre_offset) {
  Volume v;
  const int n = static_cast<int>(std::ceil(2 * r / voxel)) + 6;
  v.size = {n, n, n};
  v.spacing = {voxel, voxel, voxel};
  v.origin = {-100, 20, 7};
  v.voxels.assign(v.Count(), 0);
  const double c = (n - 1) * voxel / 2;
  for (int k = 0; k < n; ++k) {
    for (int j = 0; j < n; ++j) {
      for (int i = 0; i < n; ++i) {
        int inside = 0;
        for (int s = 0; s < 64; ++s) {
          const double x = (i + ((s & 3) + 0.5) / 4 - 0.5) * voxel - c - centre_offset[0];
          const double y = (j + (((s >> 2) & 3) + 0.5) / 4 - 0.5) * voxel - c - centre_offset[1];
          const double z = (k + ((s >> 4) + 0.5) / 4 - 0.5) * voxel - c - centre_offset[2];
          inside += x * x + y * y + z * z <= r * r ? 1 : 0;
        }
        v.At(i, j, k) = static_cast<float>(1000.0 * inside / 64);
      }
    }
  }
  return v;
}

// A contrast-filled vessel: a sinuous band 6 px wide with a soft profile.
double Vessel(double x, double y, int size) {
  const double centre = size / 2.0 + size / 8.0 * std::sin(x / size * 6.0);
  const double d = std::abs(y - centre);
  return d < 6 ? 0.5 * std::cos(d / 6 * std::numbers::pi / 2) : 0;
}

// Mask and live frames (Beer-Lambert, I0 = 4000) with the live background moved by `shift`.
FrameSeries DsaPair(int size, std::array<double, 2> shift, bool with_vessel) {
  const auto blobs = Anatomy(size);
  const std::vector<double> still = Background(blobs, size, {0, 0});
  const std::vector<double> moved = Background(blobs, size, shift);
  FrameSeries s{size, size, {}};
  std::vector<float> mask, live;
  for (int y = 0; y < size; ++y) {
    for (int x = 0; x < size; ++x) {
      const size_t i = static_cast<size_t>(y) * size + x;
      mask.push_back(static_cast<float>(4000 * std::exp(-still[i])));
      const double mu = moved[i] + (with_vessel ? Vessel(x, y, size) : 0);
      live.push_back(static_cast<float>(4000 * std::exp(-mu)));
    }
  }
  s.frames = {mask, live};
  return s;
}

}  // namespace dxhub::imaging::phantoms
