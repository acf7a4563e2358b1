#include "web/json_views.h"

#include "core/clock.h"

namespace dxhub::web {

nlohmann::json ToJson(const store::StudySummary& s) {
  return {
      {"study_instance_uid", s.study_uid},
      {"patient_id", s.patient_id},
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

}  // namespace dxhub::web
