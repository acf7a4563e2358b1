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
};
int RunUser(const Config& config, const UserOptions& options);

}  // namespace dxhub::app
