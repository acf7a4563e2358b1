#pragma once
// De-identified research exports in the index database: projects (their profile options, their
// members), the exports made into them (which studies), and the cluster's pseudonym key.
// Who may see the studies an export names is checked when it is made (the maker's scope);
// members then download it de-identified (store/deid_export.h) without seeing anything else.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace dxhub::store {

struct DeidProject {
  int64_t id = 0;
  std::string name;
  bool retain_dates = false;
  bool retain_patient_characteristics = false;
  bool clean_descriptors = false;
  std::vector<std::string> members;
  std::string created_by;
  int64_t created_ms = 0;
};

struct DeidExport {
  int64_t id = 0;
  std::string project;
  std::string created_by;
  int64_t created_ms = 0;
  std::vector<std::string> study_uids;
};

class DeidStore {
 public:
  virtual ~DeidStore() = default;

  /// kAlreadyExists for a taken name.
  virtual Result<DeidProject> AddProject(const DeidProject& project, int64_t now_ms) = 0;
  /// Every project; `member` non-empty: only those that user belongs to.
  virtual Result<std::vector<DeidProject>> Projects(const std::string& member) = 0;
  virtual Result<std::optional<DeidProject>> Project(const std::string& name) = 0;
  virtual Result<DeidExport> AddExport(const std::string& project, const std::string& created_by,
                                       const std::vector<std::string>& study_uids,
                                       int64_t now_ms) = 0;
  virtual Result<std::vector<DeidExport>> Exports(const std::string& project) = 0;
  virtual Result<std::optional<DeidExport>> Export(int64_t id) = 0;
  /// The secret `name` (hex), made from `fresh` the first time it is asked for: every node of
  /// the cluster gets the same one.
  virtual Result<std::string> Secret(const std::string& name, const std::string& fresh) = 0;
};

}  // namespace dxhub::store
