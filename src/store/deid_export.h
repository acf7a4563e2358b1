#pragma once
// A de-identified export as a ZIP: every instance of the chosen studies, de-identified with the
// project's options and pseudonyms (dicom/deidentify.h), at
// <pseudonymous study>/<pseudonymous series>/<pseudonymous SOP instance>.dcm, beside a
// manifest.json that lists what was refused and why (for review). Pixel data is unchanged.

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/result.h"
#include "dicom/deidentify.h"
#include "store/archive.h"
#include "store/scope.h"

namespace dxhub::store {

struct DeidZipSummary {
  int studies = 0;
  int exported = 0;  // instances written
  int refused = 0;   // instances listed for review instead
};

/// Receives each de-identified instance: the file at `path` is the receiver's (to remove).
using DeidSink = std::function<Status(const std::string& path, const dicom::DeidOutcome& done)>;

/// De-identifies every instance of the studies (as `scope` sees them) into temp files handed to
/// `sink`; refused instances are appended to `refused` (a JSON array: pseudonymous study and
/// instance, modality, reason). kNotFound when none of the studies is there.
Result<DeidZipSummary> DeidentifyEach(Archive& archive, const Scope& scope,
                                      const std::vector<std::string>& study_uids,
                                      const dicom::DeidOptions& options,
                                      const dicom::Pseudonyms& pseudonyms, const DeidSink& sink,
                                      nlohmann::json& refused);

/// Writes the ZIP at `zip_path` (the studies as `scope` sees them; one it does not see counts
/// as absent). kNotFound when none of them is there.
Result<DeidZipSummary> WriteDeidZip(Archive& archive, const Scope& scope,
                                    const std::vector<std::string>& study_uids,
                                    const dicom::DeidOptions& options,
                                    const dicom::Pseudonyms& pseudonyms,
                                    const std::string& zip_path);

/// The cluster's pseudonym key (made on first use, kept in the index, never sent out).
Result<std::string> PseudonymKey(StudyIndex& index);

}  // namespace dxhub::store
