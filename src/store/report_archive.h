#pragma once
// Signing a report puts it into the study: the draft becomes a Basic Text SR and an
// Encapsulated PDF (dicom/report.h), ingested like any received instance, and only then is the
// version marked signed. A crash between the two leaves a draft whose objects are in the study
// already; signing again writes the same SOP Instance UIDs (they derive from the study and the
// version), so nothing is duplicated and nothing signed is ever rewritten.

#include <cstdint>
#include <string>

#include "core/result.h"
#include "store/archive.h"
#include "store/reading_store.h"
#include "store/scope.h"

namespace dxhub::store {

struct Signer {
  std::string username;
  std::string display_name;  // as the report names the reader; empty: the username
  std::string organization;  // the reader's institution; empty: dxhub's own name for the site
};

/// Signs `signer`'s draft `version` of the study (ReadingStore::Sign's rules), writing its SR
/// and PDF into the study first. kNotFound for a study outside `scope`.
Result<Report> SignReport(Archive& archive, const Scope& scope, const std::string& study_uid,
                          int version, const Signer& signer, int64_t now_ms);

/// The printable PDF of a signed version, read back from the study's Encapsulated PDF.
Result<std::string> ReportPdf(Archive& archive, const Scope& scope, const std::string& study_uid,
                              int version);

}  // namespace dxhub::store
