#include "phantoms.h"

#include <algorithm>
#include <cmath>
#include <functional>
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

// A solid with a signed distance (mm, negative inside), a value and a box beyond which it is
// surely absent (for speed: each shape is painted only over its own box).
struct Shape {
  std::function<double(const Vec3&)> distance;
  double hu;
  uint8_t label;
  Vec3 lo, hi;
};

// Distance to a circular arc of radius `r` about (cx, cy) in the plane z = `z`, between angles
// a0 and a1 (radians); beyond its ends, distance to the nearer end point.
double ArcDistance(const Vec3& p, double cx, double cy, double r, double z, double a0, double a1) {
  const double qx = p[0] - cx, qy = p[1] - cy;
  const double angle = std::atan2(qy, qx);
  if (angle >= a0 && angle <= a1) {
    const double radial = std::hypot(qx, qy) - r;
    return std::hypot(radial, p[2] - z);
  }
  double best = 1e9;
  for (double a : {a0, a1})
    best = std::min(best,
                    std::hypot(p[0] - cx - r * std::cos(a), p[1] - cy - r * std::sin(a), p[2] - z));
  return best;
}

}  // namespace

BoneCta MakeBoneCta(int nx, int ny, int nz, double spacing, double noise, uint32_t seed) {
  BoneCta c;
  Volume& v = c.ct;
  v.size = {nx, ny, nz};
  v.spacing = {spacing, spacing, spacing};
  v.origin = {-spacing * (nx - 1) / 2, 40 - spacing * (ny - 1) / 2, -spacing * (nz - 1) / 2};
  const double z_lo = v.origin[2], z_hi = v.origin[2] + spacing * (nz - 1);
  std::vector<Shape> shapes;
  uint8_t next_label = 2;
  auto vessel = [&](const char* name, double gap, Shape s) {
    s.label = next_label++;
    c.vessels.push_back({s.label, name, gap});
    shapes.push_back(std::move(s));
  };
  // Along z: cylinders of radius r about (x, y).
  auto column = [&](double x, double y, double r, double hu) {
    return Shape{[=](const Vec3& p) { return std::hypot(p[0] - x, p[1] - y) - r; },
                 hu,
                 0,
                 {x - r - 2, y - r - 2, z_lo - 1},
                 {x + r + 2, y + r + 2, z_hi + 1}};
  };
  const double pi = std::numbers::pi;
  const std::array<double, 3> aorta_angle = {-140, -90, -40};
  for (int gap = 0; gap < 3; ++gap) {
    const double a = aorta_angle[static_cast<size_t>(gap)] * pi / 180, d = 18 + gap + 10;
    vessel(gap == 0   ? "aorta touching bone"
           : gap == 1 ? "aorta 1 mm from bone"
                      : "aorta 2 mm from bone",
           gap, column(d * std::cos(a), 50 + d * std::sin(a), 10, 350));
  }
  vessel("lumbar artery 1 mm from bone", 1, column(-(18 + 1 + 1.25), 50, 1.25, 350));
  vessel("lumbar artery 2 mm from bone", 2, column(18 + 2 + 1.25, 50, 1.25, 350));
  vessel("550 HU vein", 40, column(-55, 0, 6, 550));
  vessel("800 HU vein (undiluted contrast)", 40, column(55, 0, 6, 800));
  // Ribs (and the intercostal artery below each) about (0, 20), on both sides.
  struct Rib {
    double z, gap;
  };
  std::vector<Rib> ribs;
  for (int m = -10; m <= 10; ++m) {
    const double z = 15 + 30.0 * m;
    if (z - 12 > z_lo && z + 8 < z_hi)
      ribs.push_back({z, m % 2 == 0 ? 1.0 : 2.0});
  }
  std::vector<Shape> bone;
  for (const Rib& rib : ribs) {
    for (int side : {1, -1}) {
      const double a0 = side > 0 ? 20 * pi / 180 : 100 * pi / 180;
      const double a1 = side > 0 ? 80 * pi / 180 : 160 * pi / 180;
      const Vec3 lo{side > 0 ? 0.0 : -80.0, 20, rib.z - 20},
          hi{side > 0 ? 80.0 : 0.0, 100, rib.z + 8};
      const double z_artery = rib.z - (5 + rib.gap + 1.25);
      vessel(
          rib.gap == 1 ? "intercostal artery 1 mm from bone" : "intercostal artery 2 mm from bone",
          rib.gap,
          Shape{[=](const Vec3& p) { return ArcDistance(p, 0, 20, 70, z_artery, a0, a1) - 1.25; },
                350, 0, lo, hi});
      bone.push_back(
          Shape{[=](const Vec3& p) { return ArcDistance(p, 0, 20, 70, rib.z, a0, a1) - 5; }, 1000,
                1, lo, hi});
      bone.push_back(
          Shape{[=](const Vec3& p) { return ArcDistance(p, 0, 20, 70, rib.z, a0, a1) - 3.5; }, 250,
                1, lo, hi});
    }
  }
  // The vertebral column and its arch (all cortex) around the canal.
  bone.push_back(column(0, 50, 18, 1000));
  bone.push_back(column(0, 50, 16, 250));
  bone.push_back(
      Shape{[=](const Vec3& p) { return std::abs(std::hypot(p[0], p[1] - 80) - 10.5) - 2.5; },
            1000,
            1,
            {-16, 64, z_lo - 1},
            {16, 96, z_hi + 1}});
  for (auto& b : bone)
    b.label = 1;
  shapes.insert(shapes.end(), bone.begin(), bone.end());

  v.voxels.assign(v.Count(), 40);
  c.truth.assign(v.Count(), 0);
  for (const Shape& s : shapes) {
    int lo[3], hi[3];
    for (int a = 0; a < 3; ++a) {
      lo[a] = std::max(0, static_cast<int>(std::floor((s.lo[a] - v.origin[a]) / spacing)));
      hi[a] =
          std::min(v.size[a] - 1, static_cast<int>(std::ceil((s.hi[a] - v.origin[a]) / spacing)));
    }
    for (int k = lo[2]; k <= hi[2]; ++k) {
      for (int j = lo[1]; j <= hi[1]; ++j) {
        for (int i = lo[0]; i <= hi[0]; ++i) {
          const double d = s.distance(v.PointAt(i, j, k));
          // The fraction of the voxel inside, to first order in the distance.
          const double cover = std::clamp(0.5 - d / spacing, 0.0, 1.0);
          if (cover <= 0)
            continue;
          const size_t at = v.Index(i, j, k);
          v.voxels[at] += static_cast<float>(cover * (s.hu - v.voxels[at]));
          if (d < 0 && (s.label == 1 || c.truth[at] != 1))
            c.truth[at] = s.label;
        }
      }
    }
  }
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0, static_cast<float>(noise));
  for (float& x : v.voxels)
    x += n(rng);
  return c;
}

Tubes MakeTubes(int n, double spacing, double noise, uint32_t seed) {
  Tubes t;
  Volume& v = t.ct;
  v.size = {n, n, n};
  v.spacing = {spacing, spacing, spacing};
  const double half = spacing * (n - 1) / 2;
  v.origin = {-half, -half, -half};
  const double end = half - 4;  // tubes end 4 mm inside the cube
  auto curve = [&](double radius, const std::function<Vec3(double)>& at, double from, double to) {
    TubeTruth tube{{}, radius};
    // Sampled by arc length: step the parameter finely, keep a point every 0.05 mm.
    Vec3 last = at(from);
    tube.centre_line.push_back(last);
    for (double s = from; s <= to; s += (to - from) / 200000) {
      const Vec3 p = at(s);
      if (std::hypot(p[0] - last[0], p[1] - last[1], p[2] - last[2]) >= 0.05) {
        tube.centre_line.push_back(p);
        last = p;
      }
    }
    t.tubes.push_back(std::move(tube));
  };
  curve(
      0.75,
      [](double z) {
        return Vec3{-15 + 6 * std::cos(z / 16 * 2 * std::numbers::pi),
                    -15 + 6 * std::sin(z / 16 * 2 * std::numbers::pi), z};
      },
      -end, end);
  curve(
      1.25,
      [](double z) {
        return Vec3{15 + 7 * std::cos(z / 20 * 2 * std::numbers::pi),
                    -15 + 7 * std::sin(z / 20 * 2 * std::numbers::pi), z};
      },
      -end, end);
  curve(
      2.0,
      [](double z) {
        return Vec3{-15 + 5 * std::sin(z / 10), 15, z};
      },
      -end, end);
  // A side branch leaving the 2 mm tube.
  curve(
      1.25,
      [](double s) {
        return Vec3{-15 + 9 * s, 15 + 9 * s, 10 * s};
      },
      0, 1);
  curve(
      2.5,
      [](double x) {
        return Vec3{x, 15 + 4 * std::sin(x / 8), 3 * std::cos(x / 10)};
      },
      0, end);
  // Distance to the nearest tube's centre line, painted around each sample.
  std::vector<float> distance(v.Count(), 1e9F);
  std::vector<float> radius(v.Count(), 0);
  for (const TubeTruth& tube : t.tubes) {
    const double reach = tube.radius + 2 * spacing;
    for (const Vec3& c : tube.centre_line) {
      int lo[3], hi[3];
      for (int a = 0; a < 3; ++a) {
        lo[a] = std::max(0, static_cast<int>(std::floor((c[a] - reach - v.origin[a]) / spacing)));
        hi[a] =
            std::min(n - 1, static_cast<int>(std::ceil((c[a] + reach - v.origin[a]) / spacing)));
      }
      for (int k = lo[2]; k <= hi[2]; ++k) {
        for (int j = lo[1]; j <= hi[1]; ++j) {
          for (int i = lo[0]; i <= hi[0]; ++i) {
            const Vec3 p = v.PointAt(i, j, k);
            const auto d = static_cast<float>(std::hypot(p[0] - c[0], p[1] - c[1], p[2] - c[2]));
            const size_t at = v.Index(i, j, k);
            if (d - tube.radius < distance[at] - radius[at]) {
              distance[at] = d;
              radius[at] = static_cast<float>(tube.radius);
            }
          }
        }
      }
    }
  }
  v.voxels.assign(v.Count(), 50);
  t.truth.assign(v.Count(), 0);
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise_hu(0, noise);
  for (int k = 0; k < n; ++k) {
    for (int j = 0; j < n; ++j) {
      for (int i = 0; i < n; ++i) {
        const size_t at = v.Index(i, j, k);
        const Vec3 p = v.PointAt(i, j, k);
        double d = distance[at] - radius[at];  // signed distance to the nearest tube's surface
        uint8_t label = d < 0 ? 1 : 0;
        // The plate (12 x 12 x 3 mm about (0, 0, -15)) and the ball (4 mm about (0, 0, 15)).
        const double plate =
            std::max({std::abs(p[0]) - 6, std::abs(p[1]) - 6, std::abs(p[2] + 15) - 1.5});
        const double ball = std::hypot(p[0], p[1], p[2] - 15) - 4;
        for (double other : {plate, ball}) {
          if (other < d) {
            d = other;
            label = other < 0 ? 2 : label;
          }
        }
        const double cover = std::clamp(0.5 - d / spacing, 0.0, 1.0);
        v.voxels[at] = static_cast<float>(50 + 300 * cover + noise_hu(rng));
        t.truth[at] = label;
      }
    }
  }
  return t;
}

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
