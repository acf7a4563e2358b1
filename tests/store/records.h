#pragma once
// Index records for the store tests: one single-frame CT image of a study, with AI jobs.

#include <string>
#include <vector>

#include "store/study_index.h"

namespace dxhub::store::testing {

inline const AiJobSpec kModel{"m", "1"};

/// Image `sop` of `study` (series `study`.1), received at `at`, queueing `jobs`.
inline InstanceRecord Image(const std::string& study, const std::string& sop, int64_t at,
                            std::vector<AiJobSpec> jobs = {kModel}) {
  InstanceRecord r;
  r.info.patient_id = "P";
  r.info.study_uid = study;
  r.info.series_uid = study + ".1";
  r.info.modality = "CT";
  r.info.sop_uid = sop;
  r.info.sop_class_uid = "1.2.840.10008.5.1.4.1.1.2";
  r.info.frames = 1;
  r.blob_key = std::string(64 - sop.size(), 'b') + sop;
  r.sha256 = "x";
  r.received_ms = at;
  r.ai_jobs = std::move(jobs);
  return r;
}

}  // namespace dxhub::store::testing
