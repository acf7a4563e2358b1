#pragma once
// The doctors' side of the index: the worklist (which study to read next), decisions on AI
// high-risk findings, and the statistics built from them. Ordering policy lives here because it
// is a query: the web layer only passes the user's filters and the waiting-time cap.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "store/ai_store.h"
#include "store/scope.h"

namespace dxhub::store {

struct WorklistQuery {
  std::string date_from;  // YYYYMMDD, inclusive; empty: open
  std::string date_to;
  std::string modality;  // exact, e.g. CT
  std::string status;    // review status (none, awaiting, partial, confirmed, rejected), or
                         // "open": anything a doctor still has to look at
  std::string risk;      // high, failed, pending, normal; empty: any
  std::string text;      // substring of patient name / id, accession or description
  int limit = 50;
  int offset = 0;
  int64_t wait_cap_ms = 0;  // an open study waiting longer than this rises to the top
  int64_t now_ms = 0;
};

struct WorklistRow {
  std::string study_uid;
  std::string patient_name;
  std::string patient_id;
  std::string study_date;
  std::string study_time;
  std::string accession_number;
  std::string description;
  std::string modalities;   // backslash-separated, as in ModalitiesInStudy
  std::string institution;  // the name of the institution the study belongs to; "": none
  int64_t received_ms = 0;
  int64_t viewed_ms = 0;    // 0: never opened
  int64_t reviewed_ms = 0;  // 0: not finally decided
  std::string review_status;
  std::string reviewed_by;
  bool overdue = false;  // lifted to the top by the waiting-time cap
  StudyAiSummary ai;     // live counts
};

struct WorklistPage {
  int64_t total = 0;  // matching studies, before paging
  std::vector<WorklistRow> rows;
};

struct DecisionInput {
  std::string study_uid;
  std::string sop_uid;  // empty: the whole study (decides every high-risk image not decided yet)
  std::string verdict;  // confirm / reject
  std::string comment;
  std::string username;
  int64_t now_ms = 0;
};

struct DecisionRecord {
  int64_t id = 0;
  std::string sop_uid;  // empty: a study-level decision
  std::string model;
  std::string version;
  std::string label;  // what the AI said
  std::string verdict;
  std::string comment;
  std::string username;
  int64_t at_ms = 0;
};

/// Per model version: how doctors judged its high-risk calls, and how long studies took.
struct ModelReviewStats {
  std::string model;
  std::string version;
  int64_t images = 0;     // images it analysed
  int64_t high_risk = 0;  // of which it called high-risk
  int64_t confirmed = 0;  // high-risk calls a doctor confirmed (latest decision)
  int64_t rejected = 0;
  int64_t undecided = 0;
  int64_t studies = 0;
  // Turnaround medians and 90th percentiles in seconds over the studies that reached each step;
  // -1 where none did.
  double received_to_ai_p50 = -1, received_to_ai_p90 = -1;
  double ai_to_viewed_p50 = -1, ai_to_viewed_p90 = -1;
  double viewed_to_reviewed_p50 = -1, viewed_to_reviewed_p90 = -1;
  double received_to_reviewed_p50 = -1, received_to_reviewed_p90 = -1;
};

class ReviewStore {
 public:
  virtual ~ReviewStore() = default;

  virtual Result<WorklistPage> Worklist(const Scope& scope, const WorklistQuery& query) = 0;
  /// Changes whenever a study, an AI result or a decision is added: clients poll it and reload
  /// the worklist only when it moved. Cheap (three index lookups), and shows no patient data.
  virtual Result<std::string> ChangeStamp() = 0;
  /// Records the first time a doctor opened the study (turnaround "viewed"); later calls keep it.
  virtual Status MarkViewed(const std::string& study_uid, int64_t now_ms) = 0;
  /// kNotFound for an unknown study or image; kInvalidArgument for a verdict other than
  /// confirm / reject, or an image without a high-risk AI finding. Returns the study's new review
  /// status.
  virtual Result<std::string> Decide(const DecisionInput& decision) = 0;
  /// Every decision on the study, newest first.
  virtual Result<std::vector<DecisionRecord>> Decisions(const Scope& scope,
                                                        const std::string& study_uid) = 0;
  /// The study's review row; nullopt for an unknown study.
  virtual Result<std::optional<WorklistRow>> Review(const Scope& scope,
                                                    const std::string& study_uid) = 0;
  /// Statistics over studies received in [from_ms, to_ms).
  virtual Result<std::vector<ModelReviewStats>> Stats(int64_t from_ms, int64_t to_ms) = 0;
};

}  // namespace dxhub::store
