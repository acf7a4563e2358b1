#pragma once
// The AI pipeline: decides which models each new instance gets (the archive queues the jobs in
// the instance's own index transaction), runs worker threads that claim jobs from the durable
// queue, classify, and record results, and watches for studies that have gone quiet ("stable").

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "ai/model_card.h"
#include "core/clock.h"
#include "core/metrics.h"
#include "store/archive.h"

namespace dxhub::ai {

struct PipelineOptions {
  int workers = 1;       // classification threads, each with its own copy of every model; 0: none
  int threads = 0;       // OpenCV threads per forward pass; 0: OpenCV's default (all cores)
  int max_attempts = 3;  // for retryable failures (the model threw) and interrupted jobs
  int claim_batch = 4;   // jobs claimed (and their results committed) together
  int64_t stable_quiet_ms = 30000;  // a study is stable after this long without new images
  int64_t job_timeout_ms = 300000;  // a job running longer fails with "timeout"
  // Before each claim a worker waits for ingest to be quiet this long, for at most
  // yield_max_ms (0: never waits): see core/foreground_activity.h.
  int yield_quiet_ms = 200;
  int yield_max_ms = 2000;
};

/// The enabled models among `models` that apply to an image with these attributes: what the
/// pipeline (and `dxhub import`, which queues jobs without running them) plans per instance.
std::vector<store::AiJobSpec> PlanJobs(const std::vector<ModelCard>& models,
                                       const std::set<std::string>& disabled,
                                       const std::string& modality, const std::string& sop_class,
                                       const std::string& body_part);

/// A model as the pipeline sees it.
struct ModelStatus {
  ModelCard card;
  bool enabled = true;
};

class AiPipeline {
 public:
  /// Loads every model (each must load and match its card), recovers jobs a dead process left
  /// running, installs the job planner on `archive`, and starts the workers.
  static Result<std::unique_ptr<AiPipeline>> Start(store::Archive& archive,
                                                   std::vector<ModelCard> models,
                                                   const PipelineOptions& options,
                                                   const Clock& clock);
  ~AiPipeline();
  AiPipeline(const AiPipeline&) = delete;
  AiPipeline& operator=(const AiPipeline&) = delete;

  /// Stops the workers after their current job (results of finished jobs are committed; a job
  /// cut short stays running in the index and is resumed at the next start).
  void Stop();

  /// The enabled models that apply to an image with these attributes.
  std::vector<store::AiJobSpec> SpecsFor(const std::string& modality, const std::string& sop_class,
                                         const std::string& body_part) const;
  /// Queues every image of a study again with the enabled models (e.g. after a model update).
  Result<int> Rerun(const std::string& study_uid);

  std::vector<ModelStatus> Models() const;
  /// Prometheus text for /metrics: turnaround histograms and queue gauges.
  std::string MetricsText() const;
  /// Jobs of dead nodes this node requeued since it started.
  int64_t taken_over() const { return taken_over_.load(); }

 private:
  AiPipeline(store::Archive& archive, std::vector<ModelCard> models, const PipelineOptions& options,
             const Clock& clock);
  void WorkerLoop(int index);
  void WatchLoop();
  void YieldToIngest();
  void RefreshEnabled();
  void Wake();

  store::Archive& archive_;
  const std::vector<ModelCard> models_;
  const PipelineOptions options_;
  const Clock& clock_;

  mutable std::shared_mutex enabled_mu_;
  std::set<std::string> disabled_;  // guarded by enabled_mu_: "name@version"

  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  bool stopping_ = false;  // guarded by wake_mu_
  uint64_t wakeups_ = 0;   // guarded by wake_mu_: jobs queued since the workers last looked

  std::vector<std::thread> workers_;
  std::thread watcher_;
  std::atomic<int64_t> taken_over_{0};

  Histogram scan_to_result_;
  Histogram inference_;
  Histogram received_to_stable_;
  Histogram received_to_inferred_;
};

}  // namespace dxhub::ai
