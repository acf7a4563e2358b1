#pragma once
// The AI side of the index: a durable job queue (one job = one model on one instance) and the
// results it produces, with per-study counts for the worklist. Lives in the index database so a
// job is committed with its instance and survives any crash.

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "store/scope.h"

namespace dxhub::store {

/// Which model a job runs (name and version, as the model card gives them).
struct AiJobSpec {
  std::string model;
  std::string version;
  bool operator==(const AiJobSpec&) const = default;
};

/// A claimed job with what a worker needs to run it.
struct AiJob {
  int64_t id = 0;
  AiJobSpec spec;
  int attempts = 0;  // including this one
  std::string sop_uid;
  std::string study_uid;
  std::string blob_key;
  int frames = 0;
  int64_t received_ms = 0;  // the instance's arrival: scan-to-result latency starts here
};

/// What a worker reports for a job.
struct AiOutcome {
  bool analysed = false;   // false: failed
  bool retry = false;      // failed but may be tried again (the job returns to pending)
  bool not_ready = false;  // with retry: the image was not readable yet; the attempt is not counted
  std::string label;
  double score = 0;
  double risk_score = 0;
  bool high_risk = false;
  std::string reason;  // failures: "<kind>: <message>"
  int frames = 0;
  double preprocess_ms = 0;
  double inference_ms = 0;
};

/// The latest reading of one image by one model.
struct ImageAiResult {
  std::string sop_uid;
  std::string series_uid;
  int instance_number = 0;
  AiJobSpec spec;
  std::string state;  // pending, running, analysed, failed
  std::string label;
  double score = 0;
  double risk_score = 0;
  bool high_risk = false;
  std::string reason;
  int attempts = 0;
  double preprocess_ms = 0;
  double inference_ms = 0;
  int64_t queued_ms = 0;
  int64_t finished_ms = 0;  // 0 while pending
};

/// Per-study counts. An image counts once: pending while any model's latest job on it is
/// pending; otherwise high-risk if any latest reading is high-risk, failed if any failed, else
/// normal. Images no enabled model applies to count only in `total`.
struct StudyAiSummary {
  int total = 0;
  int analysed = 0;  // normal + high_risk
  int normal = 0;
  int high_risk = 0;
  int failed = 0;
  int pending = 0;
  double highest_risk = 0;
  std::string highest_risk_label;
  int64_t received_ms = 0;
  int64_t stable_ms = 0;    // 0: not yet stable
  int64_t queued_ms = 0;    // first job queued
  int64_t inferred_ms = 0;  // last result, once nothing is pending (0 otherwise)
};

class AiStore {
 public:
  virtual ~AiStore() = default;

  /// Moves up to `max` pending jobs to running (attempts + 1) and returns them, oldest first.
  virtual Result<std::vector<AiJob>> ClaimJobs(int max, int64_t now_ms) = 0;
  struct Completed {
    int64_t job_id = 0;
    AiOutcome outcome;
  };
  /// Records outcomes of running jobs in one transaction: per job a result row and the job done
  /// or failed, or (retry) the job back to pending with no result. A job that is no longer
  /// running (already completed) is skipped, so nothing is counted twice. Returns how many were
  /// recorded.
  virtual Result<int> CompleteJobs(const std::vector<Completed>& jobs, int64_t now_ms) = 0;
  /// At start-up: jobs this node's previous process left running return to pending, except those
  /// that already used `max_attempts`, which fail ("interrupted").
  virtual Result<int> RecoverInterrupted(int max_attempts, int64_t now_ms) = 0;
  /// While running, periodically: jobs whose claim's lease ran out (their node died or lost the
  /// database) return to pending for any node to claim, once, or fail after `max_attempts`.
  virtual Result<int> TakeOverExpired(int max_attempts, int64_t now_ms) = 0;
  /// Jobs running for longer than `timeout_ms` (a hung model) fail with "timeout" so their
  /// study does not stay pending forever; if the worker ever finishes, its late result is
  /// skipped (the job is no longer running). Returns how many timed out.
  virtual Result<int> FailStaleJobs(int64_t timeout_ms, int64_t now_ms) = 0;
  /// Queues `spec` jobs for every image of a study (rerun, e.g. with a newer model version).
  /// `specs_for` gives the models that apply to an instance (modality, SOP class, body part).
  virtual Result<int> EnqueueStudy(const std::string& study_uid,
                                   const std::function<std::vector<AiJobSpec>(
                                       const std::string& modality, const std::string& sop_class,
                                       const std::string& body_part)>& specs_for,
                                   int64_t now_ms) = 0;

  /// The reads of a study's or image's results take the caller's scope (store/scope.h): outside
  /// it, a study has no summary and no results.
  virtual Result<std::optional<StudyAiSummary>> StudySummary(const Scope& scope,
                                                             const std::string& study_uid) = 0;
  /// Jobs of a study still pending or running (cheap: no join, no per-image folding).
  virtual Result<int64_t> PendingJobs(const std::string& study_uid) = 0;
  /// Summaries of several studies at once (for a worklist page), by Study Instance UID.
  virtual Result<std::vector<std::pair<std::string, StudyAiSummary>>> StudySummaries(
      const Scope& scope, const std::vector<std::string>& study_uids) = 0;
  /// The latest job of each (image, model) of a study, with its result.
  virtual Result<std::vector<ImageAiResult>> StudyResults(const Scope& scope,
                                                          const std::string& study_uid) = 0;
  /// Every job of one image, newest first: the history across reruns and model versions.
  virtual Result<std::vector<ImageAiResult>> ImageHistory(const Scope& scope,
                                                          const std::string& sop_uid) = 0;

  /// Marks studies without a new instance for `quiet_ms` as stable; returns their UIDs.
  virtual Result<std::vector<std::string>> MarkStable(int64_t quiet_ms, int64_t now_ms) = 0;

  virtual Result<std::set<std::string>> DisabledModels() = 0;  // "name@version"
  virtual Status SetModelEnabled(const std::string& model_id, bool enabled, int64_t now_ms) = 0;

  struct QueueCounts {
    int64_t pending = 0;
    int64_t running = 0;
    int64_t done = 0;
    int64_t failed = 0;
  };
  virtual Result<QueueCounts> Counts() = 0;
};

}  // namespace dxhub::store
