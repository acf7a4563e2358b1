// dxhub_imaging_bench: seconds per imaging operation on the 512 x 512 x 300 chest
// phantom (and a 30-frame 1024^2 DSA run), with ITK's straightforward morphology as the in-run
// baseline for the lung pipeline's clean-up step. Driven by bench/imaging.sh; prints one line per
// measurement ("name seconds detail") for RESULTS.md.

#include <itkBinaryBallStructuringElement.h>
#include <itkBinaryFillholeImageFilter.h>
#include <itkBinaryMorphologicalClosingImageFilter.h>
#include <itkBinaryThresholdImageFilter.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "../tests/imaging/phantoms.h"
#include "imaging/bone.h"
#include "imaging/dsa.h"
#include "imaging/itk_views.h"
#include "imaging/lung.h"
#include "imaging/mesh.h"
#include "imaging/reslice.h"
#include "imaging/vesselness.h"
#include "imaging/vessels.h"

namespace {

using dxhub::imaging::Volume;
using Clock = std::chrono::steady_clock;

template <typename F>
double Seconds(F&& f) {
  const auto start = Clock::now();
  f();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

template <typename F>
double Best(int repeat, F&& f) {
  double best = 1e9;
  for (int r = 0; r < repeat; ++r)
    best = std::min(best, Seconds(f));
  return best;
}

using Mask = itk::Image<uint8_t, 3>;

// ITK's textbook clean-up of a mask: 3-D closing with a ball of radius 2, then 3-D hole filling;
// seconds to run it on `mask`.
double ItkCloseAndFill(const Mask::Pointer& mask) {
  using Ball = itk::BinaryBallStructuringElement<uint8_t, 3>;
  Ball ball;
  ball.SetRadius(2);
  ball.CreateStructuringElement();
  auto close = itk::BinaryMorphologicalClosingImageFilter<Mask, Mask, Ball>::New();
  close->SetInput(mask);
  close->SetKernel(ball);
  close->SetForegroundValue(1);
  auto fill = itk::BinaryFillholeImageFilter<Mask>::New();
  fill->SetInput(close->GetOutput());
  fill->SetForegroundValue(1);
  return Seconds([&] { fill->Update(); });
}

// The lung pipeline's clean-up step done the textbook way on its finished mask (dxhub does it by
// per-slice flood fill).
double ItkMorphologyBaseline(const dxhub::imaging::LungResult& lungs) {
  std::vector<uint8_t> mask(lungs.labels.labels.size());
  std::transform(lungs.labels.labels.begin(), lungs.labels.labels.end(), mask.begin(),
                 [](uint8_t l) { return l != 0 ? 1 : 0; });
  return ItkCloseAndFill(dxhub::imaging::ItkView(mask.data(), lungs.labels, false));
}

// ITK's textbook bone mask on the same CT: threshold at 200 HU, then the clean-up above (no
// vessel protection at all): the baseline for bone removal's cost.
double ItkBoneBaseline(const Volume& ct) {
  using Image = itk::Image<float, 3>;
  auto threshold = itk::BinaryThresholdImageFilter<Image, Mask>::New();
  threshold->SetInput(dxhub::imaging::ItkView(ct.voxels.data(), ct, false));
  threshold->SetLowerThreshold(200);
  threshold->SetInsideValue(1);
  threshold->SetOutsideValue(0);
  const double threshold_s = Seconds([&] { threshold->Update(); });
  return threshold_s + ItkCloseAndFill(threshold->GetOutput());
}

}  // namespace

int main(int argc, char** argv) {
  namespace im = dxhub::imaging;
  const int slices = argc > 1 ? std::atoi(argv[1]) : 300;
  const std::string out = argc > 2 ? argv[2] : "bench/out/imaging";
  // Optional third argument: run only the operations named in it (e.g. "lungs,bone").
  const std::string only = argc > 3 ? argv[3] : "";
  auto wanted = [&](const char* name) {
    return only.empty() || only.find(name) != std::string::npos;
  };
  std::filesystem::create_directories(out);

  std::fprintf(stderr, "building the %dx%dx%d chest phantom...\n", 512, 512, slices);
  const auto chest = wanted("lungs") || wanted("mip") || wanted("mesh")
                         ? im::phantoms::MakeChest(512, 512, slices, 15, false)
                         : im::phantoms::Chest{};
  const Volume& ct = chest.ct;

  if (wanted("lungs")) {
    im::LungResult lungs;
    const double lung_s = Best(2, [&] { lungs = im::SegmentLungs(ct).value(); });
    // Accuracy at the size too (the unit tests use a smaller grid to stay quick).
    int64_t both[3] = {0, 0, 0}, truth[3] = {0, 0, 0}, found[3] = {0, 0, 0}, airway = 0,
            airway_as_lung = 0;
    for (size_t i = 0; i < chest.truth.size(); ++i) {
      const uint8_t t = chest.truth[i], l = lungs.labels.labels[i];
      for (uint8_t side : {1, 2}) {
        truth[side] += t == side ? 1 : 0;
        found[side] += l == side ? 1 : 0;
        both[side] += t == side && l == side ? 1 : 0;
      }
      airway += t == 3 ? 1 : 0;
      airway_as_lung += t == 3 && l != 0 ? 1 : 0;
    }
    auto dice = [&](int side) {
      return 2.0 * static_cast<double>(both[side]) / static_cast<double>(truth[side] + found[side]);
    };
    std::printf("lungs %.3f left %.0f mL right %.0f mL, Dice %.4f / %.4f, airway as lung %.3f%%\n",
                lung_s, lungs.left_ml, lungs.right_ml, dice(1), dice(2),
                100.0 * static_cast<double>(airway_as_lung) / static_cast<double>(airway));
    {
      const auto touching = im::phantoms::MakeChest(512, 512, slices, 15, true);
      im::LungResult split;
      const double split_s = Best(1, [&] { split = im::SegmentLungs(touching.ct).value(); });
      std::printf("lungs_touching %.3f lungs joined anteriorly, split by erosion: %s\n", split_s,
                  split.split_touching ? "yes" : "no");
    }
    std::printf(
        "itk_closing_fillhole_baseline %.3f ITK ball r=2 closing + 3-D fill holes on the "
        "lung mask (the clean-up step alone)\n",
        ItkMorphologyBaseline(lungs));
  }
  if (wanted("mip")) {
    const im::PlaneSpec axial = im::StandardPlane(ct, im::Axis::kAxial);
    const double mip_s =
        Best(2, [&] { (void)im::Project(ct, axial, im::Projection::kMax).value(); });
    std::printf("mip_axial_full %.3f 512x512 through %d slices\n", mip_s, slices);
    const double slab_s =
        Best(2, [&] { (void)im::Project(ct, axial, im::Projection::kMax, 10).value(); });
    std::printf("mip_axial_slab10mm %.3f\n", slab_s);
    im::PlaneSpec oblique = axial;
    const double c = std::cos(0.5), s = std::sin(0.5);
    oblique.v = {0, c, s};
    const double mpr_s = Best(3, [&] { (void)im::Reslice(ct, oblique).value(); });
    std::printf("mpr_oblique %.3f 512x512\n", mpr_s);
  }
  if (wanted("mesh")) {
    im::MeshOptions mesh_options;
    mesh_options.iso = 250;  // spine and aorta
    im::Mesh mesh;
    const double mesh_s = Best(2, [&] {
      mesh = im::IsoSurface(ct, mesh_options).value();
      (void)im::WriteMesh(mesh, im::MeshFormat::kStl, out + "/spine.stl");
    });
    std::printf("isosurface_stl %.3f %zu triangles (largest piece, smoothed, STL written)\n",
                mesh_s, mesh.TriangleCount());
    mesh_options.decimation = 0.9;
    const double decimated_s = Best(2, [&] {
      mesh = im::IsoSurface(ct, mesh_options).value();
      (void)im::WriteMesh(mesh, im::MeshFormat::kGltf, out + "/spine.gltf");
    });
    std::printf("isosurface_decimated_gltf %.3f %zu triangles\n", decimated_s,
                mesh.TriangleCount());
  }

  // Bone removal on a CTA of the same size (vertebrae, ribs, aortas and arteries beside bone).
  if (wanted("bone")) {
    std::fprintf(stderr, "building the 512x512x%d bone phantom...\n", slices);
    const auto cta = im::phantoms::MakeBoneCta(512, 512, slices, 0.625, 15);
    im::BoneResult bone;
    const double bone_s = Best(2, [&] { bone = im::RemoveBone(cta.ct).value(); });
    std::printf("bone %.3f %.0f mL removed, %d pieces, %d vetoed\n", bone_s, bone.bone_ml,
                bone.pieces, bone.vetoed_pieces);
    std::printf("itk_bone_baseline %.3f ITK threshold + ball r=2 closing + 3-D fill holes\n",
                ItkBoneBaseline(cta.ct));
  }

  // Vessels in a 235^3 (13 Mvox) region at 0.5 mm, four scales.
  if (wanted("vessels")) {
    std::fprintf(stderr, "building the 235^3 vessel phantom...\n");
    const auto tubes = im::phantoms::MakeTubes(235, 0.5, 20);
    im::VesselOptions o;
    const double frangi_s = Best(1, [&] {
      (void)im::Vesselness(
          tubes.ct, {o.sigma_min_mm, o.sigma_max_mm, o.scales, o.alpha, o.beta, o.gamma, o.bright});
    });
    std::printf("itk_frangi_4_scales %.3f ITK multiscale Hessian objectness alone, 13 Mvox\n",
                frangi_s);
    im::VesselResult vessels;
    const double vessels_s = Best(1, [&] { vessels = im::ExtractVessels(tubes.ct, o).value(); });
    std::printf("vessels_13mvox_4_scales %.3f %d trees, %zu branches\n", vessels_s, vessels.trees,
                vessels.branches.size());
  }

  // DSA: 30 frames of 1024^2, the patient drifting by a fraction of a pixel per frame.
  if (wanted("dsa")) {
    im::FrameSeries series;
    series.width = series.height = 1024;
    for (int f = 0; f < 30; ++f) {
      auto pair = im::phantoms::DsaPair(1024, {0.13 * f, -0.07 * f}, f >= 5);
      series.frames.push_back(std::move(pair.frames[1]));
    }
    im::DsaOptions dsa_options;
    dsa_options.mask_frame = 0;
    const double dsa_s = Best(2, [&] { (void)im::Subtract(series, dsa_options).value(); });
    std::printf("dsa_30x1024 %.3f\n", dsa_s);
  }
  return 0;
}
