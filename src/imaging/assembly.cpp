#include "imaging/assembly.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "dicom/pixels.h"

namespace dxhub::imaging {
namespace {

Vec3 Normalised(const Vec3& v) {
  const double n = std::sqrt(Dot(v, v));
  return n > 0 ? Vec3{v[0] / n, v[1] / n, v[2] / n} : v;
}

std::string Mm(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f mm", v);
  return buf;
}

Error Refuse(const std::string& why) {
  return MakeError(ErrorCode::kInvalidArgument, why);
}

}  // namespace

Result<Volume> AssembleVolume(std::vector<Slice> slices) {
  if (slices.size() < 2)
    return Refuse("a volume needs at least two slices, the series has " +
                  std::to_string(slices.size()));
  const Slice& first = slices.front();
  for (const auto& s : slices) {
    if (s.rows != first.rows || s.columns != first.columns)
      return Refuse("mixed image sizes in the series (" + s.sop_uid + ")");
    if (s.values.size() != static_cast<size_t>(s.rows) * static_cast<size_t>(s.columns))
      return Refuse("pixel count does not match Rows x Columns (" + s.sop_uid + ")");
    for (int i = 0; i < 6; ++i) {
      if (std::abs(s.orientation[i] - first.orientation[i]) > 1e-4)
        return Refuse("mixed orientations in the series (" + s.sop_uid + ")");
    }
    for (int i = 0; i < 2; ++i) {
      if (std::abs(s.pixel_spacing[i] - first.pixel_spacing[i]) > 1e-4)
        return Refuse("mixed pixel spacing in the series (" + s.sop_uid + ")");
    }
  }
  const Vec3 row_dir =
      Normalised({first.orientation[0], first.orientation[1], first.orientation[2]});
  const Vec3 col_dir =
      Normalised({first.orientation[3], first.orientation[4], first.orientation[5]});
  const Vec3 normal = Normalised(Cross(row_dir, col_dir));
  std::sort(slices.begin(), slices.end(), [&](const Slice& a, const Slice& b) {
    return Dot(a.position, normal) < Dot(b.position, normal);
  });

  std::vector<double> steps;
  for (size_t k = 1; k < slices.size(); ++k) {
    const Vec3& a = slices[k - 1].position;
    const Vec3& b = slices[k].position;
    const Vec3 d{b[0] - a[0], b[1] - a[1], b[2] - a[2]};
    const double along = Dot(d, normal);
    if (along < 1e-3)
      return Refuse("two slices share the position " + Mm(Dot(a, normal)) +
                    " along the normal (several phases or echoes in one series?)");
    // The in-plane part of the step: zero for a stack, non-zero for a tilted gantry.
    const double in_plane = std::sqrt(std::max(0.0, Dot(d, d) - along * along));
    if (in_plane > 0.01 * along + 1e-3)
      return Refuse("slices are not stacked along their normal (gantry tilt of " + Mm(in_plane) +
                    " per slice); resample the series first");
    steps.push_back(along);
  }
  std::vector<double> sorted = steps;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<long>(sorted.size() / 2),
                   sorted.end());
  const double spacing = sorted[sorted.size() / 2];
  for (size_t k = 0; k < steps.size(); ++k) {
    const double at = Dot(slices[k].position, normal);
    if (steps[k] > 1.5 * spacing)
      return Refuse("gap in the series: " + Mm(steps[k]) + " between slices at " + Mm(at) +
                    " and " + Mm(at + steps[k]) + " (spacing " + Mm(spacing) + ")");
    if (std::abs(steps[k] - spacing) > 0.1 * spacing)
      return Refuse("uneven slice spacing: " + Mm(steps[k]) + " after " + Mm(at) +
                    " where the series has " + Mm(spacing));
  }

  Volume v;
  v.size = {first.columns, first.rows, static_cast<int>(slices.size())};
  // PixelSpacing is (between rows, between columns): x follows columns.
  v.spacing = {first.pixel_spacing[1], first.pixel_spacing[0], spacing};
  v.origin = slices.front().position;
  v.row_dir = row_dir;
  v.col_dir = col_dir;
  v.normal = normal;
  v.voxels.resize(v.Count());
  const size_t plane = static_cast<size_t>(first.rows) * static_cast<size_t>(first.columns);
  for (size_t k = 0; k < slices.size(); ++k) {
    const Slice& s = slices[k];
    v.slice_uids.push_back(s.sop_uid);
    float* out = v.voxels.data() + k * plane;
    for (size_t i = 0; i < plane; ++i)
      out[i] = static_cast<float>(s.values[i] * s.slope + s.intercept);
  }
  return v;
}

Result<Volume> LoadSeriesVolume(store::Archive& archive, const std::string& series_uid) {
  store::IndexQuery query;
  query.level = store::Level::kInstance;
  query.filters.push_back({store::Field::kSeriesUid, store::Filter::Kind::kExact, {series_uid}});
  query.limit = 100000;
  // Processing is the archive's own work: whoever asked for it was checked against their scope
  // when the job was queued (web/processing_routes.cpp).
  auto rows = archive.index().Query(store::Scope::Everything(), query);
  if (!rows.ok())
    return rows.error();
  if (rows->empty())
    return MakeError(ErrorCode::kNotFound, "no such series: " + series_uid);
  std::vector<Slice> slices;
  slices.reserve(rows->size());
  for (const auto& row : *rows) {
    auto plane = dicom::ReadImagePlane(archive.blobs().PathOf(row.blob_key), 1);
    if (!plane.ok())
      return plane.error();
    if (plane->frames != 1)
      return MakeError(
          ErrorCode::kUnsupported,
          "multi-frame images are not assembled into volumes yet (" + row.instance.sop_uid + ")");
    if (!plane->has_geometry)
      return Refuse("image " + row.instance.sop_uid +
                    " has no ImagePositionPatient / ImageOrientationPatient");
    Slice s;
    s.sop_uid = row.instance.sop_uid;
    s.position = plane->position;
    s.orientation = plane->orientation;
    s.pixel_spacing = plane->pixel_spacing;
    s.rows = plane->rows;
    s.columns = plane->columns;
    s.slope = plane->slope;
    s.intercept = plane->intercept;
    s.values = std::move(plane->values);
    slices.push_back(std::move(s));
  }
  return AssembleVolume(std::move(slices));
}

}  // namespace dxhub::imaging
