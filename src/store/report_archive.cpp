#include "store/report_archive.h"

#include "dicom/instance.h"
#include "dicom/report.h"

namespace dxhub::store {
namespace {

// The series every version of a study's report goes into (one for the SRs, one for the PDFs).
constexpr int kReportSeriesNumber = 9800;

std::string ReportUid(const std::string& study_uid, const std::string& what) {
  return dicom::UidFromText("dxhub-report|" + study_uid + "|" + what);
}

// A stored instance of the study, whose patient and study attributes the report copies.
Result<std::string> SourcePath(Archive& archive, const Scope& scope, const std::string& study_uid) {
  IndexQuery query;
  query.level = Level::kInstance;
  query.filters.push_back({Field::kStudyUid, Filter::Kind::kExact, {study_uid}});
  query.limit = 1;
  auto rows = archive.index().Query(scope, query);
  if (!rows.ok())
    return rows.error();
  if (rows->empty())
    return MakeError(ErrorCode::kNotFound, "no such study");
  return archive.blobs().PathOf(rows->front().blob_key);
}

}  // namespace

Result<Report> SignReport(Archive& archive, const Scope& scope, const std::string& study_uid,
                          int version, const Signer& signer, int64_t now_ms) {
  ReadingStore& reading = archive.index().reading();
  // Outside the scope the study does not exist, whatever its drafts.
  auto source = SourcePath(archive, scope, study_uid);
  if (!source.ok())
    return source.error();
  auto reports = reading.Reports(scope, study_uid, /*drafts=*/true);
  if (!reports.ok())
    return reports.error();
  const Report* draft = nullptr;
  dicom::ReportDocument doc;
  for (const auto& r : *reports) {
    if (r.version == version && r.status == "draft")
      draft = &r;
    else if (r.status == "signed" && r.version < version)
      doc.predecessors.push_back(r.sr_uid);
  }
  if (draft == nullptr)
    return MakeError(ErrorCode::kConflict, "no draft of version " + std::to_string(version));
  if (draft->author != signer.username)
    return MakeError(ErrorCode::kConflict, "the draft is " + draft->author + "'s to sign");
  if (draft->findings.empty() && draft->impression.empty())
    return MakeError(ErrorCode::kInvalidArgument, "write findings or an impression first");

  std::string requested_by;
  if (draft->request != 0) {
    auto request = reading.Get(scope, draft->request, now_ms);
    if (request.ok() && request->has_value())
      requested_by = (*request)->institution_name;
  }
  const std::string v = std::to_string(version);
  doc.series_uid = ReportUid(study_uid, "sr-series");
  doc.sop_uid = ReportUid(study_uid, "sr|" + v);
  doc.pdf_series_uid = ReportUid(study_uid, "pdf-series");
  doc.pdf_sop_uid = ReportUid(study_uid, "pdf|" + v);
  doc.series_number = kReportSeriesNumber;
  doc.version = version;
  doc.author = signer.display_name.empty() ? signer.username : signer.display_name;
  doc.organization = signer.organization.empty() ? "dxhub" : signer.organization;
  doc.requested_by = requested_by;
  doc.signed_ms = now_ms;
  doc.findings = draft->findings;
  doc.impression = draft->impression;

  const std::string sr_path = archive.NewTempPath();
  DXHUB_TRY(dicom::WriteReportSr(*source, doc, sr_path));
  auto sr = archive.Ingest(sr_path, IngestContext{"report", doc.sop_uid, "", false, {}});
  if (!sr.ok())
    return sr.error();
  auto pdf = dicom::RenderReportPdf(*source, doc);
  if (!pdf.ok())
    return pdf.error();
  const std::string pdf_path = archive.NewTempPath();
  DXHUB_TRY(dicom::WriteEncapsulatedPdf(*source, doc, *pdf, pdf_path));
  auto stored = archive.Ingest(pdf_path, IngestContext{"report", doc.pdf_sop_uid, "", false, {}});
  if (!stored.ok())
    return stored.error();
  return reading.Sign(scope, study_uid, version, signer.username, doc.sop_uid, doc.pdf_sop_uid,
                      now_ms);
}

Result<std::string> ReportPdf(Archive& archive, const Scope& scope, const std::string& study_uid,
                              int version) {
  auto reports = archive.index().reading().Reports(scope, study_uid, /*drafts=*/false);
  if (!reports.ok())
    return reports.error();
  for (const auto& r : *reports) {
    if (r.version != version || r.pdf_uid.empty())
      continue;
    IndexQuery query;
    query.level = Level::kInstance;
    query.filters.push_back({Field::kStudyUid, Filter::Kind::kExact, {study_uid}});
    query.filters.push_back({Field::kSopUid, Filter::Kind::kExact, {r.pdf_uid}});
    query.limit = 1;
    auto rows = archive.index().Query(scope, query);
    if (!rows.ok())
      return rows.error();
    if (rows->empty())
      return MakeError(ErrorCode::kNotFound, "the report's PDF is not in the study");
    return dicom::ReadEncapsulatedDocument(archive.blobs().PathOf(rows->front().blob_key));
  }
  return MakeError(ErrorCode::kNotFound, "no signed report of version " + std::to_string(version));
}

}  // namespace dxhub::store
