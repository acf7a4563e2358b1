#pragma once
// Curve skeletons of binary masks: topology-preserving thinning (sequential removal of simple
// border points in six directional passes, curve ends kept) and the graph of the result. Neither
// ITK 5.2 nor VTK 9.1 in Debian has 3-D thinning (ITK's is 2-D; the 3-D one is a remote module).

#include <cstddef>
#include <cstdint>
#include <vector>

#include "imaging/volume.h"

namespace dxhub::imaging {

/// Thins `mask` (0/1 on `grid`) in place to curves one voxel thick, keeping its topology
/// (components, tunnels, cavities) and the ends of its curves.
void Thin(const Geometry& grid, std::vector<uint8_t>& mask);

/// Whether deleting the centre of a 3x3x3 neighbourhood (index dx + 3 dy + 9 dz, 0/1) keeps the
/// topology: one 26-connected foreground piece around it, one 6-connected background piece
/// 6-adjacent to it.
bool IsSimplePoint(const uint8_t (&n)[27]);

/// A skeleton as a graph: nodes are curve ends and junctions (a junction's touching voxels are
/// one node), edges the voxel chains between them.
struct SkeletonGraph {
  struct Edge {
    int from = 0, to = 0;        // node indices
    std::vector<size_t> voxels;  // from node to node, nodes' own voxels at both ends
  };
  std::vector<std::vector<size_t>> nodes;  // each node's voxels
  std::vector<Edge> edges;
};

/// The graph of a thinned mask. Closed loops without any node become one node and an edge from
/// it to itself.
SkeletonGraph TraceSkeleton(const Geometry& grid, const std::vector<uint8_t>& skeleton);

}  // namespace dxhub::imaging
