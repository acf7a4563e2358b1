#include "app/find_index.h"

#include <set>

#include "store/query_keys.h"

namespace dxhub::app {
namespace {

constexpr uint32_t kRetrieveAet = 0x00080054;
constexpr uint32_t kStudySeriesCount = 0x00201206;
constexpr uint32_t kStudyInstanceCount = 0x00201208;
constexpr uint32_t kSeriesInstanceCount = 0x00201209;

}  // namespace

Result<store::IndexQuery> IdentifierToQuery(const dicom::FindQuery& query) {
  store::IndexQuery q;
  q.limit = 100000;  // C-FIND has no paging; this bounds one answer
  if (query.level == "PATIENT" || query.level == "STUDY") {
    q.level = store::Level::kStudy;
  } else if (query.level == "SERIES") {
    q.level = store::Level::kSeries;
  } else if (query.level == "IMAGE") {
    q.level = store::Level::kInstance;
  } else {
    return MakeError(ErrorCode::kMissingAttribute,
                     "QueryRetrieveLevel must be PATIENT, STUDY, SERIES or IMAGE");
  }
  for (const auto& [tag, value] : query.keys) {
    const store::QueryKey* key = store::FindQueryKey(tag);
    if (key == nullptr || value.empty())
      continue;  // a return key, or one we do not index: answered empty
    if (static_cast<int>(store::LevelOf(key->field)) > static_cast<int>(q.level))
      continue;  // below the query level: not a matching key here
    auto filter = store::ParseMatchValue(*key, value);
    if (!filter.ok())
      return filter.error();
    q.filters.push_back(std::move(filter.value()));
  }
  return q;
}

namespace {

// What a DICOM node sees: the studies of the institution its AE title (from its address) sends
// for, and of those that institution reads for; a node of no institution sees everything (it was
// let in as a query peer by the administrator).
Result<store::Scope> ScopeOfCaller(store::StudyIndex& index, const dicom::FindQuery& query) {
  auto institution = index.institutions().SenderInstitution(query.calling_aet, query.peer_ip);
  if (!institution.ok())
    return institution.error();
  return index.institutions().ScopeOf(*institution);
}

}  // namespace

Result<std::vector<dicom::FindMatch>> FindIndex::Find(const dicom::FindQuery& query) {
  auto parsed = IdentifierToQuery(query);
  if (!parsed.ok())
    return parsed.error();
  const store::IndexQuery& q = *parsed;
  const bool patient_level = query.level == "PATIENT";
  auto scope = ScopeOfCaller(index_, query);
  if (!scope.ok())
    return scope.error();
  auto rows = index_.Query(*scope, q);
  if (!rows.ok())
    return rows.error();

  std::vector<dicom::FindMatch> matches;
  std::set<std::string> patients_seen;
  for (const auto& row : *rows) {
    if (patient_level &&
        !patients_seen.insert(row.study.patient_id + '\\' + row.study.issuer_of_patient_id).second)
      continue;  // one answer per patient: (PatientID, IssuerOfPatientID)
    dicom::FindMatch match;
    for (const auto& [tag, value] : query.keys) {
      std::string answer;
      if (const store::QueryKey* key = store::FindQueryKey(tag)) {
        if (static_cast<int>(store::LevelOf(key->field)) <= static_cast<int>(q.level))
          answer = store::RowValue(row, key->field);
      } else if (tag == kRetrieveAet) {
        answer = aet_;
      } else if (tag == kStudySeriesCount) {
        answer = std::to_string(row.study.num_series);
      } else if (tag == kStudyInstanceCount) {
        answer = std::to_string(row.study.num_instances);
      } else if (tag == kSeriesInstanceCount && q.level != store::Level::kStudy) {
        answer = std::to_string(row.series.num_instances);
      }
      match.emplace_back(tag, std::move(answer));
    }
    matches.push_back(std::move(match));
  }
  return matches;
}

Result<std::vector<dicom::OutgoingInstance>> MoveIndex::Resolve(const dicom::FindQuery& query) {
  auto parsed = IdentifierToQuery(query);
  if (!parsed.ok())
    return parsed.error();
  store::IndexQuery q = std::move(parsed.value());
  if (q.filters.empty()) {
    // A C-MOVE names what to move by its unique keys; an empty identifier would send the archive.
    return MakeError(ErrorCode::kMissingAttribute, "C-MOVE identifier selects nothing");
  }
  q.level = store::Level::kInstance;
  q.limit = 1 << 30;
  auto scope = ScopeOfCaller(index_, query);
  if (!scope.ok())
    return scope.error();
  auto rows = index_.Query(*scope, q);
  if (!rows.ok())
    return rows.error();
  std::vector<dicom::OutgoingInstance> out;
  out.reserve(rows->size());
  for (const auto& r : *rows) {
    out.push_back({blobs_.PathOf(r.blob_key), r.instance.sop_class_uid, r.instance.sop_uid,
                   r.instance.transfer_syntax_uid, r.study.study_uid});
  }
  return out;
}

std::optional<dicom::RemoteNode> MoveIndex::Destination(const std::string& aet) {
  auto ae = peers_.FindByAet(aet);
  if (!ae)
    return std::nullopt;
  return dicom::RemoteNode{ae->aet,
                           ae->host,
                           ae->port,
                           ae->tls,
                           ae->ca,
                           ae->tls ? client_cert_ : "",
                           ae->tls ? client_key_ : ""};
}

}  // namespace dxhub::app
