#pragma once
// QIDO-RS (PS3.18 §10.6) in dxhub terms: query parameters to an index query, and index rows to
// the DICOM JSON model. Free of HTTP types so it can be unit-tested on its own.

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/result.h"
#include "store/study_index.h"

namespace dxhub::web {

struct QidoRequest {
  store::IndexQuery query;
  bool fuzzy_requested = false;  // fuzzymatching=true: answered with literal matching + Warning
};

/// Parses QIDO-RS query parameters for a query at `level`. `path_filters` are the UIDs taken
/// from the URL (e.g. the study of /studies/{uid}/series). Unknown parameters, attributes that
/// cannot be matched at the level, and malformed values (a date that is not YYYYMMDD, an invalid
/// UID, a non-numeric limit) are kInvalidArgument errors with a message naming the parameter.
Result<QidoRequest> ParseQido(store::Level level,
                              const std::multimap<std::string, std::string>& params,
                              std::vector<store::Filter> path_filters);

/// One QIDO-RS result object for `row` at `level`, with RetrieveURL under `base_url`
/// (e.g. "http://host:8080/dicom-web").
nlohmann::json QidoResult(const store::QueryRow& row, store::Level level,
                          const std::string& base_url);

/// A DICOM JSON model value for a person name stored as "Alphabetic=Ideographic=Phonetic".
nlohmann::json PersonNameJson(const std::string& name);

}  // namespace dxhub::web
