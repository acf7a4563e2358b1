#include "imaging/skeleton.h"

#include <array>
#include <deque>

#include "imaging/floods.h"

namespace dxhub::imaging {
namespace {

struct Offsets {
  int dx, dy, dz;
};

constexpr Offsets At(int p) {
  return {p % 3 - 1, (p / 3) % 3 - 1, p / 9 - 1};
}

// Adjacency of the 27 positions of a neighbourhood, computed once.
struct Neighbourhood {
  std::array<std::vector<int>, 27> adjacent26;  // other positions sharing a face, edge or corner
  std::array<std::vector<int>, 27> adjacent6;   // other positions sharing a face
  std::array<bool, 27> in18{};                  // not the centre, not a corner
  Neighbourhood() {
    for (int a = 0; a < 27; ++a) {
      const Offsets oa = At(a);
      in18[static_cast<size_t>(a)] =
          a != 13 && (oa.dx != 0 ? 1 : 0) + (oa.dy != 0 ? 1 : 0) + (oa.dz != 0 ? 1 : 0) < 3;
      for (int b = 0; b < 27; ++b) {
        if (a == b)
          continue;
        const Offsets ob = At(b);
        const int ax = std::abs(oa.dx - ob.dx), ay = std::abs(oa.dy - ob.dy),
                  az = std::abs(oa.dz - ob.dz);
        if (ax <= 1 && ay <= 1 && az <= 1)
          adjacent26[static_cast<size_t>(a)].push_back(b);
        if (ax + ay + az == 1)
          adjacent6[static_cast<size_t>(a)].push_back(b);
      }
    }
  }
};

const Neighbourhood& Topology() {
  static const Neighbourhood n;
  return n;
}

// The 3x3x3 neighbourhood of (i, j, k); outside the grid is background.
void Gather(const Grid& g, const std::vector<uint8_t>& mask, int i, int j, int k,
            uint8_t (&n)[27]) {
  for (int p = 0; p < 27; ++p) {
    const Offsets o = At(p);
    const int a = i + o.dx, b = j + o.dy, c = k + o.dz;
    n[p] =
        a >= 0 && b >= 0 && c >= 0 && a < g.nx && b < g.ny && c < g.nz ? mask[g.Index(a, b, c)] : 0;
  }
}

int ForegroundNeighbours(const uint8_t (&n)[27]) {
  int count = 0;
  for (int p = 0; p < 27; ++p)
    count += p != 13 && n[p] != 0 ? 1 : 0;
  return count;
}

}  // namespace

namespace {

// How many pieces the positions `member` accepts form under `adjacency`, counting only pieces
// that hold one of `starts`; stops counting at two.
template <typename Member, size_t N>
int CountPieces(const std::array<int, N>& starts, const std::array<std::vector<int>, 27>& adjacency,
                Member&& member) {
  std::array<bool, 27> seen{};
  int pieces = 0;
  for (int start : starts) {
    if (!member(start) || seen[static_cast<size_t>(start)])
      continue;
    if (++pieces > 1)
      return pieces;
    int stack[27];
    int top = 0;
    stack[top++] = start;
    seen[static_cast<size_t>(start)] = true;
    while (top > 0) {
      const int p = stack[--top];
      for (int q : adjacency[static_cast<size_t>(p)]) {
        if (member(q) && !seen[static_cast<size_t>(q)]) {
          seen[static_cast<size_t>(q)] = true;
          stack[top++] = q;
        }
      }
    }
  }
  return pieces;
}

}  // namespace

bool IsSimplePoint(const uint8_t (&n)[27]) {
  const Neighbourhood& t = Topology();
  // One 26-connected foreground piece among the 26 neighbours...
  std::array<int, 26> neighbours{};
  for (int p = 0, m = 0; p < 27; ++p) {
    if (p != 13)
      neighbours[static_cast<size_t>(m++)] = p;
  }
  if (CountPieces(neighbours, t.adjacent26, [&](int p) { return p != 13 && n[p] != 0; }) != 1)
    return false;
  // ...and one 6-connected background piece in the 18-neighbourhood touching the centre's faces.
  const std::array<int, 6> faces{4, 10, 12, 14, 16, 22};
  return CountPieces(faces, t.adjacent6,
                     [&](int p) { return t.in18[static_cast<size_t>(p)] && n[p] == 0; }) == 1;
}

void Thin(const Geometry& grid, std::vector<uint8_t>& mask) {
  const Grid g(grid);
  std::vector<size_t> alive;
  for (size_t at = 0; at < mask.size(); ++at) {
    if (mask[at] != 0)
      alive.push_back(at);
  }
  const std::array<Offsets, 6> directions{
      {{0, -1, 0}, {0, 1, 0}, {1, 0, 0}, {-1, 0, 0}, {0, 0, 1}, {0, 0, -1}}};
  bool changed = true;
  while (changed) {
    changed = false;
    for (const Offsets& d : directions) {
      // Border points on this side, then removed one by one with the test redone on the
      // current mask: sequential removal of simple points cannot change the topology.
      std::vector<size_t> border;
      for (size_t at : alive) {
        const auto [i, j, k] = g.Coordinates(at);
        const int a = i + d.dx, b = j + d.dy, c = k + d.dz;
        const bool outside = a < 0 || b < 0 || c < 0 || a >= g.nx || b >= g.ny || c >= g.nz;
        if (outside || mask[g.Index(a, b, c)] == 0)
          border.push_back(at);
      }
      for (size_t at : border) {
        const auto [i, j, k] = g.Coordinates(at);
        uint8_t n[27];
        Gather(g, mask, i, j, k, n);
        if (ForegroundNeighbours(n) <= 1)  // a curve's end
          continue;
        if (IsSimplePoint(n)) {
          mask[at] = 0;
          changed = true;
        }
      }
      std::erase_if(alive, [&](size_t at) { return mask[at] == 0; });
    }
  }
}

SkeletonGraph TraceSkeleton(const Geometry& grid, const std::vector<uint8_t>& skeleton) {
  const Grid g(grid);
  auto neighbours = [&](size_t at) {
    std::vector<size_t> out;
    const auto [i, j, k] = g.Coordinates(at);
    for (int p = 0; p < 27; ++p) {
      const Offsets o = At(p);
      const int a = i + o.dx, b = j + o.dy, c = k + o.dz;
      if (p == 13 || a < 0 || b < 0 || c < 0 || a >= g.nx || b >= g.ny || c >= g.nz)
        continue;
      const size_t n = g.Index(a, b, c);
      if (skeleton[n] != 0)
        out.push_back(n);
    }
    return out;
  };
  SkeletonGraph graph;
  // Nodes: voxels with other than two neighbours, touching ones merged.
  std::vector<int> node_of(skeleton.size(), -1);
  std::vector<size_t> voxels;
  for (size_t at = 0; at < skeleton.size(); ++at) {
    if (skeleton[at] != 0)
      voxels.push_back(at);
  }
  for (size_t at : voxels) {
    if (neighbours(at).size() != 2)
      node_of[at] = -2;  // a node voxel not yet grouped
  }
  for (size_t at : voxels) {
    if (node_of[at] != -2)
      continue;
    const int id = static_cast<int>(graph.nodes.size());
    graph.nodes.emplace_back();
    std::deque<size_t> queue{at};
    node_of[at] = id;
    while (!queue.empty()) {
      const size_t v = queue.front();
      queue.pop_front();
      graph.nodes.back().push_back(v);
      for (size_t n : neighbours(v)) {
        if (node_of[n] == -2) {
          node_of[n] = id;
          queue.push_back(n);
        }
      }
    }
  }
  // Edges: walks from each node along unvisited chain voxels to the next node.
  std::vector<uint8_t> walked(skeleton.size(), 0);
  for (int id = 0; id < static_cast<int>(graph.nodes.size()); ++id) {
    for (size_t start : graph.nodes[static_cast<size_t>(id)]) {
      for (size_t first : neighbours(start)) {
        if (node_of[first] >= 0 || walked[first] != 0)
          continue;
        SkeletonGraph::Edge edge;
        edge.from = id;
        edge.voxels = {start, first};
        walked[first] = 1;
        size_t prev = start, cur = first;
        bool closed = false;
        while (!closed) {
          size_t next = cur;
          for (size_t n : neighbours(cur)) {
            if (n == prev)
              continue;
            if (node_of[n] >= 0 && (node_of[n] != id || edge.voxels.size() > 2)) {
              edge.voxels.push_back(n);
              edge.to = node_of[n];
              closed = true;
              break;
            }
            if (node_of[n] < 0 && walked[n] == 0)
              next = n;
          }
          if (closed)
            break;
          if (next == cur)  // ran out (cannot happen on a thinned mask): end it here
            break;
          walked[next] = 1;
          edge.voxels.push_back(next);
          prev = cur;
          cur = next;
        }
        if (closed)
          graph.edges.push_back(std::move(edge));
      }
    }
  }
  return graph;
}

}  // namespace dxhub::imaging
