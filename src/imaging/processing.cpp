#include "imaging/processing.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/fs.h"
#include "core/thread_priority.h"
#include "dicom/derived.h"
#include "dicom/instance.h"
#include "dicom/segmentation.h"
#include "imaging/assembly.h"
#include "imaging/bone.h"
#include "imaging/dsa.h"
#include "imaging/lung.h"
#include "imaging/mesh.h"
#include "imaging/mesh_preview.h"
#include "imaging/reslice.h"
#include "imaging/vessels.h"

namespace dxhub::imaging {
namespace {

using nlohmann::json;

// The operation names with the parameters each accepts.
const std::map<std::string, std::set<std::string>>& Accepted() {
  static const std::map<std::string, std::set<std::string>> accepted = {
      {"bone", {"preset", "seed_hu", "cortex_hu", "rim_mm"}},
      {"lungs", {}},
      {"vessels", {"roi", "seeds", "sigma_min_mm", "sigma_max_mm", "scales"}},
      {"mesh", {"iso", "decimation", "smoothing"}},
      {"mpr", {"axis", "offset_mm"}},
      {"mip", {"axis", "slab_mm"}},
      {"minip", {"axis", "slab_mm"}},
      {"dsa", {"mask_frame", "mask_average", "motion_correction"}},
  };
  return accepted;
}

Error Bad(const std::string& why) {
  return MakeError(ErrorCode::kInvalidArgument, why);
}

// A number parameter within [lo, hi], or its default when absent.
Result<double> Number(const json& p, const char* name, double fallback, double lo, double hi) {
  if (!p.contains(name))
    return fallback;
  const json& v = p.at(name);
  if (!v.is_number())
    return Bad(std::string(name) + " must be a number");
  const double x = v.get<double>();
  if (!(x >= lo && x <= hi))
    return Bad(std::string(name) + " must be between " + std::to_string(lo) + " and " +
               std::to_string(hi));
  return x;
}

Result<Axis> AxisParam(const json& p) {
  const std::string axis = p.value("axis", std::string("axial"));
  if (axis == "axial")
    return Axis::kAxial;
  if (axis == "coronal")
    return Axis::kCoronal;
  if (axis == "sagittal")
    return Axis::kSagittal;
  return Bad("axis must be axial, coronal or sagittal");
}

// Everything about a request that can be checked without the data.
Status CheckParams(const std::string& op, const json& p) {
  if (op == "bone") {
    const std::string preset = p.value("preset", std::string("cta"));
    if (preset != "cta" && preset != "plain")
      return Bad("preset must be cta or plain");
    DXHUB_TRY(Number(p, "seed_hu", 0, 100, 3000));
    DXHUB_TRY(Number(p, "cortex_hu", 0, 100, 3000));
    DXHUB_TRY(Number(p, "rim_mm", 0, 0, 10));
  } else if (op == "vessels") {
    if (p.contains("roi")) {
      const json& roi = p.at("roi");
      if (!roi.is_array() || roi.size() != 6 ||
          !std::all_of(roi.begin(), roi.end(), [](const json& v) { return v.is_number_integer(); }))
        return Bad("roi must be [i0, j0, k0, i1, j1, k1] in voxels");
    }
    if (p.contains("seeds")) {
      const json& seeds = p.at("seeds");
      if (!seeds.is_array() || seeds.size() > 100)
        return Bad("seeds must be a list of up to 100 [x, y, z] points (mm)");
      for (const json& s : seeds) {
        if (!s.is_array() || s.size() != 3 ||
            !std::all_of(s.begin(), s.end(), [](const json& v) { return v.is_number(); }))
          return Bad("each seed must be [x, y, z] in mm");
      }
    }
    DXHUB_TRY(Number(p, "sigma_min_mm", 0.5, 0.1, 10));
    DXHUB_TRY(Number(p, "sigma_max_mm", 2, 0.1, 20));
    DXHUB_TRY(Number(p, "scales", 4, 1, 10));
  } else if (op == "mesh") {
    DXHUB_TRY(Number(p, "iso", 300, -2000, 5000));
    DXHUB_TRY(Number(p, "decimation", 0, 0, 0.95));
    DXHUB_TRY(Number(p, "smoothing", 15, 0, 100));
  } else if (op == "mpr" || op == "mip" || op == "minip") {
    DXHUB_TRY(AxisParam(p));
    DXHUB_TRY(Number(p, "offset_mm", 0, -2000, 2000));
    DXHUB_TRY(Number(p, "slab_mm", 0, 0, 2000));
  } else if (op == "dsa") {
    DXHUB_TRY(Number(p, "mask_frame", -1, -1, 100000));
    DXHUB_TRY(Number(p, "mask_average", 1, 1, 64));
    if (p.contains("motion_correction") && !p.at("motion_correction").is_boolean())
      return Bad("motion_correction must be true or false");
  }
  return Ok();
}

Result<json> ParseParams(const std::string& op, const std::string& text) {
  const auto accepted = Accepted().find(op);
  if (accepted == Accepted().end()) {
    std::string names;
    for (const auto& [name, params] : Accepted())
      names += (names.empty() ? "" : ", ") + name;
    return Bad("unknown operation \"" + op + "\" (one of " + names + ")");
  }
  json p =
      json::parse(text.empty() ? std::string("{}") : text, nullptr, /*allow_exceptions=*/false);
  if (p.is_discarded() || !p.is_object())
    return Bad("parameters must be a JSON object");
  for (const auto& [key, value] : p.items()) {
    if (!accepted->second.contains(key)) {
      std::string why = "operation " + op;
      why += " has no parameter \"" + key + "\"";
      return Bad(why);
    }
  }
  DXHUB_TRY(CheckParams(op, p));
  return p;
}

int16_t ToInt16(double v) {
  return static_cast<int16_t>(std::clamp(std::lround(v), -32768L, 32767L));
}

// The running job's context: progress, where its outputs go, the series it works on.
class JobContext {
 public:
  JobContext(store::Archive& archive, const store::ProcessingJob& job, std::string dir)
      : archive_(archive), job_(job), dir_(std::move(dir)) {}

  void Progress(double fraction, const std::string& stage) {
    Status st = archive_.index().processing().Progress(job_.id, fraction, stage);
    if (!st.ok())
      spdlog::warn("processing job {}: cannot record progress: {}", job_.id, st.error().message);
  }

  // The series' instances (SOP UID -> class and file), for references and patient/study data.
  Status LoadInstances() {
    store::IndexQuery q;
    q.level = store::Level::kInstance;
    q.filters.push_back({store::Field::kSeriesUid, store::Filter::Kind::kExact, {job_.series_uid}});
    q.limit = 100000;
    auto rows =
        archive_.index().Query(store::Scope::Everything(), q);  // a worker: see assembly.cpp
    if (!rows.ok())
      return rows.error();
    if (rows->empty())
      return MakeError(ErrorCode::kNotFound, "the series is no longer in the archive");
    for (const auto& row : *rows)
      instances_[row.instance.sop_uid] = {
          row.instance.sop_class_uid, archive_.blobs().PathOf(row.blob_key), row.instance.frames};
    return Ok();
  }

  struct Instance {
    std::string sop_class;
    std::string path;
    int frames;
  };
  const std::map<std::string, Instance>& instances() const { return instances_; }

  // A new derived series of this job; `kind` makes its UID (stable across retries of the job,
  // so a retry replaces rather than duplicates).
  struct Series {
    std::string uid;
    std::string description;
    int number;
    int images = 0;
  };
  Series NewSeries(const std::string& kind, const std::string& description) {
    return {dicom::UidFromText("dxhub-processing|" + std::to_string(job_.id) + "|" + kind),
            description, 9000 + static_cast<int>(series_.size()), 0};
  }

  // Writes one image of `series` and ingests it like any received image.
  Status Store(Series& series, dicom::DerivedImage image, const std::string& source_uid) {
    const auto source = instances_.find(source_uid);
    if (source == instances_.end())
      return MakeError(ErrorCode::kInternal, "unknown source image " + source_uid);
    image.series_uid = series.uid;
    image.series_number = series.number;
    image.series_description = series.description;
    image.instance_number = ++series.images;
    image.sop_uid = dicom::UidFromText(series.uid + "|" + std::to_string(image.instance_number));
    if (image.sources.empty())
      image.sources.push_back({source->second.sop_class, source_uid});
    const std::string temp = archive_.NewTempPath();
    DXHUB_TRY(dicom::WriteDerivedImage(source->second.path, image, temp));
    auto stored = archive_.Ingest(temp, store::IngestContext{"processing", "", "", false, {}});
    if (!stored.ok())
      return stored.error();
    return Ok();
  }

  // A label volume on the source's grid as a DICOM Segmentation series of one object.
  Status StoreSegmentation(const std::string& kind, const std::string& description,
                           const Geometry& grid, const std::vector<uint8_t>& labels,
                           const std::vector<std::string>& slice_uids,
                           std::vector<dicom::SegmentSpec> segments) {
    if (slice_uids.size() != static_cast<size_t>(grid.size[2]))
      return MakeError(ErrorCode::kInternal, "the mask does not know its source slices");
    Series series = NewSeries(kind, description);
    dicom::SegmentationInput in;
    in.series_uid = series.uid;
    in.sop_uid = dicom::UidFromText(series.uid + "|1");
    in.series_number = series.number;
    in.series_description = description;
    in.algorithm = "dxhub " + job_.operation;
    in.rows = grid.size[1];
    in.columns = grid.size[0];
    in.orientation = {grid.row_dir[0], grid.row_dir[1], grid.row_dir[2],
                      grid.col_dir[0], grid.col_dir[1], grid.col_dir[2]};
    in.pixel_spacing = {grid.spacing[1], grid.spacing[0]};
    in.slice_thickness = grid.spacing[2];
    for (int k = 0; k < grid.size[2]; ++k) {
      const auto source = instances_.find(slice_uids[static_cast<size_t>(k)]);
      if (source == instances_.end())
        return MakeError(ErrorCode::kInternal, "unknown source slice");
      in.slices.push_back({source->second.sop_class, source->first, grid.PointAt(0, 0, k)});
    }
    in.labels = labels;
    in.segments = std::move(segments);
    const std::string temp = archive_.NewTempPath();
    DXHUB_TRY(dicom::WriteSegmentation(instances_.at(slice_uids.front()).path, in, temp));
    auto stored = archive_.Ingest(temp, store::IngestContext{"processing", "", "", false, {}});
    if (!stored.ok())
      return stored.error();
    series.images = 1;
    Finished(series);
    return Ok();
  }

  void Finished(const Series& series) {
    series_.push_back({{"uid", series.uid},
                       {"description", series.description},
                       {"number", series.number},
                       {"images", series.images}});
  }

  Result<std::string> FilePath(const std::string& name) {
    DXHUB_TRY(fs::MakeDirs(dir_));
    files_.push_back(name);
    return dir_ + "/" + name;
  }

  Status WriteText(const std::string& name, const std::string& text) {
    auto path = FilePath(name);
    if (!path.ok())
      return path.error();
    return fs::WriteFileSynced(*path, {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
  }

  Status WritePicture(const std::string& name, const Image2D& image, double centre, double width) {
    std::vector<unsigned char> grey(image.pixels.size());
    for (size_t i = 0; i < grey.size(); ++i)
      grey[i] = static_cast<unsigned char>(
          std::clamp((image.pixels[i] - centre) / width + 0.5, 0.0, 1.0) * 255);
    auto path = FilePath(name);
    if (!path.ok())
      return path.error();
    DXHUB_TRY(WritePng(*path, grey, image.width, image.height));
    return fs::SyncPath(*path);
  }

  json Outputs() const { return {{"series", series_}, {"files", files_}}; }

 private:
  store::Archive& archive_;
  const store::ProcessingJob& job_;
  std::string dir_;
  std::map<std::string, Instance> instances_;
  json series_ = json::array();
  std::vector<std::string> files_;
};

// A 2-D result (reformat, projection) as a one-image Secondary Capture series.
dicom::DerivedImage Picture(const Image2D& image, double centre, double width,
                            const std::string& derivation) {
  dicom::DerivedImage d;
  d.secondary_capture = true;
  d.rows = image.height;
  d.columns = image.width;
  d.pixel_spacing = {image.spacing, image.spacing};
  d.window_centre = centre;
  d.window_width = width;
  d.derivation_description = derivation;
  d.pixels.reserve(image.pixels.size());
  for (float v : image.pixels)
    d.pixels.push_back(ToInt16(v));
  return d;
}

// Writes a volume on the source's grid as a derived series, one image per slice, each
// referring to the source slice at its place.
Status StoreVolume(JobContext& ctx, JobContext::Series& series, const Volume& v,
                   const std::string& derivation, double progress_from, double progress_to) {
  if (v.slice_uids.size() != static_cast<size_t>(v.size[2]))
    return MakeError(ErrorCode::kInternal, "the volume does not know its source slices");
  const size_t plane = static_cast<size_t>(v.size[0]) * static_cast<size_t>(v.size[1]);
  for (int k = 0; k < v.size[2]; ++k) {
    dicom::DerivedImage d;
    d.rows = v.size[1];
    d.columns = v.size[0];
    d.has_position = true;
    d.position = v.PointAt(0, 0, k);
    d.orientation = {v.row_dir[0], v.row_dir[1], v.row_dir[2],
                     v.col_dir[0], v.col_dir[1], v.col_dir[2]};
    d.pixel_spacing = {v.spacing[1], v.spacing[0]};
    d.slice_thickness = v.spacing[2];
    d.derivation_description = derivation;
    d.pixels.reserve(plane);
    const float* slice = v.voxels.data() + static_cast<size_t>(k) * plane;
    for (size_t i = 0; i < plane; ++i)
      d.pixels.push_back(ToInt16(slice[i]));
    DXHUB_TRY(ctx.Store(series, std::move(d), v.slice_uids[static_cast<size_t>(k)]));
    if (k % 16 == 15)
      ctx.Progress(progress_from + (progress_to - progress_from) * (k + 1) / v.size[2],
                   "storing " + series.description);
  }
  ctx.Finished(series);
  return Ok();
}

Result<json> RunBone(JobContext& ctx, const Volume& v, const json& p) {
  BoneOptions o =
      p.value("preset", std::string("cta")) == "plain" ? BoneOptions::NonContrast() : BoneOptions{};
  o.seed_hu = static_cast<float>(p.value("seed_hu", static_cast<double>(o.seed_hu)));
  o.cortex_hu = static_cast<float>(p.value("cortex_hu", static_cast<double>(o.cortex_hu)));
  o.rim_mm = p.value("rim_mm", o.rim_mm);
  if (o.cortex_hu < o.seed_hu)
    o.cortex_hu = o.seed_hu;
  ctx.Progress(0.3, "removing bone");
  auto r = RemoveBone(v, o);
  if (!r.ok())
    return r.error();
  auto series = ctx.NewSeries("bone-free", "Bone removed (dxhub)");
  DXHUB_TRY(StoreVolume(ctx, series, r->bone_free, "bone removal", 0.5, 0.85));
  ctx.Progress(0.9, "storing the bone mask");
  DXHUB_TRY(ctx.StoreSegmentation("bone-seg", "Bone mask (dxhub)", v, r->mask.labels, v.slice_uids,
                                  {{"Bone", "272673000", "Bone"}}));
  auto mip = Project(r->bone_free, StandardPlane(r->bone_free, Axis::kCoronal), Projection::kMax);
  if (mip.ok())
    DXHUB_TRY(ctx.WritePicture("bone-free-coronal-mip.png", *mip, 300, 800));
  return json{{"bone_ml", std::round(r->bone_ml * 10) / 10},
              {"pieces", r->pieces},
              {"vetoed_pieces", r->vetoed_pieces}};
}

Result<json> RunLungs(JobContext& ctx, const Volume& v) {
  ctx.Progress(0.3, "segmenting lungs");
  auto r = SegmentLungs(v);
  if (!r.ok())
    return r.error();
  ctx.Progress(0.8, "storing the lung labels");
  DXHUB_TRY(ctx.StoreSegmentation(
      "lungs-seg", "Lungs (dxhub)", v, r->labels.labels, v.slice_uids,
      {{"Left lung", "44029006", "Left lung"}, {"Right lung", "3341006", "Right lung"}}));
  return json{{"left_ml", std::round(r->left_ml)},
              {"right_ml", std::round(r->right_ml)},
              {"airways_removed", r->airways_found},
              {"touching_lungs_split", r->split_touching}};
}

Result<json> RunVessels(JobContext& ctx, const Volume& whole, const json& p) {
  Volume roi = whole;
  if (p.contains("roi")) {
    const auto b = p.at("roi").get<std::vector<int>>();
    auto cropped = Crop(whole, {b[0], b[1], b[2]}, {b[3], b[4], b[5]});
    if (!cropped.ok())
      return cropped.error();
    roi = std::move(*cropped);
  }
  VesselOptions o;
  o.sigma_min_mm = p.value("sigma_min_mm", o.sigma_min_mm);
  o.sigma_max_mm = std::max(o.sigma_min_mm, p.value("sigma_max_mm", o.sigma_max_mm));
  o.scales = static_cast<int>(p.value("scales", static_cast<double>(o.scales)));
  if (p.contains("seeds")) {
    for (const json& s : p.at("seeds"))
      o.seeds.push_back({s[0].get<double>(), s[1].get<double>(), s[2].get<double>()});
  }
  ctx.Progress(0.2, "vesselness");
  auto r = ExtractVessels(roi, o);
  if (!r.ok())
    return r.error();
  ctx.Progress(0.8, "writing the tree");
  DXHUB_TRY(ctx.WriteText("centerlines.json", VesselTreeJson(*r)));
  // The mask back on the whole series' grid, as a segmentation of it.
  std::vector<uint8_t> full(whole.Count(), 0);
  const std::array<int, 3> lo =
      p.contains("roi") ? std::array<int, 3>{p["roi"][0].get<int>(), p["roi"][1].get<int>(),
                                             p["roi"][2].get<int>()}
                        : std::array<int, 3>{0, 0, 0};
  for (int k = 0; k < roi.size[2]; ++k) {
    for (int j = 0; j < roi.size[1]; ++j) {
      for (int i = 0; i < roi.size[0]; ++i)
        full[whole.Index(lo[0] + i, lo[1] + j, lo[2] + k)] = r->mask.labels[roi.Index(i, j, k)];
    }
  }
  if (r->trees > 0)
    DXHUB_TRY(ctx.StoreSegmentation("vessels-seg", "Vessels (dxhub)", whole, full, whole.slice_uids,
                                    {{"Vessels", "59820001", "Blood vessel"}}));
  Volume shown = roi;
  for (size_t i = 0; i < shown.voxels.size(); ++i) {
    if (r->mask.labels[i] == 0)
      shown.voxels[i] = std::min(shown.voxels[i], 0.0F);
  }
  auto mip = Project(shown, StandardPlane(shown, Axis::kCoronal), Projection::kMax);
  if (mip.ok())
    DXHUB_TRY(ctx.WritePicture("vessels-coronal-mip.png", *mip, 200, 600));
  double length = 0;
  for (const auto& b : r->branches)
    length += b.length_mm;
  return json{{"trees", r->trees},
              {"branches", r->branches.size()},
              {"length_mm", std::round(length * 10) / 10}};
}

Result<json> RunMesh(JobContext& ctx, const Volume& v, const json& p) {
  MeshOptions o;
  o.iso = static_cast<float>(p.value("iso", 300.0));
  o.decimation = p.value("decimation", 0.0);
  o.smoothing_iterations = static_cast<int>(p.value("smoothing", 15.0));
  ctx.Progress(0.3, "iso-surface");
  auto mesh = IsoSurface(v, o);
  if (!mesh.ok())
    return mesh.error();
  ctx.Progress(0.7, "writing meshes");
  for (const auto& [format, name] :
       {std::pair{MeshFormat::kStl, "surface.stl"}, std::pair{MeshFormat::kObj, "surface.obj"},
        std::pair{MeshFormat::kGltf, "surface.gltf"}}) {
    auto path = ctx.FilePath(name);
    if (!path.ok())
      return path.error();
    DXHUB_TRY(WriteMesh(*mesh, format, *path));
    DXHUB_TRY(fs::SyncPath(*path));
  }
  int height = 0;
  const std::vector<unsigned char> front = RenderFront(*mesh, 512, height);
  if (!front.empty()) {
    auto path = ctx.FilePath("surface-front.png");
    if (!path.ok())
      return path.error();
    DXHUB_TRY(WritePng(*path, front, 512, height));
    DXHUB_TRY(fs::SyncPath(*path));
  }
  const MeshStats s = Measure(*mesh);
  return json{{"triangles", mesh->TriangleCount()},
              {"volume_ml", std::round(s.volume_mm3 / 100) / 10},
              {"area_cm2", std::round(s.area_mm2 / 10) / 10},
              {"watertight", s.boundary_edges == 0 && s.non_manifold_edges == 0}};
}

Result<json> RunPlanar(JobContext& ctx, const std::string& op, const Volume& v, const json& p) {
  auto axis = AxisParam(p);
  if (!axis.ok())
    return axis.error();
  const PlaneSpec plane = StandardPlane(v, *axis, p.value("offset_mm", 0.0));
  auto image = op == "mpr" ? Reslice(v, plane)
                           : Project(v, plane, op == "mip" ? Projection::kMax : Projection::kMin,
                                     p.value("slab_mm", 0.0));
  if (!image.ok())
    return image.error();
  const std::string axis_name = p.value("axis", std::string("axial"));
  const double centre = op == "minip" ? -600 : op == "mip" ? 300 : 40;
  const double width = op == "minip" ? 1500 : op == "mip" ? 1000 : 400;
  auto series = ctx.NewSeries(op, op == "mpr"   ? "MPR " + axis_name + " (dxhub)"
                                  : op == "mip" ? "MIP " + axis_name + " (dxhub)"
                                                : "MinIP " + axis_name + " (dxhub)");
  // The picture refers to the slice nearest the plane's centre.
  const size_t k = v.slice_uids.size() / 2;
  DXHUB_TRY(
      ctx.Store(series, Picture(*image, centre, width, op + " " + axis_name), v.slice_uids.at(k)));
  ctx.Finished(series);
  DXHUB_TRY(ctx.WritePicture(op + "-" + axis_name + ".png", *image, centre, width));
  return json{{"width", image->width}, {"height", image->height}, {"spacing_mm", image->spacing}};
}

Result<json> RunDsa(JobContext& ctx, store::Archive& archive, const json& p) {
  std::string source;
  for (const auto& [uid, instance] : ctx.instances()) {
    if (instance.frames > 1) {
      source = uid;
      break;
    }
  }
  if (source.empty())
    return Bad("DSA needs a multi-frame X-ray image in the series");
  ctx.Progress(0.1, "reading frames");
  auto frames = LoadFrames(archive, source);
  if (!frames.ok())
    return frames.error();
  DsaOptions o;
  o.mask_frame = static_cast<int>(p.value("mask_frame", -1.0));
  o.mask_average = static_cast<int>(p.value("mask_average", 1.0));
  o.motion_correction = p.value("motion_correction", true);
  ctx.Progress(0.3, "subtracting");
  auto r = Subtract(*frames, o);
  if (!r.ok())
    return r.error();
  // One multi-frame image, as the angiogram itself: log-difference in thousandths, vessels
  // negative, the background 0.
  auto series = ctx.NewSeries("dsa", "DSA (dxhub)");
  Image2D image{frames->width, frames->height, 1, {}};
  image.pixels.reserve(r->frames.size() * r->frames[0].size());
  for (const auto& frame : r->frames) {
    for (float x : frame)
      image.pixels.push_back(x * 1000);
  }
  ctx.Progress(0.8, "storing the subtracted run");
  dicom::DerivedImage d =
      Picture(image, 0, 1, "digital subtraction, mask frame " + std::to_string(r->mask_frame + 1));
  d.rows = frames->height;
  d.columns = frames->width;
  d.frames = static_cast<int>(r->frames.size());
  d.slope = 0.001;
  DXHUB_TRY(ctx.Store(series, std::move(d), source));
  ctx.Finished(series);
  double largest = 0;
  for (const auto& s : r->shifts)
    largest = std::max(largest, std::hypot(s[0], s[1]));
  return json{{"frames", r->frames.size()},
              {"mask_frame", r->mask_frame + 1},
              {"largest_shift_px", std::round(largest * 100) / 100}};
}

}  // namespace

const std::vector<std::string>& ProcessingService::Operations() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& [name, params] : Accepted())
      n.push_back(name);
    return n;
  }();
  return names;
}

ProcessingService::ProcessingService(store::Archive& archive, const Clock& clock,
                                     ProcessingOptions options)
    : archive_(archive), clock_(clock), options_(std::move(options)) {}

Result<std::unique_ptr<ProcessingService>> ProcessingService::Start(store::Archive& archive,
                                                                    const Clock& clock,
                                                                    ProcessingOptions options) {
  if (options.workers < 0 || options.workers > 16)
    return MakeError(ErrorCode::kInvalidArgument, "processing workers must be 0-16");
  auto recovered =
      archive.index().processing().RecoverInterrupted(options.max_attempts, clock.NowMillis());
  if (!recovered.ok())
    return recovered.error();
  if (*recovered > 0)
    spdlog::warn("processing: {} job(s) interrupted by the last stop, queued again or failed",
                 *recovered);
  std::unique_ptr<ProcessingService> service(
      new ProcessingService(archive, clock, std::move(options)));
  // Jobs requeued at start (a dead node's whose lease ran out, or this node's own from its
  // previous process) are takeovers like the later ones: the cluster page counts them.
  service->taken_over_ += *recovered;
  for (int i = 0; i < service->options_.workers; ++i)
    service->workers_.emplace_back([s = service.get()] { s->WorkerLoop(); });
  return service;
}

ProcessingService::~ProcessingService() {
  Stop();
}

void ProcessingService::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& w : workers_) {
    if (w.joinable())
      w.join();
  }
}

Result<int64_t> ProcessingService::Submit(const std::string& series_uid,
                                          const std::string& operation,
                                          const std::string& params_json, const std::string& user) {
  auto p = ParseParams(operation, params_json);
  if (!p.ok())
    return p.error();
  auto id = archive_.index().processing().Enqueue({series_uid, operation, p->dump(), user},
                                                  clock_.NowMillis());
  if (id.ok())
    wake_.notify_one();
  return id;
}

Result<std::string> ProcessingService::ResultFile(int64_t job, const std::string& name) const {
  auto found = archive_.index().processing().Find(job);
  if (!found.ok())
    return found.error();
  if (!found->has_value() || (*found)->state != "done")
    return MakeError(ErrorCode::kNotFound, "no finished job " + std::to_string(job));
  const json result = json::parse((*found)->result_json, nullptr, false);
  if (result.is_discarded() || !result.contains("files"))
    return MakeError(ErrorCode::kNotFound, "job has no files");
  for (const json& f : result.at("files")) {
    if (f.is_string() && f.get<std::string>() == name)
      return options_.derived_dir + "/" + std::to_string(job) + "/" + name;
  }
  return MakeError(ErrorCode::kNotFound, "job " + std::to_string(job) + " has no file " + name);
}

Status ProcessingService::RunJob(const store::ProcessingJob& job) {
  const auto started = clock_.NowMillis();
  JobContext ctx(archive_, job, options_.derived_dir + "/" + std::to_string(job.id));
  Result<json> outcome = [&]() -> Result<json> {
    auto p = ParseParams(job.operation, job.params_json);
    if (!p.ok())
      return p.error();
    ctx.Progress(0.02, "reading the series");
    DXHUB_TRY(ctx.LoadInstances());
    if (job.operation == "dsa")
      return RunDsa(ctx, archive_, *p);
    auto volume = LoadSeriesVolume(archive_, job.series_uid);
    if (!volume.ok())
      return volume.error();
    ctx.Progress(0.15, "series loaded");
    if (job.operation == "bone")
      return RunBone(ctx, *volume, *p);
    if (job.operation == "lungs")
      return RunLungs(ctx, *volume);
    if (job.operation == "vessels")
      return RunVessels(ctx, *volume, *p);
    if (job.operation == "mesh")
      return RunMesh(ctx, *volume, *p);
    return RunPlanar(ctx, job.operation, *volume, *p);
  }();
  auto& store = archive_.index().processing();
  const auto now = clock_.NowMillis();
  if (!outcome.ok()) {
    spdlog::warn("processing job {} ({} on {}) failed: {}", job.id, job.operation, job.series_uid,
                 outcome.error().message);
    return store.Finish(job.id, false, outcome.error().message, ctx.Outputs().dump(), now);
  }
  json result = ctx.Outputs();
  result["measurements"] = std::move(*outcome);
  result["seconds"] = static_cast<double>(now - started) / 1000;
  spdlog::info("processing job {} ({} on {}) done in {:.1f} s", job.id, job.operation,
               job.series_uid, static_cast<double>(now - started) / 1000);
  return store.Finish(job.id, true, "", result.dump(), now);
}

void ProcessingService::WorkerLoop() {
  NameThisThread("processing");
  if (Status lowered = LowerThisThreadPriority(); !lowered.ok())
    spdlog::warn("processing: {}", lowered.error().message);
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_)
        return;
    }
    auto taken =
        archive_.index().processing().TakeOverExpired(options_.max_attempts, clock_.NowMillis());
    if (taken.ok() && *taken > 0) {
      taken_over_ += *taken;
      spdlog::warn("processing: took over {} job(s) whose node stopped renewing its claim", *taken);
    }
    // A volume's worth of work, and derived series ingested at the end: after the PACS.
    archive_.ingest_activity().WaitForQuiet(std::chrono::milliseconds(200),
                                            std::chrono::milliseconds(2000), [&] {
                                              std::lock_guard lock(mu_);
                                              return stopping_;
                                            });
    auto job = archive_.index().processing().Claim(clock_.NowMillis());
    if (!job.ok()) {
      spdlog::error("processing: cannot claim a job: {}", job.error().message);
    } else if (job->has_value()) {
      Status st = Ok();
      try {
        st = RunJob(**job);
      } catch (const std::exception& e) {  // ITK, VTK and OpenCV throw; one job must not kill us
        st = archive_.index().processing().Finish((*job)->id, false,
                                                  std::string("internal error: ") + e.what(), "{}",
                                                  clock_.NowMillis());
      }
      if (!st.ok())
        spdlog::error("processing job {}: cannot record its end: {}", (*job)->id,
                      st.error().message);
      continue;
    }
    std::unique_lock lock(mu_);
    wake_.wait_for(lock, std::chrono::seconds(2), [&] { return stopping_; });
  }
}

}  // namespace dxhub::imaging
