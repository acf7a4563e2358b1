#pragma once
// JSON shapes of index objects for the REST API. Field names are stable API.

#include <nlohmann/json.hpp>

#include "store/study_index.h"

namespace dxhub::web {

/// An ISO 8601 time, or null for 0 (a step not reached yet).
nlohmann::json Time(int64_t ms);
nlohmann::json ToJson(const store::StudySummary& study);
nlohmann::json ToJson(const store::StudyDetail& detail);
nlohmann::json ToJson(const store::StudyAiSummary& summary);
nlohmann::json ToJson(const store::ImageAiResult& image);

}  // namespace dxhub::web
