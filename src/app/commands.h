#pragma once
// The dxhub verbs. Each returns the process exit code.

#include <string>
#include <vector>

#include "core/config.h"

namespace dxhub::app {

int RunServe(const Config& config);

struct ImportOptions {
  std::vector<std::string> paths;
  int threads = 0;  // 0: one per core
  bool progress = true;
  std::string institution;  // the institution the files' new studies are attributed to
};
int RunImport(const Config& config, const ImportOptions& options);

int RunVerify(const Config& config, bool deep);

struct ModelOptions {
  std::string action;  // list, add, enable, disable, run
  std::string target;
  std::string file;  // run: a DICOM file
  std::string dump;  // run: write each frame's input tensor to <dump>.<frame>.f32
};
int RunModel(const Config& config, const ModelOptions& options);

struct UserOptions {
  std::string action;  // add, passwd, disable, enable, list, token
  std::string username;
  std::string role = "viewer";
  std::string display_name;
  std::string token_name = "script";
  int token_days = 365;
  bool token_list = false;   // token --list: the user's tokens
  std::string token_revoke;  // token --revoke ID|all
  std::string institution;   // add, or alone to move the user: the institution they belong to
};
int RunUser(const Config& config, const UserOptions& options);

struct InstitutionOptions {
  std::string action;  // add, list, set
  std::string name;
  std::string issuer;
  std::vector<std::string> senders;     // AET or AET@IP
  std::vector<std::string> aliases;     // InstitutionName values that mean it
  std::vector<std::string> reads_for;   // institutions whose studies its users read
  std::vector<std::string> read_rules;  // MODALITY[:PRIORITY]: standing read requests
};
int RunInstitution(const Config& config, const InstitutionOptions& options);

struct ProcessOptions {
  std::string operation;  // mpr, mip, minip, mesh, dsa, lungs, bone, vessels
  std::string uid;        // a Series Instance UID (mpr, mip, minip, mesh) or SOP Instance UID (dsa)
  std::string out;        // output file (PNG or mesh); dsa: a folder of PNGs
  std::string axis = "axial";
  double offset_mm = 0;
  double slab_mm = 0;             // 0: the whole volume
  std::string window = "40,400";  // centre,width in HU for PNG output
  double iso = 300;
  double decimate = 0;
  int smoothing = 15;
  std::string format;  // mesh: stl, obj, gltf (default: from the file name)
  int mask_frame = -1;
  int mask_average = 1;
  bool no_motion_correction = false;
  /// Run as a processing job (as POST /api/series/{uid}/process does): derived series stored in
  /// the archive, files under <data>/derived/<job>/, the job's result printed as JSON. Always so
  /// for bone and vessels.
  bool store = false;
  std::string params = "{}";  // job parameters (JSON), see imaging/processing.h
};
/// Runs one image-processing operation synchronously and writes its result to files.
int RunProcess(const Config& config, const ProcessOptions& options);

struct MigrateOptions {
  std::string to;  // postgresql://...
  bool progress = true;
};
/// Copies the SQLite index of the data dir into PostgreSQL, resumable, verified per table.
int RunMigrate(const Config& config, const MigrateOptions& options);

}  // namespace dxhub::app
