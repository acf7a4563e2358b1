#pragma once
// JSON shapes of index objects for the REST API. Field names are stable API.

#include <nlohmann/json.hpp>

#include "store/study_index.h"

namespace dxhub::web {

nlohmann::json ToJson(const store::StudySummary& study);
nlohmann::json ToJson(const store::StudyDetail& detail);
nlohmann::json ToJson(const store::StudyAiSummary& summary);
nlohmann::json ToJson(const store::ImageAiResult& image);

}  // namespace dxhub::web
