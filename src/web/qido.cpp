#include "web/qido.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "core/strings.h"
#include "store/query_keys.h"

namespace dxhub::web {
namespace {

using nlohmann::json;
using store::Filter;
using store::Level;

Error Bad(const std::string& what) {
  return MakeError(ErrorCode::kInvalidArgument, what);
}

Result<int> ParseCount(const std::string& name, const std::string& text, int max) {
  int v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v < 0 || v > max) {
    return Bad(name + " must be an integer between 0 and " + std::to_string(max));
  }
  return v;
}

json Attr(const char* vr, const json& values) {
  json a = {{"vr", vr}};
  if (!values.empty())
    a["Value"] = values;
  return a;
}

json Text(const char* vr, const std::string& v) {
  return Attr(vr, v.empty() ? json::array() : json::array({v}));
}

json Number(const char* vr, int64_t v) {
  return Attr(vr, json::array({v}));
}

}  // namespace

json PersonNameJson(const std::string& name) {
  if (name.empty())
    return Attr("PN", json::array());
  static const char* kGroups[] = {"Alphabetic", "Ideographic", "Phonetic"};
  json pn = json::object();
  size_t start = 0;
  for (int g = 0; g < 3 && start <= name.size(); ++g) {
    size_t end = name.find('=', start);
    if (end == std::string::npos)
      end = name.size();
    if (end > start)
      pn[kGroups[g]] = name.substr(start, end - start);
    start = end + 1;
  }
  return Attr("PN", json::array({pn}));
}

Result<QidoRequest> ParseQido(Level level, const std::multimap<std::string, std::string>& params,
                              std::vector<store::Filter> path_filters) {
  QidoRequest request;
  request.query.level = level;
  request.query.filters = std::move(path_filters);
  request.query.limit = 1000;
  for (const auto& [name, value] : params) {
    if (name == "limit") {
      auto v = ParseCount("limit", value, 10000);
      if (!v.ok())
        return v.error();
      request.query.limit = *v;
    } else if (name == "offset") {
      auto v = ParseCount("offset", value, 1 << 30);
      if (!v.ok())
        return v.error();
      request.query.offset = *v;
    } else if (name == "fuzzymatching") {
      if (value != "true" && value != "false")
        return Bad("fuzzymatching must be true or false");
      request.fuzzy_requested = value == "true";
    } else if (name == "includefield") {
      // Every indexed attribute is returned anyway; check the names so typos are reported.
      for (const auto& field : Split(value, ",")) {
        bool tag =
            field.size() == 8 && std::all_of(field.begin(), field.end(),
                                             [](unsigned char c) { return std::isxdigit(c); });
        bool keyword =
            !field.empty() && std::all_of(field.begin(), field.end(),
                                          [](unsigned char c) { return std::isalnum(c); });
        if (!(field == "all" || tag || keyword))
          return Bad("includefield: '" + field + "' is not an attribute keyword or tag");
      }
    } else {
      const store::QueryKey* key = store::FindQueryKey(name);
      if (key == nullptr)
        return Bad("unknown query parameter '" + name + "'");
      if (static_cast<int>(store::LevelOf(key->field)) > static_cast<int>(level)) {
        return Bad(std::string(key->keyword) + " cannot be matched in this query");
      }
      if (value.empty())
        continue;  // universal matching
      auto filter = store::ParseMatchValue(*key, value);
      if (!filter.ok())
        return filter.error();
      request.query.filters.push_back(std::move(filter.value()));
    }
  }
  return request;
}

json QidoResult(const store::QueryRow& row, Level level, const std::string& base_url) {
  const auto& st = row.study;
  const std::string study_url = base_url + "/studies/" + st.study_uid;
  json out = json::object();
  out["00080005"] = Text("CS", "ISO_IR 192");
  out["00080020"] = Text("DA", st.study_date);
  out["00080030"] = Text("TM", st.study_time);
  out["00080050"] = Text("SH", st.accession_number);
  out["00080061"] = Attr("CS", st.modalities);
  out["00080090"] = PersonNameJson(st.referring_physician);
  out["00081030"] = Text("LO", st.study_description);
  out["00100010"] = PersonNameJson(st.patient_name);
  out["00100020"] = Text("LO", st.patient_id);
  out["00100030"] = Text("DA", st.patient_birth_date);
  out["00100040"] = Text("CS", st.patient_sex);
  out["0020000D"] = Text("UI", st.study_uid);
  out["00200010"] = Text("SH", st.study_id);
  out["00201206"] = Number("IS", st.num_series);
  out["00201208"] = Number("IS", st.num_instances);
  out["00081190"] = Text("UR", study_url);
  if (level == Level::kStudy)
    return out;
  const auto& se = row.series;
  const std::string series_url = study_url + "/series/" + se.series_uid;
  out["00080060"] = Text("CS", se.modality);
  out["0008103E"] = Text("LO", se.series_description);
  out["00180015"] = Text("CS", se.body_part);
  out["0020000E"] = Text("UI", se.series_uid);
  out["00200011"] = Number("IS", se.series_number);
  out["00201209"] = Number("IS", se.num_instances);
  out["00081190"] = Text("UR", series_url);
  if (level == Level::kSeries)
    return out;
  const auto& in = row.instance;
  out["00080016"] = Text("UI", in.sop_class_uid);
  out["00080018"] = Text("UI", in.sop_uid);
  out["00083002"] = Text("UI", in.transfer_syntax_uid);
  out["00200013"] = Number("IS", in.instance_number);
  if (in.rows > 0)
    out["00280010"] = Number("US", in.rows);
  if (in.columns > 0)
    out["00280011"] = Number("US", in.columns);
  if (in.frames > 0)
    out["00280008"] = Number("IS", in.frames);
  out["00081190"] = Text("UR", series_url + "/instances/" + in.sop_uid);
  return out;
}

}  // namespace dxhub::web
