#pragma once
// The image-processing side of the index: a durable queue of operations on series (one job =
// one operation with its parameters on one series), their progress and their results. In the
// index database, so a job the API accepted survives a crash and is resumed.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace dxhub::store {

struct ProcessingRequest {
  std::string series_uid;
  std::string operation;
  std::string params_json = "{}";
  std::string requested_by;
};

struct ProcessingJob {
  int64_t id = 0;
  std::string series_uid;
  std::string study_uid;
  std::string operation;
  std::string params_json;
  std::string state;  // pending, running, done, failed
  double progress = 0;
  std::string stage;
  int attempts = 0;
  std::string requested_by;
  std::string error;
  std::string result_json;
  int64_t created_ms = 0;
  int64_t started_ms = 0;   // 0 until claimed
  int64_t finished_ms = 0;  // 0 until done or failed
};

class ProcessingStore {
 public:
  virtual ~ProcessingStore() = default;

  /// Queues a job; kNotFound when the series is not in the index.
  virtual Result<int64_t> Enqueue(const ProcessingRequest& request, int64_t now_ms) = 0;
  /// Claims the oldest pending job (running, one more attempt); nullopt when none is pending.
  virtual Result<std::optional<ProcessingJob>> Claim(int64_t now_ms) = 0;
  /// Records how far a running job has got.
  virtual Status Progress(int64_t id, double progress, const std::string& stage) = 0;
  /// Ends a running job: done with its result, or failed with the reason.
  virtual Status Finish(int64_t id, bool done, const std::string& error,
                        const std::string& result_json, int64_t now_ms) = 0;
  /// At start-up: jobs this node's previous process left running go back to pending, or fail once
  /// they have had `max_attempts` (an operation that kills the process must not loop forever).
  virtual Result<int> RecoverInterrupted(int max_attempts, int64_t now_ms) = 0;
  /// While running, periodically: jobs whose claim's lease ran out (their node died) go back
  /// to pending for any node, once, or fail after `max_attempts`.
  virtual Result<int> TakeOverExpired(int max_attempts, int64_t now_ms) = 0;

  virtual Result<std::optional<ProcessingJob>> Find(int64_t id) = 0;
  /// A series' jobs, newest first.
  virtual Result<std::vector<ProcessingJob>> ForSeries(const std::string& series_uid) = 0;
};

}  // namespace dxhub::store
