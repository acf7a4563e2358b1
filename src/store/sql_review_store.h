#pragma once
// ReviewStore written once over sql::Database (SQLite or PostgreSQL), and the per-study review
// refresh the AI store runs in the same transaction as the results it records.

#include <cstdint>
#include <memory>
#include <string>

#include "store/ai_store.h"
#include "store/review_store.h"
#include "store/sql/database.h"

namespace dxhub::store {

std::unique_ptr<ReviewStore> MakeSqlReviewStore(sql::Database& db, AiStore& ai);

/// Recomputes the study's worklist row (high-risk and failed counts, riskiest finding, review
/// status) from its latest AI readings and decisions. Call inside a write transaction whenever
/// either changes. Returns the review status.
Result<std::string> RefreshStudyReview(sql::Transaction& tx, int64_t study_pk, int64_t now_ms);

}  // namespace dxhub::store
