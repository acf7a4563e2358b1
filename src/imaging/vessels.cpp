#include "imaging/vessels.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <numbers>

#include "imaging/floods.h"
#include "imaging/itk_bridge.h"
#include "imaging/skeleton.h"
#include "imaging/vesselness.h"

namespace dxhub::imaging {
namespace {

Vec3 Sub(const Vec3& a, const Vec3& b) {
  return {a[0] - b[0], a[1] - b[1], a[2] - b[2]};
}
Vec3 Add(const Vec3& a, const Vec3& b) {
  return {a[0] + b[0], a[1] + b[1], a[2] + b[2]};
}
Vec3 Scale(const Vec3& a, double s) {
  return {a[0] * s, a[1] * s, a[2] * s};
}
double Norm(const Vec3& a) {
  return std::sqrt(Dot(a, a));
}
Vec3 Unit(const Vec3& a) {
  const double n = Norm(a);
  return n > 0 ? Scale(a, 1 / n) : Vec3{0, 0, 1};
}

double Median(std::vector<float> values) {
  if (values.empty())
    return 0;
  auto mid = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), mid, values.end());
  return *mid;
}

// Where the lumen's edge is along rays across the vessel: the first crossing of `level` going
// out from `centre`, in 16 directions perpendicular to `tangent`. Re-centres on the crossings
// (a few rounds: rays from an off-centre point find an off-centre mean) and returns the mean
// distance; false when too few rays find an edge.
bool FitCrossSection(const TrilinearSampler& sampler, Vec3& centre, const Vec3& tangent,
                     double level, bool bright, double max_mm, double step_mm, double& radius) {
  const Vec3 t = Unit(tangent);
  const Vec3 helper = std::abs(t[0]) < 0.9 ? Vec3{1, 0, 0} : Vec3{0, 1, 0};
  const Vec3 u = Unit(Cross(t, helper));
  const Vec3 v = Cross(t, u);
  constexpr int kRays = 16;
  for (int round = 0; round < 3; ++round) {
    Vec3 sum{0, 0, 0};
    double distance = 0;
    int found = 0;
    for (int r = 0; r < kRays; ++r) {
      const double a = 2 * std::numbers::pi * r / kRays;
      const Vec3 dir = Add(Scale(u, std::cos(a)), Scale(v, std::sin(a)));
      float previous = 0;
      if (!sampler.Sample(centre, previous))
        return false;
      for (double s = step_mm; s <= max_mm; s += step_mm) {
        float value = 0;
        if (!sampler.Sample(Add(centre, Scale(dir, s)), value))
          break;
        const bool inside_before = bright ? previous >= level : previous <= level;
        const bool inside_now = bright ? value >= level : value <= level;
        if (inside_before && !inside_now) {
          const double f = (previous - level) / (previous - value);
          const double at = s - step_mm + f * step_mm;
          sum = Add(sum, Scale(dir, at));
          distance += at;
          ++found;
          break;
        }
        previous = value;
      }
    }
    if (found < kRays * 3 / 4)
      return false;
    radius = distance / found;
    const Vec3 shift = Scale(sum, 1.0 / found);
    centre = Add(centre, shift);
    if (Norm(shift) < step_mm)
      break;
  }
  return true;
}

struct Chain {
  int from, to;
  std::vector<CenterlinePoint> points;
  double Length() const {
    double l = 0;
    for (size_t i = 1; i < points.size(); ++i)
      l += Norm(Sub(points[i].position, points[i - 1].position));
    return l;
  }
};

}  // namespace

Result<VesselResult> ExtractVessels(const Volume& volume, const VesselOptions& o) {
  if (volume.size[0] < 3 || volume.size[1] < 3 || volume.size[2] < 3)
    return MakeError(ErrorCode::kInvalidArgument, "vessel extraction needs a 3-D region");
  if (!(o.sigma_min_mm > 0) || o.sigma_max_mm < o.sigma_min_mm || o.sigma_max_mm > 20 ||
      o.scales < 1 || o.scales > 20 || !(o.alpha > 0) || !(o.beta > 0) || !(o.gamma > 0) ||
      !(o.core_threshold > 0) || o.core_threshold >= 1)
    return MakeError(ErrorCode::kInvalidArgument,
                     "vessel options out of range (0 < sigma min <= max <= 20 mm, 1-20 scales, "
                     "alpha, beta, gamma > 0, 0 < core threshold < 1)");
  const Grid g(volume);
  const size_t count = volume.Count();
  VesselResult result;
  result.vesselness = Vesselness(
      volume, {o.sigma_min_mm, o.sigma_max_mm, o.scales, o.alpha, o.beta, o.gamma, o.bright});
  result.mask = LabelVolume::On(volume);

  // The lumen: voxels past half contrast, connected to a tubular core.
  std::vector<float> core_values, all_values;
  for (size_t i = 0; i < count; ++i) {
    if (result.vesselness[i] >= o.core_threshold)
      core_values.push_back(volume.voxels[i]);
    if (i % 7 == 0)
      all_values.push_back(volume.voxels[i]);
  }
  if (core_values.empty())
    return result;
  const double level = (Median(core_values) + Median(all_values)) / 2;
  auto inside = [&](size_t i) {
    return o.bright ? volume.voxels[i] >= level : volume.voxels[i] <= level;
  };
  std::vector<uint8_t> lumen(count, 0);
  std::deque<size_t> queue;
  for (size_t i = 0; i < count; ++i) {
    if (result.vesselness[i] >= o.core_threshold && inside(i)) {
      lumen[i] = 1;
      queue.push_back(i);
    }
  }
  while (!queue.empty()) {
    const size_t at = queue.front();
    queue.pop_front();
    const auto [i, j, k] = g.Coordinates(at);
    for (int dk = -1; dk <= 1; ++dk) {
      for (int dj = -1; dj <= 1; ++dj) {
        for (int di = -1; di <= 1; ++di) {
          const int a = i + di, b = j + dj, c = k + dk;
          if (a < 0 || b < 0 || c < 0 || a >= g.nx || b >= g.ny || c >= g.nz)
            continue;
          const size_t n = g.Index(a, b, c);
          if (lumen[n] == 0 && inside(n)) {
            lumen[n] = 1;
            queue.push_back(n);
          }
        }
      }
    }
  }

  // Centre lines: the thinned lumen, each voxel re-centred and sized on the image.
  std::vector<uint8_t> skeleton = lumen;
  Thin(volume, skeleton);
  const SkeletonGraph graph = TraceSkeleton(volume, skeleton);
  const TrilinearSampler sampler(volume);
  const double voxel = std::min({volume.spacing[0], volume.spacing[1], volume.spacing[2]});
  const double max_mm = 3 * o.sigma_max_mm + 4 * voxel;
  auto position = [&](size_t at) {
    const auto [i, j, k] = g.Coordinates(at);
    return volume.PointAt(i, j, k);
  };
  std::vector<Chain> chains;
  for (const auto& edge : graph.edges) {
    Chain chain{edge.from, edge.to, {}};
    const auto& vox = edge.voxels;
    for (size_t p = 0; p < vox.size(); ++p) {
      // The tangent over a few voxels either side: single steps only know 13 directions.
      const size_t a = p >= 3 ? p - 3 : 0, b = std::min(vox.size() - 1, p + 3);
      Vec3 centre = position(vox[p]);
      double radius = 0;
      const Vec3 tangent = Sub(position(vox[b]), position(vox[a]));
      if (!FitCrossSection(sampler, centre, tangent, level, o.bright, max_mm, voxel / 10, radius)) {
        centre = position(vox[p]);
        radius = -1;  // filled in from its neighbours below
      }
      chain.points.push_back({centre, radius});
    }
    // Points whose rays failed (junctions, where two lumens meet) take their neighbours' radius.
    for (size_t p = 0; p < chain.points.size(); ++p) {
      if (chain.points[p].radius_mm >= 0)
        continue;
      double sum = 0;
      int n = 0;
      for (size_t q = 0; q < chain.points.size(); ++q) {
        const size_t gap = q > p ? q - p : p - q;
        if (gap <= 4 && chain.points[q].radius_mm >= 0) {
          sum += chain.points[q].radius_mm;
          ++n;
        }
      }
      chain.points[p].radius_mm = n > 0 ? sum / n : voxel / 2;
    }
    chains.push_back(std::move(chain));
  }

  // Spurs: short end branches that surface bumps leave, removed until none is left.
  const int nodes = static_cast<int>(graph.nodes.size());
  bool pruned = true;
  while (pruned) {
    pruned = false;
    std::vector<int> degree(static_cast<size_t>(nodes), 0);
    for (const Chain& c : chains) {
      ++degree[static_cast<size_t>(c.from)];
      ++degree[static_cast<size_t>(c.to)];
    }
    for (size_t c = 0; c < chains.size(); ++c) {
      const Chain& chain = chains[c];
      const bool from_end = degree[static_cast<size_t>(chain.from)] == 1;
      const bool to_end = degree[static_cast<size_t>(chain.to)] == 1;
      if (from_end == to_end)  // isolated pieces are judged as trees below; inner ones stay
        continue;
      const double junction_radius =
          from_end ? chain.points.back().radius_mm : chain.points.front().radius_mm;
      if (chain.Length() < std::max(3 * voxel, 2 * junction_radius)) {
        chains.erase(chains.begin() + static_cast<std::ptrdiff_t>(c));
        pruned = true;
        break;
      }
    }
  }
  // Nodes left with two chains are not junctions any more: join their chains.
  bool joined = true;
  while (joined) {
    joined = false;
    std::map<int, std::vector<size_t>> at_node;
    for (size_t c = 0; c < chains.size(); ++c) {
      at_node[chains[c].from].push_back(c);
      at_node[chains[c].to].push_back(c);
    }
    for (const auto& [node, list] : at_node) {
      if (list.size() != 2 || list[0] == list[1])
        continue;
      Chain a = chains[list[0]], b = chains[list[1]];
      if (a.to != node)
        std::swap(a.from, a.to), std::reverse(a.points.begin(), a.points.end());
      if (b.from != node)
        std::swap(b.from, b.to), std::reverse(b.points.begin(), b.points.end());
      a.points.insert(a.points.end(), b.points.begin() + 1, b.points.end());
      a.to = b.to;
      chains.erase(chains.begin() + static_cast<std::ptrdiff_t>(std::max(list[0], list[1])));
      chains.erase(chains.begin() + static_cast<std::ptrdiff_t>(std::min(list[0], list[1])));
      chains.push_back(std::move(a));
      joined = true;
      break;
    }
  }

  // Trees: connected chains, kept if long enough or through a seed, and tubular: a tube's
  // centre line and radii account for its lumen, a plate's or a blob's do not (Frangi answers
  // along a plate's rim). Rooted at the seed, or at the thickest end (the trunk).
  std::vector<int64_t> sizes;
  const std::vector<uint32_t> pieces = Components(volume, lumen, sizes, /*fully_connected=*/true);
  auto voxel_of = [&](const Vec3& position, size_t& at) {
    const Vec3 d = Sub(position, volume.origin);
    const int i = static_cast<int>(std::lround(Dot(d, volume.row_dir) / volume.spacing[0]));
    const int j = static_cast<int>(std::lround(Dot(d, volume.col_dir) / volume.spacing[1]));
    const int k = static_cast<int>(std::lround(Dot(d, volume.normal) / volume.spacing[2]));
    if (i < 0 || j < 0 || k < 0 || i >= g.nx || j >= g.ny || k >= g.nz)
      return false;
    at = g.Index(i, j, k);
    return true;
  };
  std::map<int, std::vector<size_t>> by_node;
  for (size_t c = 0; c < chains.size(); ++c) {
    by_node[chains[c].from].push_back(c);
    by_node[chains[c].to].push_back(c);
  }
  std::vector<int> tree_of(chains.size(), -1);
  std::vector<std::vector<size_t>> trees;
  for (size_t c = 0; c < chains.size(); ++c) {
    if (tree_of[c] >= 0)
      continue;
    trees.emplace_back();
    std::deque<size_t> todo{c};
    tree_of[c] = static_cast<int>(trees.size() - 1);
    while (!todo.empty()) {
      const size_t at = todo.front();
      todo.pop_front();
      trees.back().push_back(at);
      for (int node : {chains[at].from, chains[at].to}) {
        for (size_t n : by_node[node]) {
          if (tree_of[n] < 0) {
            tree_of[n] = tree_of[c];
            todo.push_back(n);
          }
        }
      }
    }
  }
  std::vector<uint8_t> kept_skeleton(count, 0);
  for (const auto& tree : trees) {
    double length = 0;
    bool seeded = o.seeds.empty();
    int root = -1;
    double best = -1;
    for (size_t c : tree) {
      length += chains[c].Length();
      for (const auto& p : chains[c].points) {
        for (const Vec3& s : o.seeds) {
          const double d = Norm(Sub(p.position, s));
          if (d <= p.radius_mm + 2) {
            seeded = true;
            if (best < 0 || -d > best) {
              best = -d;
              root = chains[c].from;
            }
          }
        }
      }
    }
    if (!seeded || (o.seeds.empty() && length < o.min_length_mm))
      continue;
    double tube_mm3 = 0;
    std::map<uint32_t, int64_t> touched;
    for (size_t c : tree) {
      const auto& pts = chains[c].points;
      for (size_t p = 0; p < pts.size(); ++p) {
        if (p > 0)
          tube_mm3 += std::numbers::pi * pts[p].radius_mm * pts[p].radius_mm *
                      Norm(Sub(pts[p].position, pts[p - 1].position));
        size_t at = 0;
        if (voxel_of(pts[p].position, at) && pieces[at] != 0)
          touched[pieces[at]] = sizes[pieces[at] - 1];
      }
    }
    double lumen_mm3 = 0;
    for (const auto& [piece, n] : touched)
      lumen_mm3 += static_cast<double>(n) * volume.VoxelMl() * 1000;
    if (lumen_mm3 > 2 * tube_mm3 + 20 * volume.VoxelMl() * 1000)
      continue;
    if (root < 0) {  // the thickest end
      for (size_t c : tree) {
        for (const auto& [node, end] : {std::pair{chains[c].from, chains[c].points.front()},
                                        std::pair{chains[c].to, chains[c].points.back()}}) {
          if (by_node[node].size() == 1 && end.radius_mm > best) {
            best = end.radius_mm;
            root = node;
          }
        }
      }
      if (root < 0)
        root = chains[tree.front()].from;  // a loop: any node
    }
    // Orient the chains away from the root, each pointing to the branch it leaves from.
    ++result.trees;
    std::map<int, int> branch_into;  // node -> the branch that reached it
    std::deque<int> todo{root};
    branch_into[root] = -1;
    std::vector<uint8_t> done(chains.size(), 0);
    while (!todo.empty()) {
      const int node = todo.front();
      todo.pop_front();
      for (size_t c : by_node[node]) {
        if (done[c] != 0)
          continue;
        done[c] = 1;
        Chain chain = chains[c];
        if (chain.from != node)
          std::swap(chain.from, chain.to), std::reverse(chain.points.begin(), chain.points.end());
        VesselBranch branch;
        branch.id = static_cast<int>(result.branches.size());
        branch.parent = branch_into[node];
        branch.length_mm = chain.Length();
        branch.points = chain.points;
        result.branches.push_back(std::move(branch));
        if (!branch_into.contains(chain.to)) {
          branch_into[chain.to] = result.branches.back().id;
          todo.push_back(chain.to);
        }
      }
    }
    for (size_t c : tree) {
      for (const auto& p : chains[c].points) {
        size_t at = 0;
        if (voxel_of(p.position, at))
          kept_skeleton[at] = 1;
      }
    }
  }

  // The mask: the lumen pieces that hold a kept tree.
  std::vector<uint8_t> keep(sizes.size() + 1, 0);
  for (size_t i = 0; i < count; ++i) {
    if (kept_skeleton[i] != 0)
      keep[pieces[i]] = 1;
  }
  keep[0] = 0;
  for (size_t i = 0; i < count; ++i)
    result.mask.labels[i] = keep[pieces[i]];
  return result;
}

std::string VesselTreeJson(const VesselResult& result) {
  nlohmann::json branches = nlohmann::json::array();
  for (const auto& b : result.branches) {
    nlohmann::json points = nlohmann::json::array();
    for (const auto& p : b.points) {
      auto round = [](double x) { return std::round(x * 1000) / 1000; };
      points.push_back(
          {round(p.position[0]), round(p.position[1]), round(p.position[2]), round(p.radius_mm)});
    }
    branches.push_back({{"id", b.id},
                        {"parent", b.parent},
                        {"length_mm", std::round(b.length_mm * 100) / 100},
                        {"points", std::move(points)}});
  }
  return nlohmann::json{{"trees", result.trees}, {"branches", std::move(branches)}}.dump();
}

}  // namespace dxhub::imaging
