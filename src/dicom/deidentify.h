#pragma once
// De-identification for research and teaching, after DICOM PS3.15 Annex E: the Basic
// Application Level Confidentiality Profile (table E.1-1) with the options a researcher picks
// per export (Retain Longitudinal Temporal Information with Full Dates, Retain Patient
// Characteristics, Clean Descriptors). Identifying UIDs and the patient's name and ID become
// pseudonyms from a keyed hash (HMAC-SHA256 with a key the server keeps), so one patient gets
// the same pseudonym in every export of a project and no one without the key can reverse it.
// Images that may carry identifying text in their pixels are refused, never exported.

#include <string>
#include <vector>

#include "core/result.h"

namespace dxhub::dicom {

struct DeidOptions {
  bool retain_dates = false;                    // Retain Longitudinal Temporal Info, Full Dates
  bool retain_patient_characteristics = false;  // sex, age, size, weight, ...
  bool clean_descriptors = false;               // keep descriptions with identifying words removed
};

/// Maps identifiers to their pseudonyms; the same input always gives the same output.
class Pseudonyms {
 public:
  /// `key`: the server's secret; `project`: the export project (its own pseudonym space).
  Pseudonyms(std::string key, std::string project)
      : key_(std::move(key)), project_(std::move(project)) {}
  /// A UID "2.25.<decimal of 128 bits>" for `uid`.
  std::string Uid(const std::string& uid) const;
  /// A patient identifier "ANON-<16 hex>" for the patient (PatientID and its issuer).
  std::string PatientId(const std::string& patient_id, const std::string& issuer) const;

 private:
  std::string Mac(const std::string& kind, const std::string& value) const;
  std::string key_;
  std::string project_;
};

struct DeidOutcome {
  bool refused = false;
  std::string reason;     // why an instance was refused (listed for review)
  std::string study_uid;  // the pseudonymous UIDs written
  std::string series_uid;
  std::string sop_uid;
};

/// De-identifies the Part-10 file `src` into `dst`. An image flagged BurnedInAnnotation YES, an
/// ultrasound, secondary capture or document object that does not say NO, and structured
/// reports (free text about the patient) are refused (outcome.refused, nothing written).
/// Pixel data is copied unchanged.
Result<DeidOutcome> Deidentify(const std::string& src, const std::string& dst,
                               const DeidOptions& options, const Pseudonyms& pseudonyms);

/// The profile's method codes for DeidentificationMethodCodeSequence (CID 7050), by option.
std::vector<std::string> DeidMethodCodes(const DeidOptions& options);

}  // namespace dxhub::dicom
