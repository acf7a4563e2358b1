#pragma once
// A signed radiology report as DICOM objects of its study, so that the PACS, any viewer and the
// requesting clinic find it where they look for everything else: a Basic Text SR structured as
// TID 2000 (Basic Diagnostic Imaging Report: findings and impressions sections, the person who
// wrote it, VERIFIED by the person who signed it) and an Encapsulated PDF of the printable page.
// An addendum is a new SR that names the versions before it (PredecessorDocumentsSequence);
// a signed object is never rewritten.

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace dxhub::dicom {

struct ReportDocument {
  std::string series_uid;  // one series per study holds every version's SR (modality SR)
  std::string sop_uid;
  int series_number = 0;
  std::string pdf_series_uid;  // and one every version's PDF (modality DOC)
  std::string pdf_sop_uid;
  int version = 1;  // 1 the report, 2.. addenda (InstanceNumber)
  /// The SR SOP Instance UIDs of the versions before this one (an addendum's predecessors).
  std::vector<std::string> predecessors;
  std::string author;        // PN of the reader, e.g. "Wang^Li" or a user name
  std::string organization;  // the reading institution (the verifying observer's)
  std::string requested_by;  // the requesting institution, for the printed page
  int64_t signed_ms = 0;     // verification date-time, ms since the epoch (UTC)
  std::string findings;
  std::string impression;
};

/// Writes `report` as a Basic Text SR at `dst` (explicit VR little endian, UTF-8, fsync'd),
/// with the patient and study of the image file `source_path`. kInvalidArgument for a bad UID
/// or an empty report.
Status WriteReportSr(const std::string& source_path, const ReportDocument& report,
                     const std::string& dst);

/// The printable page of `report` as a PDF, with the patient and study of `source_path`.
Result<std::string> RenderReportPdf(const std::string& source_path, const ReportDocument& report);

/// Writes `pdf` as an Encapsulated PDF object (`pdf_sop_uid` in `pdf_series_uid`) of the study of
/// `source_path` at `dst`, fsync'd.
Status WriteEncapsulatedPdf(const std::string& source_path, const ReportDocument& report,
                            const std::string& pdf, const std::string& dst);

/// The document an Encapsulated PDF object holds (its trailing pad byte removed).
Result<std::string> ReadEncapsulatedDocument(const std::string& path);

}  // namespace dxhub::dicom
