#pragma once
// Image processing as jobs: requests are validated and queued in the index's durable processing
// queue (store::ProcessingStore), worker threads claim them, run the operation on the series'
// volume (or frames, for DSA), report progress, and store the results: derived DICOM series
// ingested into the archive like any received image (bone-free CT, reformats, projections, DSA
// frames), and files under <data>/derived/<job>/ (meshes, centre-line JSON, previews).
//
// Operations and their parameters (JSON object, all optional):
//   bone    preset "cta" | "plain" (no arterial contrast); seed_hu, cortex_hu, rim_mm
//   lungs   -
//   vessels roi [i0, j0, k0, i1, j1, k1] (voxels), seeds [[x, y, z], ...] (mm),
//           sigma_min_mm, sigma_max_mm, scales
//   mesh    iso (HU, default 300), decimation (0-0.95), smoothing (iterations)
//   mpr     axis "axial" | "coronal" | "sagittal", offset_mm
//   mip, minip  axis, slab_mm (0: whole volume)
//   dsa     mask_frame, mask_average (frames), motion_correction (bool)

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "store/archive.h"

namespace dxhub::imaging {

struct ProcessingOptions {
  std::string derived_dir;  // where result files go, one folder per job
  int workers = 1;          // each holds a whole volume and its intermediates
  int max_attempts = 2;     // a job interrupted this often (crash, kill) fails for good
};

class ProcessingService {
 public:
  /// The operation names, for the API's error messages and the CLI.
  static const std::vector<std::string>& Operations();

  /// Recovers jobs a dead process left running and starts the workers.
  static Result<std::unique_ptr<ProcessingService>> Start(store::Archive& archive,
                                                          const Clock& clock,
                                                          ProcessingOptions options);
  ~ProcessingService();
  ProcessingService(const ProcessingService&) = delete;
  ProcessingService& operator=(const ProcessingService&) = delete;

  /// Validates and queues; kInvalidArgument for a bad request, kNotFound for an unknown series.
  Result<int64_t> Submit(const std::string& series_uid, const std::string& operation,
                         const std::string& params_json, const std::string& user);
  /// The path of result file `name` of job `job`; kNotFound when there is none (names are the
  /// job's own, never paths: "../x" is not found).
  Result<std::string> ResultFile(int64_t job, const std::string& name) const;

  /// Runs one job to its end on the calling thread (the CLI and tests); the job must be claimed.
  Status RunJob(const store::ProcessingJob& job);

  /// Stops the workers after their current job.
  void Stop();

  /// Jobs of dead nodes this node requeued since it started.
  int64_t taken_over() const { return taken_over_.load(); }

 private:
  ProcessingService(store::Archive& archive, const Clock& clock, ProcessingOptions options);
  void WorkerLoop();

  store::Archive& archive_;
  const Clock& clock_;
  const ProcessingOptions options_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mu_
  std::vector<std::thread> workers_;
  std::atomic<int64_t> taken_over_{0};
};

}  // namespace dxhub::imaging
