#include "store/query_keys.h"

#include <algorithm>
#include <cctype>

#include "core/strings.h"
#include "core/uid.h"

namespace dxhub::store {
namespace {

constexpr QueryKey kKeys[] = {
    {"PatientID", 0x00100020, Field::kPatientId, "LO"},
    {"PatientName", 0x00100010, Field::kPatientName, "PN"},
    {"PatientBirthDate", 0x00100030, Field::kPatientBirthDate, "DA"},
    {"PatientSex", 0x00100040, Field::kPatientSex, "CS"},
    {"StudyInstanceUID", 0x0020000D, Field::kStudyUid, "UI"},
    {"StudyDate", 0x00080020, Field::kStudyDate, "DA"},
    {"StudyTime", 0x00080030, Field::kStudyTime, "TM"},
    {"AccessionNumber", 0x00080050, Field::kAccessionNumber, "SH"},
    {"StudyID", 0x00200010, Field::kStudyId, "SH"},
    {"StudyDescription", 0x00081030, Field::kStudyDescription, "LO"},
    {"ReferringPhysicianName", 0x00080090, Field::kReferringPhysician, "PN"},
    {"ModalitiesInStudy", 0x00080061, Field::kModalitiesInStudy, "CS"},
    {"SeriesInstanceUID", 0x0020000E, Field::kSeriesUid, "UI"},
    {"Modality", 0x00080060, Field::kModality, "CS"},
    {"SeriesNumber", 0x00200011, Field::kSeriesNumber, "IS"},
    {"SeriesDescription", 0x0008103E, Field::kSeriesDescription, "LO"},
    {"BodyPartExamined", 0x00180015, Field::kBodyPart, "CS"},
    {"SOPInstanceUID", 0x00080018, Field::kSopUid, "UI"},
    {"SOPClassUID", 0x00080016, Field::kSopClassUid, "UI"},
    {"InstanceNumber", 0x00200013, Field::kInstanceNumber, "IS"},
};

bool AllDigits(const std::string& s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

Error Bad(const std::string& what) {
  return MakeError(ErrorCode::kInvalidArgument, what);
}

}  // namespace

const QueryKey* FindQueryKey(std::string_view name) {
  std::string upper(name);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return std::toupper(c); });
  for (const auto& k : kKeys) {
    char hex[9];
    std::snprintf(hex, sizeof hex, "%08X", k.tag);
    if (name == k.keyword || upper == hex)
      return &k;
  }
  return nullptr;
}

const QueryKey* FindQueryKey(uint32_t tag) {
  for (const auto& k : kKeys) {
    if (k.tag == tag)
      return &k;
  }
  return nullptr;
}

Result<Filter> ParseMatchValue(const QueryKey& key, const std::string& value) {
  const std::string vr = key.vr;
  const std::string name = key.keyword;
  if (vr == "UI") {
    Filter f{key.field, Filter::Kind::kList, {}};
    for (auto& uid : Split(value, ",\\")) {
      Status valid = ValidateUid(uid, name);
      if (!valid.ok())
        return Bad(valid.error().message);
      f.values.push_back(std::move(uid));
    }
    return f;
  }
  if (vr == "DA" || vr == "TM") {
    auto valid = [&](const std::string& v) {
      if (v.empty())
        return true;
      if (vr == "DA")
        return v.size() == 8 && AllDigits(v);
      std::string digits = v.substr(0, v.find('.'));
      return AllDigits(digits) && digits.size() <= 6 && digits.size() % 2 == 0;
    };
    const char* form = vr == "DA" ? "YYYYMMDD" : "HHMMSS";
    size_t dash = value.find('-');
    if (dash == std::string::npos) {
      if (!valid(value))
        return Bad(name + " must be " + form + " or a range");
      return Filter{key.field, Filter::Kind::kExact, {value}};
    }
    std::string low = value.substr(0, dash), high = value.substr(dash + 1);
    if (!valid(low) || !valid(high) || (low.empty() && high.empty()))
      return Bad(name + " range must be " + form + "-" + form);
    if (vr == "TM" && !high.empty() && high.find('.') == std::string::npos) {
      // "-1200" includes 12:00:59.999999: pad the upper bound to the end of its precision.
      high += std::string(6 - std::min<size_t>(6, high.size()), '9') + ".999999";
    }
    return Filter{key.field, Filter::Kind::kRange, {low, high}};
  }
  if (vr == "IS") {
    if (!AllDigits(value))
      return Bad(name + " must be an integer");
    return Filter{key.field, Filter::Kind::kExact, {value}};
  }
  bool wildcard = value.find_first_of("*?") != std::string::npos;
  return Filter{key.field, wildcard ? Filter::Kind::kWildcard : Filter::Kind::kExact, {value}};
}

std::string RowValue(const QueryRow& row, Field field) {
  const auto& st = row.study;
  switch (field) {
    case Field::kPatientId:
      return st.patient_id;
    case Field::kPatientName:
      return st.patient_name;
    case Field::kPatientBirthDate:
      return st.patient_birth_date;
    case Field::kPatientSex:
      return st.patient_sex;
    case Field::kStudyUid:
      return st.study_uid;
    case Field::kStudyDate:
      return st.study_date;
    case Field::kStudyTime:
      return st.study_time;
    case Field::kAccessionNumber:
      return st.accession_number;
    case Field::kStudyId:
      return st.study_id;
    case Field::kStudyDescription:
      return st.study_description;
    case Field::kReferringPhysician:
      return st.referring_physician;
    case Field::kModalitiesInStudy: {
      std::string joined;
      for (const auto& m : st.modalities)
        joined += (joined.empty() ? "" : "\\") + m;
      return joined;
    }
    case Field::kSeriesUid:
      return row.series.series_uid;
    case Field::kModality:
      return row.series.modality;
    case Field::kSeriesNumber:
      return std::to_string(row.series.series_number);
    case Field::kSeriesDescription:
      return row.series.series_description;
    case Field::kBodyPart:
      return row.series.body_part;
    case Field::kSopUid:
      return row.instance.sop_uid;
    case Field::kSopClassUid:
      return row.instance.sop_class_uid;
    case Field::kInstanceNumber:
      return std::to_string(row.instance.instance_number);
  }
  return {};
}

}  // namespace dxhub::store
