#include "ai/pipeline.h"

#include <spdlog/spdlog.h>

#include <map>
#include <sstream>

#include "ai/classifier.h"
#include "core/fs.h"
#include "core/thread_priority.h"

namespace dxhub::ai {
namespace {

store::AiOutcome ToOutcome(const ImageResult& r, int attempts, int max_attempts) {
  store::AiOutcome o;
  o.frames = r.frames_analysed;
  o.preprocess_ms = r.preprocess_ms;
  o.inference_ms = r.inference_ms;
  if (r.failure) {
    o.analysed = false;
    o.retry = r.failure->retryable() && attempts < max_attempts;
    o.reason = r.failure->KindName() + ": " + r.failure->message;
    return o;
  }
  o.analysed = true;
  o.label = r.prediction.label;
  o.score = r.prediction.score;
  o.risk_score = r.prediction.risk_score;
  o.high_risk = r.prediction.high_risk;
  return o;
}

}  // namespace

std::vector<store::AiJobSpec> PlanJobs(const std::vector<ModelCard>& models,
                                       const std::set<std::string>& disabled,
                                       const std::string& modality, const std::string& sop_class,
                                       const std::string& body_part) {
  std::vector<store::AiJobSpec> specs;
  for (const auto& card : models) {
    if (!disabled.count(card.Id()) && AppliesTo(card, modality, sop_class, body_part))
      specs.push_back({card.name, card.version});
  }
  return specs;
}

AiPipeline::AiPipeline(store::Archive& archive, std::vector<ModelCard> models,
                       const PipelineOptions& options, const Clock& clock)
    : archive_(archive),
      models_(std::move(models)),
      options_(options),
      clock_(clock),
      scan_to_result_("dxhub_ai_scan_to_result_seconds",
                      "From an image's arrival to its AI result being recorded", LatencyBuckets()),
      inference_("dxhub_ai_inference_seconds", "Model run time per image (all frames)",
                 LatencyBuckets()),
      received_to_stable_("dxhub_study_received_to_stable_seconds",
                          "From a study's first image to the study being stable", LatencyBuckets()),
      received_to_inferred_("dxhub_study_received_to_inferred_seconds",
                            "From a study's first image to its last AI result", LatencyBuckets()) {}

Result<std::unique_ptr<AiPipeline>> AiPipeline::Start(store::Archive& archive,
                                                      std::vector<ModelCard> models,
                                                      const PipelineOptions& options,
                                                      const Clock& clock) {
  // A model that does not load (or does not match its card) is left out with an error in the
  // log: one researcher's broken model must not stop the archive. Its jobs are not planned.
  std::vector<ModelCard> usable;
  for (auto& card : models) {
    auto probe = Classifier::Load(card, BackendOptions{options.threads});
    if (!probe.ok()) {
      spdlog::error("ai: model {} left out: {}", card.Id(), probe.error().message);
      continue;
    }
    spdlog::info("ai: model {} ready ({}x{}x{}, labels: {})", card.Id(), card.channels, card.height,
                 card.width, card.labels.size());
    usable.push_back(std::move(card));
  }
  models = std::move(usable);
  auto recovered = archive.index().ai().RecoverInterrupted(options.max_attempts, clock.NowMillis());
  if (!recovered.ok())
    return recovered.error();
  if (*recovered > 0)
    spdlog::info("ai: {} interrupted jobs back in the queue", *recovered);
  std::unique_ptr<AiPipeline> p(new AiPipeline(archive, std::move(models), options, clock));
  // Requeued at start (a dead node's jobs whose lease ran out, this node's own from its previous
  // process): takeovers like the watch loop's, and counted with them on the cluster page.
  p->taken_over_ += *recovered;
  p->RefreshEnabled();
  archive.SetJobPlanner(
      [raw = p.get()](const dicom::InstanceInfo& info) {
        return raw->SpecsFor(info.modality, info.sop_class_uid, info.body_part);
      },
      [raw = p.get()] { raw->Wake(); });
  for (int i = 0; i < options.workers; ++i)  // 0: this node only queues jobs
    p->workers_.emplace_back([raw = p.get(), i] { raw->WorkerLoop(i); });
  p->watcher_ = std::thread([raw = p.get()] { raw->WatchLoop(); });
  return p;
}

AiPipeline::~AiPipeline() {
  Stop();
}

void AiPipeline::Stop() {
  {
    std::lock_guard lock(wake_mu_);
    if (stopping_)
      return;
    stopping_ = true;
  }
  archive_.SetJobPlanner(nullptr);
  wake_cv_.notify_all();
  for (auto& w : workers_)
    w.join();
  if (watcher_.joinable())
    watcher_.join();
}

void AiPipeline::Wake() {
  {
    std::lock_guard lock(wake_mu_);
    ++wakeups_;
  }
  wake_cv_.notify_all();
}

std::vector<store::AiJobSpec> AiPipeline::SpecsFor(const std::string& modality,
                                                   const std::string& sop_class,
                                                   const std::string& body_part) const {
  std::shared_lock lock(enabled_mu_);
  return PlanJobs(models_, disabled_, modality, sop_class, body_part);
}

Result<int> AiPipeline::Rerun(const std::string& study_uid) {
  auto queued = archive_.index().ai().EnqueueStudy(
      study_uid,
      [this](const std::string& modality, const std::string& sop_class,
             const std::string& body_part) { return SpecsFor(modality, sop_class, body_part); },
      clock_.NowMillis());
  if (queued.ok() && *queued > 0)
    Wake();
  return queued;
}

std::vector<ModelStatus> AiPipeline::Models() const {
  std::vector<ModelStatus> out;
  std::shared_lock lock(enabled_mu_);
  for (const auto& card : models_)
    out.push_back({card, !disabled_.count(card.Id())});
  return out;
}

void AiPipeline::RefreshEnabled() {
  auto disabled = archive_.index().ai().DisabledModels();
  if (!disabled.ok()) {
    spdlog::warn("ai: cannot read disabled models: {}", disabled.error().message);
    return;
  }
  std::unique_lock lock(enabled_mu_);
  disabled_ = std::move(disabled.value());
}

void AiPipeline::WorkerLoop(int index) {
  NameThisThread("ai-" + std::to_string(index));
  if (Status lowered = LowerThisThreadPriority(); !lowered.ok())
    spdlog::warn("ai: worker {}: {}", index, lowered.error().message);
  // Each worker owns its networks: OpenCV's Net is not safe to share between threads.
  std::map<std::string, std::unique_ptr<Classifier>> classifiers;
  for (const auto& card : models_) {
    auto loaded = Classifier::Load(card, BackendOptions{options_.threads});
    if (loaded.ok()) {
      classifiers[card.Id()] = std::move(loaded.value());
    } else {
      spdlog::error("ai: worker {} cannot load {}: {}", index, card.Id(), loaded.error().message);
    }
  }
  store::AiStore& queue = archive_.index().ai();
  for (;;) {
    uint64_t seen = 0;
    {
      std::lock_guard lock(wake_mu_);
      if (stopping_)
        return;
      seen = wakeups_;
    }
    YieldToIngest();
    auto jobs = queue.ClaimJobs(options_.claim_batch, clock_.NowMillis());
    if (!jobs.ok())
      spdlog::error("ai: cannot claim jobs: {}", jobs.error().message);
    if (!jobs.ok() || jobs->empty()) {
      std::unique_lock lock(wake_mu_);
      wake_cv_.wait_for(lock, std::chrono::milliseconds(500),
                        [&] { return stopping_ || wakeups_ != seen; });
      continue;
    }
    std::vector<store::AiStore::Completed> done;
    std::vector<int64_t> received;
    bool requeued_not_ready = false;
    // Images of the same model go through one ClassifyMany call (one forward pass where the
    // model takes a batch).
    const size_t count = jobs->size();
    std::vector<ImageResult> results(count);
    std::vector<bool> not_ready(count, false), no_model(count, false);
    std::map<Classifier*, std::vector<size_t>> groups;
    for (size_t k = 0; k < count; ++k) {
      const auto& job = (*jobs)[k];
      if (!fs::Exists(archive_.blobs().PathOf(job.blob_key))) {
        // Committed to the index a moment before its blob was renamed into place (see
        // store/archive.h), or claimed by a poll in that window: not ready, not a failure.
        not_ready[k] = true;
        continue;
      }
      auto it = classifiers.find(job.spec.model + "@" + job.spec.version);
      if (it == classifiers.end()) {
        no_model[k] = true;
        results[k].failure = ClassifyFailure{
            ClassifyFailure::Kind::kModel,
            "model " + job.spec.model + "@" + job.spec.version + " is not loaded on this server"};
        continue;
      }
      groups[it->second.get()].push_back(k);
    }
    for (const auto& [classifier, members] : groups) {
      std::vector<std::pair<std::string, int>> images;
      images.reserve(members.size());
      for (size_t k : members)
        images.emplace_back(archive_.blobs().PathOf((*jobs)[k].blob_key), (*jobs)[k].frames);
      auto classified = classifier->ClassifyMany(images);
      for (size_t m = 0; m < members.size(); ++m)
        results[members[m]] = std::move(classified[m]);
    }
    for (size_t k = 0; k < count; ++k) {
      const auto& job = (*jobs)[k];
      store::AiOutcome outcome;
      if (not_ready[k]) {
        outcome.retry = true;
        outcome.not_ready = true;
        requeued_not_ready = true;
      } else {
        if (!results[k].failure)
          inference_.Observe(results[k].inference_ms / 1000.0);
        outcome = ToOutcome(results[k], job.attempts, options_.max_attempts);
        if (no_model[k])
          outcome.retry = false;  // it will not appear by retrying
        if (!outcome.analysed) {
          spdlog::warn("ai: {} on {}: {}{}", job.spec.model, job.sop_uid, outcome.reason,
                       outcome.retry ? " (will retry)" : "");
        }
      }
      done.push_back({job.id, std::move(outcome)});
      received.push_back(job.received_ms);
    }
    const int64_t now = clock_.NowMillis();
    auto recorded = queue.CompleteJobs(done, now);
    if (!recorded.ok()) {
      spdlog::error("ai: cannot record results: {}", recorded.error().message);
      continue;  // the jobs stay running and are retried after a restart
    }
    if (requeued_not_ready)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::set<std::string> studies;
    for (size_t i = 0; i < done.size(); ++i) {
      if (!done[i].outcome.retry) {
        scan_to_result_.Observe(static_cast<double>(now - received[i]) / 1000.0);
        studies.insert((*jobs)[i].study_uid);
      }
    }
    for (const auto& uid : studies) {
      // The full summary only once the study's last job is done, not after every batch.
      auto pending = queue.PendingJobs(uid);
      if (!pending.ok() || *pending > 0)
        continue;
      auto summary = queue.StudySummary(store::Scope::Everything(), uid);
      if (summary.ok() && summary->has_value() && (*summary)->pending == 0) {
        received_to_inferred_.Observe(
            static_cast<double>((*summary)->inferred_ms - (*summary)->received_ms) / 1000.0);
      }
    }
  }
}

void AiPipeline::YieldToIngest() {
  if (options_.yield_max_ms <= 0)
    return;
  archive_.ingest_activity().WaitForQuiet(std::chrono::milliseconds(options_.yield_quiet_ms),
                                          std::chrono::milliseconds(options_.yield_max_ms), [&] {
                                            std::lock_guard lock(wake_mu_);
                                            return stopping_;
                                          });
}

void AiPipeline::WatchLoop() {
  NameThisThread("ai-watch");
  for (;;) {
    {
      std::unique_lock lock(wake_mu_);
      wake_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
      if (stopping_)
        return;
    }
    RefreshEnabled();
    const int64_t now = clock_.NowMillis();
    auto timed_out = archive_.index().ai().FailStaleJobs(options_.job_timeout_ms, now);
    if (timed_out.ok() && *timed_out > 0) {
      spdlog::error(
          "ai: {} job(s) failed with a timeout (a model ran longer than {} s); their "
          "worker is still busy with it",
          *timed_out, options_.job_timeout_ms / 1000);
    }
    auto taken = archive_.index().ai().TakeOverExpired(options_.max_attempts, now);
    if (taken.ok() && *taken > 0) {
      taken_over_ += *taken;
      spdlog::warn("ai: took over {} job(s) whose node stopped renewing its claim", *taken);
    }
    auto stable = archive_.index().ai().MarkStable(options_.stable_quiet_ms, now);
    if (!stable.ok()) {
      spdlog::warn("ai: stable-study check failed: {}", stable.error().message);
      continue;
    }
    for (const auto& uid : *stable) {
      auto summary = archive_.index().ai().StudySummary(store::Scope::Everything(), uid);
      if (summary.ok() && summary->has_value()) {
        received_to_stable_.Observe(static_cast<double>(now - (*summary)->received_ms) / 1000.0);
        spdlog::info("ai: study {} stable: {} images, {} high-risk, {} pending", uid,
                     (*summary)->total, (*summary)->high_risk, (*summary)->pending);
      }
    }
  }
}

std::string AiPipeline::MetricsText() const {
  std::ostringstream out;
  out << scan_to_result_.Render() << inference_.Render() << received_to_stable_.Render()
      << received_to_inferred_.Render();
  auto counts = archive_.index().ai().Counts();
  if (counts.ok()) {
    out << "# HELP dxhub_ai_jobs AI jobs in the queue by state\n# TYPE dxhub_ai_jobs gauge\n";
    out << "dxhub_ai_jobs{state=\"pending\"} " << counts->pending << "\n";
    out << "dxhub_ai_jobs{state=\"running\"} " << counts->running << "\n";
    out << "dxhub_ai_jobs{state=\"done\"} " << counts->done << "\n";
    out << "dxhub_ai_jobs{state=\"failed\"} " << counts->failed << "\n";
  }
  return out.str();
}

}  // namespace dxhub::ai
