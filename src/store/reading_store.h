#pragma once
// Remote reading (teleradiology) in the index: a clinic's read requests, the queue the reading
// radiologists work, claims (one reader per request), report versions (draft, signed, addenda)
// and the request-to-signed turnaround per clinic. Who may request, claim or sign is the web
// layer's policy (roles, the caller's institution); what this store guarantees is the state:
// one open request per study, a claim taken by one user only, a signed version never changed,
// and every query limited to the caller's scope.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "store/scope.h"

namespace dxhub::store {

/// How soon a request is due: its turnaround target is chosen per priority by the caller.
enum class ReadPriority { kStat, kUrgent, kRoutine };
const char* ToString(ReadPriority priority);
/// "stat", "urgent" or "routine"; kInvalidArgument otherwise.
Result<ReadPriority> ParseReadPriority(const std::string& text);

/// The turnaround target of each priority (configured: read-turnaround-stat etc.).
struct TurnaroundTargets {
  int64_t stat_ms = 3'600'000;      // 1 h
  int64_t urgent_ms = 14'400'000;   // 4 h
  int64_t routine_ms = 86'400'000;  // 24 h
  int64_t For(ReadPriority priority) const {
    return priority == ReadPriority::kStat     ? stat_ms
           : priority == ReadPriority::kUrgent ? urgent_ms
                                               : routine_ms;
  }
};

struct ReadRule {
  std::string institution;
  std::string modality;  // "" : any
  std::string priority;
};

struct ReadRequestInput {
  std::string study_uid;
  ReadPriority priority = ReadPriority::kRoutine;
  std::string reason;  // the clinic's question, shown to the reader
  std::string requested_by;
  int64_t now_ms = 0;
  int64_t due_ms = 0;  // now + the priority's turnaround target
};

struct ReadRequest {
  int64_t id = 0;
  std::string study_uid;
  int64_t institution = 0;       // the requesting institution (the study's); 0: none
  std::string institution_name;  // "" : none
  std::string priority;
  std::string reason;
  std::string requested_by;
  int64_t requested_ms = 0;
  int64_t due_ms = 0;
  std::string status;  // requested, claimed, signed, cancelled
  std::string claimed_by;
  int64_t claimed_ms = 0;
  int64_t closed_ms = 0;
  bool overdue = false;  // open and past due (as of the query's now)
  // What the queue shows of the study.
  std::string patient_name;
  std::string patient_id;
  std::string study_date;
  std::string description;
  std::string modalities;  // backslash-separated
  int64_t high_risk = 0;   // images the AI found high-risk
};

struct ReadQueueQuery {
  /// "open" (requested or claimed; the default), one status, or "all".
  std::string status = "open";
  std::string claimed_by;  // only requests this user claimed; empty: anyone's
  int limit = 50;
  int offset = 0;
  int64_t now_ms = 0;
};

struct ReadQueuePage {
  int64_t total = 0;
  std::vector<ReadRequest> requests;  // overdue first, then by priority, then by due time
};

struct Report {
  int64_t id = 0;
  std::string study_uid;
  int64_t request = 0;  // the request it answers; 0: none
  int version = 0;      // 1 the report, 2.. addenda
  std::string status;   // draft, signed
  std::string findings;
  std::string impression;
  std::string author;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  int64_t signed_ms = 0;
  std::string sr_uid;   // its DICOM Basic Text SR, once signed
  std::string pdf_uid;  // its Encapsulated PDF, once signed
};

struct ReportDraft {
  std::string study_uid;
  std::string findings;
  std::string impression;
  std::string author;
  int64_t now_ms = 0;
};

/// Request-to-signed turnaround of one requesting institution's requests.
struct ReadTurnaround {
  std::string institution;  // "" : studies attributed to none
  int64_t requested = 0;    // requests made in the period
  int64_t signed_count = 0;
  int64_t open = 0;
  int64_t overdue = 0;  // signed after their due time, or open past it
  double p50_s = -1;    // request to signed, seconds; -1: none signed
  double p90_s = -1;
};

class ReadingStore {
 public:
  virtual ~ReadingStore() = default;

  /// Opens a read request for a study in `scope`. kNotFound for a study outside it;
  /// kAlreadyExists while the study has an open request.
  virtual Result<ReadRequest> Request(const Scope& scope, const ReadRequestInput& input) = 0;
  virtual Result<ReadQueuePage> Queue(const Scope& scope, const ReadQueueQuery& query) = 0;
  /// The request, if its study is in scope.
  virtual Result<std::optional<ReadRequest>> Get(const Scope& scope, int64_t id,
                                                 int64_t now_ms) = 0;
  /// The study's open request, else its latest one; nullopt if it never had one.
  virtual Result<std::optional<ReadRequest>> OfStudy(const Scope& scope,
                                                     const std::string& study_uid,
                                                     int64_t now_ms) = 0;
  /// Takes an open, unclaimed request for `user`: exactly one of concurrent claims succeeds;
  /// the others get kConflict naming who holds it. Claiming one's own claim again is Ok.
  virtual Result<ReadRequest> Claim(const Scope& scope, int64_t id, const std::string& user,
                                    int64_t now_ms) = 0;
  /// Gives a claim back to the queue; kConflict unless `user` holds it (or `force`, an
  /// administrator's release of an absent reader's claim).
  virtual Status Release(const Scope& scope, int64_t id, const std::string& user, bool force) = 0;
  /// Withdraws a request nobody has claimed yet; kConflict once it is claimed or closed.
  virtual Status Cancel(const Scope& scope, int64_t id, int64_t now_ms) = 0;

  /// The study's report versions, oldest first; drafts only when `drafts`.
  virtual Result<std::vector<Report>> Reports(const Scope& scope, const std::string& study_uid,
                                              bool drafts) = 0;
  /// Creates or updates the study's draft. Before the first signed version, while the study
  /// has an open request, only the user who claimed it writes the report (kConflict otherwise);
  /// after it, a draft is an addendum (the next version). A draft belongs to its author: another
  /// user's draft is kConflict.
  virtual Result<Report> SaveDraft(const Scope& scope, const ReportDraft& draft) = 0;
  /// Signs `user`'s draft of the study as version `version` (the caller wrote its SR and PDF,
  /// `sr_uid` and `pdf_uid`, into the study first), and closes the open request it answers.
  /// kNotFound without such a draft; kConflict if it changed to another version meanwhile.
  virtual Result<Report> Sign(const Scope& scope, const std::string& study_uid, int version,
                              const std::string& user, const std::string& sr_uid,
                              const std::string& pdf_uid, int64_t now_ms) = 0;

  /// Per requesting institution, over requests made in [from_ms, to_ms).
  virtual Result<std::vector<ReadTurnaround>> Turnaround(const Scope& scope, int64_t from_ms,
                                                         int64_t to_ms, int64_t now_ms) = 0;

  /// A standing request of the institution named `institution`: every study with a series of
  /// `modality` ("" any) it sends is requested when it is complete. Replaces the priority of an
  /// existing rule.
  virtual Status AddRule(const std::string& institution, const std::string& modality,
                         ReadPriority priority) = 0;
  /// Requests the studies that became complete (stable) since `since_ms` and match a rule of
  /// their institution, unless they have had a request already. Idempotent, so every node may
  /// run it. Returns how many it opened.
  virtual Result<int> ApplyRules(int64_t since_ms, int64_t now_ms,
                                 const TurnaroundTargets& targets) = 0;
  virtual Result<std::vector<ReadRule>> Rules() = 0;
};

}  // namespace dxhub::store
