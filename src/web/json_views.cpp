#include "web/json_views.h"

#include "core/clock.h"

namespace dxhub::web {

nlohmann::json ToJson(const store::StudySummary& s) {
  return {
      {"study_instance_uid", s.study_uid},
      {"patient_id", s.patient_id},
      {"issuer_of_patient_id", s.issuer_of_patient_id},
      {"patient_name", s.patient_name},
      {"patient_birth_date", s.patient_birth_date},
      {"patient_sex", s.patient_sex},
      {"study_date", s.study_date},
      {"study_time", s.study_time},
      {"accession_number", s.accession_number},
      {"study_description", s.study_description},
      {"study_id", s.study_id},
      {"referring_physician", s.referring_physician},
      {"modalities", s.modalities},
      {"series_count", s.num_series},
      {"instance_count", s.num_instances},
      {"received_at", FormatIsoMillis(s.received_ms)},
      {"updated_at", FormatIsoMillis(s.updated_ms)},
      {"institution", s.institution},
  };
}

nlohmann::json ToJson(const store::StudyDetail& d) {
  nlohmann::json out = ToJson(d.study);
  nlohmann::json series = nlohmann::json::array();
  for (const auto& s : d.series) {
    nlohmann::json instances = nlohmann::json::array();
    for (const auto& i : s.instances) {
      instances.push_back({
          {"sop_instance_uid", i.sop_uid},
          {"sop_class_uid", i.sop_class_uid},
          {"instance_number", i.instance_number},
          {"transfer_syntax_uid", i.transfer_syntax_uid},
          {"rows", i.rows},
          {"columns", i.columns},
          {"frames", i.frames},
          {"size", i.size},
          {"received_at", FormatIsoMillis(i.received_ms)},
      });
    }
    series.push_back({
        {"series_instance_uid", s.series_uid},
        {"modality", s.modality},
        {"series_number", s.series_number},
        {"series_description", s.series_description},
        {"body_part", s.body_part},
        {"instance_count", s.num_instances},
        {"received_at", FormatIsoMillis(s.received_ms)},
        {"instances", std::move(instances)},
    });
  }
  out["series"] = std::move(series);
  return out;
}

nlohmann::json Time(int64_t ms) {
  return ms > 0 ? nlohmann::json(FormatIsoMillis(ms)) : nlohmann::json(nullptr);
}

nlohmann::json ToJson(const store::StudyAiSummary& s) {
  return {{"images", s.total},
          {"analysed", s.analysed},
          {"normal", s.normal},
          {"high_risk", s.high_risk},
          {"failed", s.failed},
          {"pending", s.pending},
          {"not_applicable", s.total - s.analysed - s.failed - s.pending},
          {"highest_risk", s.highest_risk},
          {"highest_risk_label", s.highest_risk_label},
          {"timestamps",
           {{"received", Time(s.received_ms)},
            {"stable", Time(s.stable_ms)},
            {"queued", Time(s.queued_ms)},
            {"inferred", Time(s.inferred_ms)}}}};
}

nlohmann::json ToJson(const store::ImageAiResult& r) {
  return {{"sop_instance_uid", r.sop_uid},
          {"series_instance_uid", r.series_uid},
          {"instance_number", r.instance_number},
          {"model", r.spec.model},
          {"model_version", r.spec.version},
          {"status", r.state},
          {"label", r.label},
          {"score", r.score},
          {"risk_score", r.risk_score},
          {"high_risk", r.high_risk},
          {"reason", r.reason},
          {"attempts", r.attempts},
          {"preprocess_ms", r.preprocess_ms},
          {"inference_ms", r.inference_ms},
          {"queued", Time(r.queued_ms)},
          {"finished", Time(r.finished_ms)}};
}

}  // namespace dxhub::web
