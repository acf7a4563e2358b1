// `dxhub process`: the imaging operations from the command line, on series already in the
// archive, for scripts and for checking results by eye (PNG pictures, mesh files).

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "app/node_heartbeat.h"
#include "core/clock.h"
#include "core/strings.h"
#include "imaging/assembly.h"
#include "imaging/dsa.h"
#include "imaging/lung.h"
#include "imaging/mesh.h"
#include "imaging/processing.h"
#include "imaging/reslice.h"
#include "store/archive.h"

namespace dxhub::app {
namespace {

int Fail(const std::string& what) {
  std::fprintf(stderr, "dxhub process: %s\n", what.c_str());
  return 1;
}

// HU (or stored values) to 8-bit grey through a centre,width window.
std::vector<unsigned char> Windowed(const imaging::Image2D& image, double centre, double width) {
  std::vector<unsigned char> out(image.pixels.size());
  const double lo = centre - width / 2;
  for (size_t i = 0; i < out.size(); ++i) {
    const double g = (image.pixels[i] - lo) / width * 255.0;
    out[i] = static_cast<unsigned char>(g < 0 ? 0 : g > 255 ? 255 : g);
  }
  return out;
}

int Planar(store::Archive& archive, const ProcessOptions& o) {
  std::vector<std::string> fields = Split(o.window, ",");
  double centre = 0, width = 0;
  if (fields.size() != 2 || !ParseNumber(fields[0], centre) || !ParseNumber(fields[1], width) ||
      width <= 0)
    return Fail("--window must be centre,width with width > 0");
  imaging::Axis axis = imaging::Axis::kAxial;
  if (o.axis == "coronal")
    axis = imaging::Axis::kCoronal;
  else if (o.axis == "sagittal")
    axis = imaging::Axis::kSagittal;
  else if (o.axis != "axial")
    return Fail("--axis must be axial, coronal or sagittal");
  auto volume = imaging::LoadSeriesVolume(archive, o.uid);
  if (!volume.ok())
    return Fail(volume.error().ToString());
  const imaging::PlaneSpec plane = imaging::StandardPlane(*volume, axis, o.offset_mm);
  auto image = o.operation == "mpr"
                   ? imaging::Reslice(*volume, plane)
                   : imaging::Project(*volume, plane,
                                      o.operation == "mip" ? imaging::Projection::kMax
                                                           : imaging::Projection::kMin,
                                      o.slab_mm);
  if (!image.ok())
    return Fail(image.error().ToString());
  Status written =
      imaging::WritePng(o.out, Windowed(*image, centre, width), image->width, image->height);
  if (!written.ok())
    return Fail(written.error().ToString());
  std::printf("%s %s: %dx%d pixels of %.3f mm -> %s\n", o.operation.c_str(), o.axis.c_str(),
              image->width, image->height, image->spacing, o.out.c_str());
  return 0;
}

int Mesh(store::Archive& archive, const ProcessOptions& o) {
  std::string format_name = o.format;
  if (format_name.empty())
    format_name = std::filesystem::path(o.out).extension().string().substr(1);
  auto format = imaging::ParseMeshFormat(format_name);
  if (!format.ok())
    return Fail(format.error().message + " (--format, or the output's extension)");
  auto volume = imaging::LoadSeriesVolume(archive, o.uid);
  if (!volume.ok())
    return Fail(volume.error().ToString());
  imaging::MeshOptions options;
  options.iso = static_cast<float>(o.iso);
  options.decimation = o.decimate;
  options.smoothing_iterations = o.smoothing;
  auto mesh = imaging::IsoSurface(*volume, options);
  if (!mesh.ok())
    return Fail(mesh.error().ToString());
  if (Status written = imaging::WriteMesh(*mesh, *format, o.out); !written.ok())
    return Fail(written.error().ToString());
  const imaging::MeshStats stats = imaging::Measure(*mesh);
  const std::string closed = stats.boundary_edges == 0 && stats.non_manifold_edges == 0
                                 ? std::string("watertight")
                                 : "not watertight (" + std::to_string(stats.boundary_edges) +
                                       " boundary, " + std::to_string(stats.non_manifold_edges) +
                                       " non-manifold edges)";
  std::printf("mesh at %.0f: %zu triangles, %.1f mL, %.1f cm2, %s -> %s\n", o.iso,
              mesh->TriangleCount(), stats.volume_mm3 / 1000, stats.area_mm2 / 100, closed.c_str(),
              o.out.c_str());
  return 0;
}

int Dsa(store::Archive& archive, const ProcessOptions& o) {
  auto frames = imaging::LoadFrames(archive, o.uid);
  if (!frames.ok())
    return Fail(frames.error().ToString());
  imaging::DsaOptions options;
  options.mask_frame = o.mask_frame;
  options.mask_average = o.mask_average;
  options.motion_correction = !o.no_motion_correction;
  auto result = imaging::Subtract(*frames, options);
  if (!result.ok())
    return Fail(result.error().ToString());
  std::error_code ec;
  std::filesystem::create_directories(o.out, ec);
  if (ec)
    return Fail("cannot create " + o.out + ": " + ec.message());
  for (size_t f = 0; f < result->frames.size(); ++f) {
    char name[32];
    std::snprintf(name, sizeof name, "/frame%03zu.png", f + 1);
    Status written =
        imaging::WritePng(o.out + name, imaging::WindowSubtracted(result->frames[f], 1.0),
                          frames->width, frames->height);
    if (!written.ok())
      return Fail(written.error().ToString());
  }
  std::printf("dsa: %zu frames, mask frame %d, -> %s/frame*.png\n", result->frames.size(),
              result->mask_frame + 1, o.out.c_str());
  return 0;
}

// Lungs: volumes printed, and a picture of the axial slice with the most lung (CT windowed for
// lungs, the left lung brightened, the right darkened, so both stand out in grey).
int Lungs(store::Archive& archive, const ProcessOptions& o) {
  auto volume = imaging::LoadSeriesVolume(archive, o.uid);
  if (!volume.ok())
    return Fail(volume.error().ToString());
  auto lungs = imaging::SegmentLungs(*volume);
  if (!lungs.ok())
    return Fail(lungs.error().ToString());
  const auto& v = *volume;
  const auto& labels = lungs->labels.labels;
  int best = 0;
  int64_t most = -1;
  for (int k = 0; k < v.size[2]; ++k) {
    int64_t n = 0;
    for (int j = 0; j < v.size[1]; ++j) {
      for (int i = 0; i < v.size[0]; ++i)
        n += labels[v.Index(i, j, k)] != 0 ? 1 : 0;
    }
    if (n > most) {
      most = n;
      best = k;
    }
  }
  std::vector<unsigned char> picture;
  for (int j = 0; j < v.size[1]; ++j) {
    for (int i = 0; i < v.size[0]; ++i) {
      const double g = (v.At(i, j, best) + 1350) / 1500 * 255;  // lung window -600/1500
      const uint8_t l = labels[v.Index(i, j, best)];
      const double shown = l == 1 ? 160 + g / 3 : l == 2 ? g / 3 : g;
      picture.push_back(static_cast<unsigned char>(shown < 0 ? 0 : shown > 255 ? 255 : shown));
    }
  }
  if (Status written = imaging::WritePng(o.out, picture, v.size[0], v.size[1]); !written.ok())
    return Fail(written.error().ToString());
  std::printf("lungs: left %.0f mL, right %.0f mL%s%s; slice %d -> %s\n", lungs->left_ml,
              lungs->right_ml, lungs->airways_found ? ", airways removed" : "",
              lungs->split_touching ? ", touching lungs split" : "", best + 1, o.out.c_str());
  return 0;
}

// As a processing job, run here and now: the same code path as the API's queue.
int AsJob(store::Archive& archive, const Config& config, const ProcessOptions& o) {
  SystemClock clock;
  imaging::ProcessingOptions options;
  options.derived_dir = config.data_dir + "/derived";
  options.workers = 0;
  auto service = imaging::ProcessingService::Start(archive, clock, options);
  if (!service.ok())
    return Fail(service.error().ToString());
  auto id = (*service)->Submit(o.uid, o.operation, o.params, "cli");
  if (!id.ok())
    return Fail(id.error().ToString());
  // Renews the claim while the job runs, as a server node would, so no node takes it over.
  store::NodeInfo self;
  self.name = config.node_name;
  self.version = "cli";
  self.pid = ::getpid();
  self.started_ms = clock.NowMillis();
  NodeHeartbeat heartbeat(archive.index().cluster(), clock, self,
                          int64_t{config.job_lease_s} * 1000, nullptr);
  heartbeat.Start();
  struct Leave {
    NodeHeartbeat& beat;
    store::ClusterStore& cluster;
    std::string name;
    ~Leave() {
      beat.Stop();
      (void)cluster.Leave(name);  // not a node: off the cluster page once done
    }
  } leave{heartbeat, archive.index().cluster(), config.node_name};
  // Claims the oldest pending job: with a server on the same data running, that may be one of
  // its own; run whatever was claimed and report ours.
  while (true) {
    auto job = archive.index().processing().Claim(clock.NowMillis());
    if (!job.ok())
      return Fail(job.error().ToString());
    if (!job->has_value())
      break;
    if (Status ran = (*service)->RunJob(**job); !ran.ok())
      return Fail(ran.error().ToString());
    if ((*job)->id == *id)
      break;
  }
  auto done = archive.index().processing().Find(*id);
  if (!done.ok() || !done->has_value())
    return Fail("the job vanished");
  const auto& job = **done;
  if (job.state != "done")
    return Fail(o.operation + " failed: " + job.error);
  std::printf("%s\n", job.result_json.c_str());
  if (!o.out.empty()) {
    const auto result = nlohmann::json::parse(job.result_json, nullptr, false);
    if (!result.is_discarded() && result.contains("files") && !result["files"].empty()) {
      auto path = (*service)->ResultFile(job.id, result["files"][0].get<std::string>());
      std::error_code ec;
      if (!path.ok() || !std::filesystem::copy_file(
                            *path, o.out, std::filesystem::copy_options::overwrite_existing, ec))
        return Fail("cannot copy the result to " + o.out);
    }
  }
  return 0;
}

}  // namespace

int RunProcess(const Config& config, const ProcessOptions& options) {
  SystemClock clock;
  auto archive = store::Archive::Open(config, clock);
  if (!archive.ok())
    return Fail("cannot open archive: " + archive.error().ToString());
  if (options.store || options.operation == "bone" || options.operation == "vessels")
    return AsJob(**archive, config, options);
  if (options.out.empty())
    return Fail("--out is required");
  if (options.operation == "mesh")
    return Mesh(**archive, options);
  if (options.operation == "dsa")
    return Dsa(**archive, options);
  if (options.operation == "lungs")
    return Lungs(**archive, options);
  return Planar(**archive, options);
}

}  // namespace dxhub::app
