// dxhub: the executable. CLI verbs and wiring; the work lives in the layers below.

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>

#include "app/commands.h"
#include "core/log.h"
#include "dicom/instance.h"

int main(int argc, char** argv) {
  // DCMTK 3.6.7 as packaged leaves Nagle's algorithm on unless TCP_NODELAY=1 is in the
  // environment; with it on, every C-STORE response waits ~40 ms for a delayed ACK on loopback and
  // LANs, capping an association at ~20 instances/s. Set before any thread or socket exists; an
  // operator's explicit TCP_NODELAY=0 still wins.
  ::setenv("TCP_NODELAY", "1", /*overwrite=*/0);
  CLI::App app{"dxhub: regional medical-imaging archive and AI diagnosis platform"};
  app.require_subcommand(1);

  std::string config_file;
  std::string data_dir, bind, aet, index, duplicates, log_level;
  int http_port = 0, dicom_port = 0, max_assoc = 0, http_threads = 0, dimse_timeout = 0;
  int cache_mb = 0, max_upload_mb = 0, processing_workers = 0, ai_workers = 0, ai_threads = 0,
      stable_after = 0;
  int ai_timeout = 0, wait_cap = 0;
  bool no_ai = false;
  std::vector<std::string> model_dirs;
  std::vector<std::string> allowed_aets, allowed_hosts, remote_aes, dicomweb_peers;

  // Options shared by every verb that opens the archive.
  auto add_common = [&](CLI::App* cmd) {
    cmd->add_option("--config", config_file, "TOML configuration file")->check(CLI::ExistingFile);
    cmd->add_option("--data", data_dir, "data directory (default ./var)");
    cmd->add_option("--index", index, "index backend: sqlite (default)");
    cmd->add_option("--log-level", log_level, "trace|debug|info|warn|error");
    cmd->add_option("--model-dir", model_dirs,
                    "folder of model folders (repeatable; default ./models; DATA/models is "
                    "always searched too)")
        ->allow_extra_args(false);
    cmd->add_option("--duplicates", duplicates,
                    "rule for an already archived SOP Instance UID: keep-first|replace");
  };

  auto* serve = app.add_subcommand("serve", "run the DICOM SCP and the web server");
  add_common(serve);
  serve->add_option("--bind", bind, "HTTP bind address (default 127.0.0.1)");
  serve->add_option("--http-port", http_port, "HTTP port (default 8080; 0 = any free port)");
  serve->add_option("--dicom-port", dicom_port, "DICOM port (default 11112)");
  serve->add_option("--aet", aet, "AE title (default DXHUB)");
  serve->add_option("--max-associations", max_assoc, "concurrent DICOM associations");
  serve->add_option("--allowed-aets", allowed_aets, "calling AE titles allowed (default any)");
  serve->add_option("--allowed-hosts", allowed_hosts, "peer IPs allowed (default any)");
  serve->add_option("--http-threads", http_threads, "HTTP worker threads");
  serve
      ->add_option("--remote-ae", remote_aes,
                   "a DICOM node C-MOVE may send to, as AET@HOST:PORT (repeatable)")
      ->allow_extra_args(false);
  serve
      ->add_option("--dicomweb-peer", dicomweb_peers,
                   "a DICOMweb server dxhub may query or send to, as NAME=URL (repeatable)")
      ->allow_extra_args(false);
  serve->add_option("--dimse-timeout", dimse_timeout, "DIMSE timeout in seconds");
  serve->add_option("--cache-mb", cache_mb,
                    "memory for rendered images and metadata, MiB (default 256; 0 = off)");
  serve->add_option("--max-upload-mb", max_upload_mb,
                    "largest STOW-RS upload, MiB (default 4096; spooled to disk)");

  serve->add_flag("--no-ai", no_ai, "do not run the AI pipeline");
  serve->add_option("--ai-workers", ai_workers, "AI worker threads (default: one per core)");
  serve->add_option("--processing-workers", processing_workers,
                    "image-processing worker threads (default 1; 0 turns processing off)");
  serve->add_option("--ai-threads", ai_threads, "OpenCV threads per inference (default: cores)");
  serve->add_option("--ai-timeout", ai_timeout,
                    "seconds after which a running AI job fails as timed out (default 300)");
  serve->add_option("--worklist-wait-cap", wait_cap,
                    "minutes after which an unread study rises to the top of the worklist "
                    "(default 120)");
  serve->add_option("--stable-after", stable_after,
                    "seconds without new images after which a study is complete (default 30)");

  dxhub::app::ModelOptions model_options;
  auto* model = app.add_subcommand("model", "list, add, enable or disable AI models");
  add_common(model);
  model->add_option("action", model_options.action, "list | add | enable | disable | run")
      ->required()
      ->check(CLI::IsMember({"list", "add", "enable", "disable", "run"}));
  model->add_option("target", model_options.target,
                    "add: a model folder (card.toml + ONNX); enable/disable/run: name@version");
  model->add_option("file", model_options.file, "run: a DICOM file to classify");
  model->add_option("--dump", model_options.dump,
                    "run: write each frame's input tensor (float32, NCHW) to PREFIX.<frame>.f32");

  dxhub::app::ProcessOptions process_options;
  auto* process = app.add_subcommand(
      "process", "run an image-processing operation on an archived series and write the result");
  add_common(process);
  process
      ->add_option("operation", process_options.operation,
                   "mpr | mip | minip | mesh | dsa | lungs | bone | vessels")
      ->required()
      ->check(CLI::IsMember({"mpr", "mip", "minip", "mesh", "dsa", "lungs", "bone", "vessels"}));
  process
      ->add_option("uid", process_options.uid,
                   "Series Instance UID (mpr, mip, minip, mesh, lungs) or SOP Instance UID (dsa)")
      ->required();
  process->add_option("--out", process_options.out,
                      "output: PNG, mesh file, or dsa folder; with --store, a copy of the job's "
                      "first result file");
  process->add_flag("--store", process_options.store,
                    "run as a processing job: derived series into the archive, result as JSON "
                    "(always for bone and vessels)");
  process->add_option("--params", process_options.params,
                      "job parameters as JSON, e.g. '{\"preset\": \"plain\"}'");
  process->add_option("--axis", process_options.axis, "axial | coronal | sagittal")
      ->check(CLI::IsMember({"axial", "coronal", "sagittal"}));
  process->add_option("--offset", process_options.offset_mm, "plane offset from the centre (mm)");
  process->add_option("--slab", process_options.slab_mm, "mip/minip slab thickness (mm; 0: all)");
  process->add_option("--window", process_options.window, "PNG window centre,width (HU)");
  process->add_option("--iso", process_options.iso, "mesh: iso-value (HU; default 300, bone)");
  process->add_option("--decimate", process_options.decimate,
                      "mesh: fraction of triangles to remove (0..0.99)");
  process->add_option("--smoothing", process_options.smoothing, "mesh: smoothing iterations");
  process->add_option("--format", process_options.format, "mesh: stl | obj | gltf");
  process->add_option("--mask-frame", process_options.mask_frame,
                      "dsa: 0-based mask frame (default: chosen automatically)");
  process->add_option("--mask-average", process_options.mask_average,
                      "dsa: frames averaged into the mask");
  process->add_flag("--no-motion-correction", process_options.no_motion_correction,
                    "dsa: subtract without shifting the mask");

  dxhub::app::UserOptions user_options;
  auto* user = app.add_subcommand("user", "manage accounts (passwords are read from stdin)");
  add_common(user);
  user->add_option("action", user_options.action, "add | passwd | disable | enable | list | token")
      ->required()
      ->check(CLI::IsMember({"add", "passwd", "disable", "enable", "list", "token"}));
  user->add_option("username", user_options.username, "the account");
  user->add_option("--role", user_options.role, "add: admin | radiologist | clinician | viewer");
  user->add_option("--display-name", user_options.display_name, "add: the name shown in the UI");
  user->add_option("--token-name", user_options.token_name, "token: what the token is for");
  user->add_option("--token-days", user_options.token_days, "token: validity (0 = no expiry)");

  dxhub::app::ImportOptions import_options;
  auto* import = app.add_subcommand("import", "import DICOM files and folders (recursively)");
  add_common(import);
  import->add_option("paths", import_options.paths, "files or folders")->required();
  import->add_option("--threads", import_options.threads, "parallel workers (default: cores)");
  import->add_flag("!--no-progress", import_options.progress, "no progress bar");

  bool deep = false;
  auto* verify = app.add_subcommand("verify",
                                    "check every indexed instance has its blob and "
                                    "every blob is indexed");
  add_common(verify);
  verify->add_flag("--deep", deep, "also re-hash every blob against its recorded SHA-256");

  CLI11_PARSE(app, argc, argv);

  // Defaults, then the config file, then flags given on the command line.
  dxhub::Config config;
  if (!config_file.empty()) {
    auto loaded = dxhub::LoadConfigFile(config_file, config);
    if (!loaded.ok()) {
      std::fprintf(stderr, "dxhub: %s\n", loaded.error().ToString().c_str());
      return 2;
    }
    config = loaded.value();
  }
  auto given = [&](const char* name) {
    for (auto* cmd : app.get_subcommands()) {
      if (auto* opt = cmd->get_option_no_throw(name); opt != nullptr && opt->count() > 0) {
        return true;
      }
    }
    return false;
  };
  if (given("--data"))
    config.data_dir = data_dir;
  if (given("--index"))
    config.index = index;
  if (given("--log-level"))
    config.log_level = log_level;
  if (given("--bind"))
    config.bind = bind;
  if (given("--http-port"))
    config.http_port = http_port;
  if (given("--dicom-port"))
    config.dicom_port = dicom_port;
  if (given("--aet"))
    config.aet = aet;
  if (given("--max-associations"))
    config.max_associations = max_assoc;
  if (given("--allowed-aets"))
    config.allowed_aets = allowed_aets;
  if (given("--allowed-hosts"))
    config.allowed_hosts = allowed_hosts;
  if (given("--http-threads"))
    config.http_threads = http_threads;
  if (given("--dimse-timeout"))
    config.dimse_timeout_s = dimse_timeout;
  if (given("--remote-ae")) {
    config.remote_aes.clear();
    for (const auto& text : remote_aes) {
      auto ae = dxhub::ParseRemoteAe(text);
      if (!ae.ok()) {
        std::fprintf(stderr, "dxhub: %s\n", ae.error().message.c_str());
        return 2;
      }
      config.remote_aes.push_back(*ae);
    }
  }
  if (given("--model-dir"))
    config.model_dirs = model_dirs;
  if (no_ai)
    config.ai = false;
  if (given("--ai-workers"))
    config.ai_workers = ai_workers;
  if (given("--processing-workers"))
    config.processing_workers = processing_workers;
  if (given("--ai-threads"))
    config.ai_threads = ai_threads;
  if (given("--ai-timeout"))
    config.ai_timeout_s = ai_timeout;
  if (given("--worklist-wait-cap"))
    config.worklist_wait_cap_min = wait_cap;
  if (given("--stable-after"))
    config.stable_after_s = stable_after;
  if (given("--cache-mb"))
    config.cache_mb = cache_mb;
  if (given("--max-upload-mb"))
    config.max_upload_mb = max_upload_mb;
  if (given("--dicomweb-peer")) {
    config.dicomweb_peers.clear();
    for (const auto& text : dicomweb_peers) {
      auto peer = dxhub::ParseDicomWebPeer(text);
      if (!peer.ok()) {
        std::fprintf(stderr, "dxhub: %s\n", peer.error().message.c_str());
        return 2;
      }
      config.dicomweb_peers.push_back(*peer);
    }
  }
  if (given("--duplicates")) {
    auto policy = dxhub::ParseDuplicatePolicy(duplicates);
    if (!policy.ok()) {
      std::fprintf(stderr, "dxhub: %s\n", policy.error().message.c_str());
      return 2;
    }
    config.duplicates = *policy;
  }

  if (auto valid = dxhub::ValidateConfig(config); !valid.ok()) {
    std::fprintf(stderr, "dxhub: %s\n", valid.error().message.c_str());
    return 2;
  }
  dxhub::InitLogging(config.log_level);
  dxhub::dicom::ConfigureDcmtkLogging(config.log_level == "debug" || config.log_level == "trace");
  if (serve->parsed())
    return dxhub::app::RunServe(config);
  if (import->parsed())
    return dxhub::app::RunImport(config, import_options);
  if (user->parsed())
    return dxhub::app::RunUser(config, user_options);
  if (model->parsed())
    return dxhub::app::RunModel(config, model_options);
  if (verify->parsed())
    return dxhub::app::RunVerify(config, deep);
  if (process->parsed())
    return dxhub::app::RunProcess(config, process_options);
  return 2;
}
