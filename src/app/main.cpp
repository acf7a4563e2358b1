// dxhub: the executable. CLI verbs and wiring; the work lives in the layers below.

#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "app/commands.h"
#include "core/config_keys.h"
#include "core/log.h"
#include "dicom/instance.h"

int main(int argc, char** argv) {
  // DCMTK 3.6.7 as packaged leaves Nagle's algorithm on unless TCP_NODELAY=1 is in the
  // environment; with it on, every C-STORE response waits ~40 ms for a delayed ACK on loopback and
  // LANs, capping an association at ~20 instances/s. Set before any thread or socket exists; an
  // operator's explicit TCP_NODELAY=0 still wins.
  ::setenv("TCP_NODELAY", "1", /*overwrite=*/0);
  // Everything dxhub writes (index, blobs, temp files, logs of patient data) is for its own
  // user only: files 0600, folders 0700.
  ::umask(077);
  CLI::App app{"dxhub: regional medical-imaging archive and AI diagnosis platform"};
  app.require_subcommand(1);

  std::string config_file;
  // Every setting's flag comes from the one table the config loader also reads
  // (core/config_keys.h); the values land here as text and are applied after parsing.
  std::map<std::string, std::string> scalars;
  std::map<std::string, std::vector<std::string>> lists;
  std::map<std::string, bool> flags;
  auto add_keys = [&](CLI::App* cmd, bool serve_keys) {
    cmd->add_option("--config", config_file, "TOML configuration file (keys as the flags)")
        ->check(CLI::ExistingFile);
    for (const auto& key : dxhub::ConfigKeys()) {
      if (key.scope == dxhub::KeyScope::kServe && !serve_keys)
        continue;
      const std::string flag = "--" + std::string(key.name);
      const std::string help(key.help);
      switch (key.kind) {
        case dxhub::KeyKind::kInt:
        case dxhub::KeyKind::kString:
          cmd->add_option(flag, scalars[std::string(key.name)], help);
          break;
        case dxhub::KeyKind::kList:
          cmd->add_option(flag, lists[std::string(key.name)], help);
          break;
        case dxhub::KeyKind::kRepeated:
          cmd->add_option(flag, lists[std::string(key.name)], help)->allow_extra_args(false);
          break;
        case dxhub::KeyKind::kFlag:
          cmd->add_flag(flag, flags[std::string(key.name)], help);
          break;
      }
    }
  };
  auto add_common = [&](CLI::App* cmd) { add_keys(cmd, false); };

  auto* serve = app.add_subcommand("serve", "run the DICOM SCP and the web server");
  add_keys(serve, true);

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
  user->add_option("action", user_options.action,
                   "add | passwd | disable | enable | list | token | set (--institution)")
      ->required()
      ->check(CLI::IsMember({"add", "passwd", "disable", "enable", "list", "token", "set"}));
  user->add_option("username", user_options.username, "the account");
  user->add_option("--role", user_options.role,
                   "add: admin | radiologist | clinician | viewer | researcher");
  user->add_option("--display-name", user_options.display_name, "add: the name shown in the UI");
  user->add_option("--token-name", user_options.token_name, "token: what the token is for");
  user->add_option("--token-days", user_options.token_days, "token: validity (0 = no expiry)");
  user->add_flag("--list", user_options.token_list, "token: list the user's tokens");
  user->add_option("--revoke", user_options.token_revoke, "token: revoke token ID, or all");
  user->add_option("--institution", user_options.institution,
                   "add: the institution the user belongs to (sees); with `set`: move them "
                   "('' for none: the whole region)");

  dxhub::app::InstitutionOptions institution_options;
  auto* institution = app.add_subcommand(
      "institution", "manage the region's institutions (the hospital, its clinics)");
  add_common(institution);
  institution->add_option("action", institution_options.action, "add | set | list")
      ->required()
      ->check(CLI::IsMember({"add", "set", "list"}));
  institution->add_option("name", institution_options.name, "the institution");
  institution->add_option("--issuer", institution_options.issuer,
                          "add: IssuerOfPatientID for its patients sent without one");
  institution->add_option("--aet", institution_options.senders,
                          "add/set: a calling AE title that sends for it, AET or AET@IP "
                          "(repeatable)");
  institution->add_option("--alias", institution_options.aliases,
                          "add: an InstitutionName that also means it (repeatable)");
  institution->add_option("--reads-for", institution_options.reads_for,
                          "add/set: an institution whose studies its users read (repeatable)");
  institution->add_option("--read-rule", institution_options.read_rules,
                          "add/set: request a read of every complete study of this modality it "
                          "sends, MODALITY[:stat|urgent|routine] ('*' any modality; repeatable)");

  dxhub::app::ImportOptions import_options;
  auto* import = app.add_subcommand("import", "import DICOM files and folders (recursively)");
  add_common(import);
  import->add_option("paths", import_options.paths, "files or folders")->required();
  import->add_option("--threads", import_options.threads, "parallel workers (default: cores)");
  import->add_flag("!--no-progress", import_options.progress, "no progress bar");
  import->add_option("--institution", import_options.institution,
                     "attribute the files' new studies to this institution");

  bool deep = false;
  auto* verify = app.add_subcommand("verify",
                                    "check every indexed instance has its blob and "
                                    "every blob is indexed");
  add_common(verify);
  verify->add_flag("--deep", deep, "also re-hash every blob against its recorded SHA-256");

  dxhub::app::MigrateOptions migrate_options;
  auto* migrate = app.add_subcommand(
      "migrate",
      "copy the SQLite index of --data into PostgreSQL (resumable; verified by counts and "
      "checksums; blobs stay where they are)");
  add_common(migrate);
  migrate->add_option("--to", migrate_options.to, "postgresql://USER@HOST:PORT/DB")->required();
  bool migrate_quiet = false;
  migrate->add_flag("--no-progress", migrate_quiet, "do not print a line per batch");

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
  for (const auto& key : dxhub::ConfigKeys()) {
    const std::string name(key.name);
    const std::string flag = "--" + name;
    bool given = false;
    for (auto* cmd : app.get_subcommands()) {
      if (auto* opt = cmd->get_option_no_throw(flag); opt != nullptr && opt->count() > 0)
        given = true;
    }
    if (!given)
      continue;
    std::vector<std::string> values;
    if (key.kind == dxhub::KeyKind::kList || key.kind == dxhub::KeyKind::kRepeated)
      values = lists[name];
    else if (key.kind == dxhub::KeyKind::kFlag)
      values = {flags[name] ? "true" : "false"};
    else
      values = {scalars[name]};
    if (auto applied = key.apply(config, values); !applied.ok()) {
      std::fprintf(stderr, "dxhub: %s: %s\n", flag.c_str(), applied.error().message.c_str());
      return 2;
    }
  }

  if (config.node_name.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    config.node_name = host[0] != '\0' ? host : "dxhub";
    // A command run beside a server on the same host must not pass for it: a node name owns
    // the jobs claimed under it, and a process starting under a name takes them back.
    if (!serve->parsed())
      config.node_name += "-cli-" + std::to_string(::getpid());
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
  if (institution->parsed())
    return dxhub::app::RunInstitution(config, institution_options);
  if (model->parsed())
    return dxhub::app::RunModel(config, model_options);
  if (verify->parsed())
    return dxhub::app::RunVerify(config, deep);
  if (process->parsed())
    return dxhub::app::RunProcess(config, process_options);
  if (migrate->parsed()) {
    migrate_options.progress = !migrate_quiet;
    return dxhub::app::RunMigrate(config, migrate_options);
  }
  return 2;
}
