#pragma once
// A quick picture of a mesh for people to check a result at a glance (job previews, test
// pictures): orthographic, seen from the patient's front, z-buffered, Lambert-shaded with a light
// from the viewer. No GPU or display needed, unlike VTK's renderers on a server.

#include <vector>

#include "imaging/mesh.h"

namespace dxhub::imaging {

/// 8-bit grey, `width` pixels wide, as tall as the mesh's aspect needs (background 0). Seen from
/// the front (the patient's anterior, -y in LPS), head up, patient's right on the left.
std::vector<unsigned char> RenderFront(const Mesh& mesh, int width, int& height);

}  // namespace dxhub::imaging
