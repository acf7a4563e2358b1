#pragma once
// The printable page of a report, drawn with libharu. Private to src/dicom (report.cpp fills
// the page from the study's image and encapsulates the result).

#include <string>

#include "core/result.h"
#include "dicom/report.h"

namespace dxhub::dicom {

/// What the page prints about the patient and study, in UTF-8 as DICOM has them.
struct ReportPage {
  std::string patient_name;  // PN, components separated by '^'
  std::string patient_id;
  std::string issuer;
  std::string birth_date;  // YYYYMMDD
  std::string sex;
  std::string study_date;
  std::string study_description;
  std::string accession;
  std::string modality;
  std::string signed_at;  // YYYYMMDDHHMMSS
};

/// An A4 PDF (as many pages as the text needs): Helvetica for Latin text, SimSun (GBK) when any
/// Chinese is on the page; a character neither encodes prints as '?'.
Result<std::string> RenderReportPage(const ReportPage& page, const ReportDocument& report);

}  // namespace dxhub::dicom
