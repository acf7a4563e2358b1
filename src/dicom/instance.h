#pragma once
// dxhub's own view of a DICOM instance: the attributes the index needs, already converted to
// UTF-8 and validated. DCMTK types never leave this layer.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace dxhub::dicom {

/// An entry of OtherPatientIDsSequence: another identifier of the same patient (a national ID,
/// another hospital's record number) and who issued it.
struct OtherPatientId {
  std::string patient_id;
  std::string issuer;
  bool operator==(const OtherPatientId&) const = default;
};

struct InstanceInfo {
  // Patient level
  std::string patient_id;
  std::string patient_name;  // UTF-8, DICOM PN form ("Family^Given")
  std::string patient_birth_date;
  std::string patient_sex;
  std::string issuer_of_patient_id;  // (0010,0021); with patient_id, the patient's identity
  std::vector<OtherPatientId> other_patient_ids;  // (0010,1002), those with an issuer (16 at most)
  // Study level
  std::string study_uid;
  std::string study_date;  // YYYYMMDD as stored
  std::string study_time;
  std::string accession_number;
  std::string study_description;
  std::string study_id;
  std::string referring_physician;
  std::string institution_name;  // (0008,0080), the last rule of attribution
  // Series level
  std::string series_uid;
  std::string modality;
  std::string series_description;
  std::string body_part;
  int series_number = 0;
  // Instance level
  std::string sop_uid;
  std::string sop_class_uid;
  std::string transfer_syntax_uid;
  int instance_number = 0;
  int rows = 0;
  int columns = 0;
  int frames = 0;                      // 0 when the instance has no pixel data
  std::string specific_character_set;  // as received, for the record
  /// True when the text could not be converted from specific_character_set (unsupported by
  /// iconv): non-ASCII bytes in the indexed text were replaced by '?'; the file is untouched.
  bool charset_unconverted = false;
  /// Attributes that were empty in the dataset and were filled in by dxhub (see
  /// ReadInstanceFile). Non-empty means the stored copy must be rewritten with WriteCoerced().
  std::vector<std::string> coerced;

  bool operator==(const InstanceInfo&) const = default;
};

/// Reads and validates a DICOM Part-10 file (or a raw dataset): the file must parse to its end
/// (a truncated file is kMalformedDicom), carry valid Study/Series/SOP Instance UIDs and an SOP
/// Class UID, and have text convertible to UTF-8 from its SpecificCharacterSet.
///
/// With `coerce_missing_uids` (used by `dxhub import`, never for network input, where a missing
/// required UID is the sender's error and is refused), UIDs that are *empty* (some anonymisers
/// blank them) are coerced rather than refused, so that such research and teaching data can
/// still be archived: SOP Class/Instance UID come from the
/// File Meta Information when it has them; a missing Study or Series Instance UID is derived
/// deterministically ("2.25." + 128 bits of SHA-256) from the attributes that identify the study
/// (patient, issuer, date/time, accession, study ID) or series (study, modality, number,
/// date/time, description, frame of reference), so all slices of one series land together and
/// re-sending the same files gives the same UIDs. A UID that is present but invalid (e.g.
/// "../../etc") is always refused. Thread-safe; holds no state.
Result<InstanceInfo> ReadInstanceFile(const std::string& path, bool coerce_missing_uids = false);

/// The largest dataset the ingest paths (C-STORE, STOW-RS) keep in memory beside its temp file
/// to parse and hash it there; a larger one is read back from its file. Bounds their memory.
inline constexpr size_t kInMemoryIngestLimit = size_t{16} << 20;

/// ReadInstanceFile for a file whose bytes the caller already holds: `contents` must be the
/// whole content of the file at `path` (empty: read the file). Parsing them in memory saves
/// reading the file back, at the price of copying its large values; a deflated dataset is still
/// checked and parsed from `path`.
Result<InstanceInfo> ReadInstance(const std::string& path, std::string_view contents,
                                  bool coerce_missing_uids = false);

/// "2.25." followed by the decimal value of the first 128 bits of SHA-256(text): a UUID-derived
/// UID (PS3.5 §B.2) that is the same for the same text (coerced and derived series).
std::string UidFromText(const std::string& text);

/// Writes `dst` as `src` with the coerced UIDs of `info` put into the dataset and the meta header,
/// keeping the transfer syntax (compressed pixel data is copied, not re-encoded). `dst` is fsync'd.
Status WriteCoerced(const std::string& src, const InstanceInfo& info, const std::string& dst);

/// The dataset of the Part-10 file at `path` in the DICOM JSON model (PS3.18 Annex F), text in
/// UTF-8 (SpecificCharacterSet becomes "ISO_IR 192"). Pixel data and other bulk data elements
/// are replaced by a BulkDataURI of the form `<bulk_data_base>/<tag as 8 hex digits>`.
Result<std::string> DatasetToJson(const std::string& path, const std::string& bulk_data_base);

/// The raw value of the top-level element `tag` ((group << 16) | element) of the Part-10 file at
/// `path`, little endian: what a BulkDataURI from DatasetToJson refers to. kNotFound when the
/// element is absent; kNotAcceptable for encapsulated (compressed) pixel data, which is served
/// per frame instead.
Result<std::string> ReadBulkData(const std::string& path, uint32_t tag);

/// Routes DCMTK's own log output: only its errors, and only when `verbose`; dxhub reports
/// every failure that matters itself, with context. Call once at start-up.
void ConfigureDcmtkLogging(bool verbose);

/// Makes `dst` a Part-10 copy of `src`: byte-for-byte when `src` already has a "DICM" preamble,
/// otherwise the dataset is re-encoded with a fresh File Meta Information header. `dst` is fsync'd.
Status CopyAsPart10(const std::string& src, const std::string& dst);

}  // namespace dxhub::dicom
