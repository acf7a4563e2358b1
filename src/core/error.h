#pragma once
// One table of error codes for every interface (REST, DICOMweb, DIMSE, CLI), so an error means
// the same thing wherever it surfaces. Modelled on Orthanc's ErrorCodes.json, with a DICOM status
// column added for DIMSE responses.

#include <cstdint>
#include <string>
#include <string_view>

namespace dxhub {

enum class ErrorCode {
  kInvalidArgument,   // caller sent something we do not accept (bad parameter, bad UID)
  kMalformedDicom,    // bytes are not a parseable DICOM dataset (or are truncated)
  kMissingAttribute,  // a required attribute (e.g. SOPInstanceUID) is absent or empty
  kSopMismatch,       // dataset does not match what the C-STORE request announced
  kNotFound,
  kAlreadyExists,
  kUnauthorized,
  kForbidden,
  kIo,           // filesystem error
  kDiskFull,     // ENOSPC / EDQUOT: the sender should retry later
  kDatabase,     // index backend error
  kUnavailable,  // temporarily overloaded or shutting down
  kUnsupported,
  kNotAcceptable,    // the client accepts no representation we can produce
  kTooLarge,         // a request body over the configured limit
  kTooManyRequests,  // a client over its rate (failed logins from one address)
  kConflict,         // the resource's state forbids it now (claimed by another, already signed)
  kInternal,         // programming error surfaced as a value
};

/// Static facts about an error code: its stable name and how it maps onto each protocol.
struct ErrorInfo {
  std::string_view name;
  int http_status;
  uint16_t dicom_status;  // C-STORE failure status (PS3.4 Annex B.2.3 / C.4)
};

/// Looks up the row of the error table for `code`. Never fails.
const ErrorInfo& Describe(ErrorCode code);

/// An error value: a code from the table plus a human-readable message that may be shown to the
/// operator (never contains patient data beyond what the caller put there).
struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;

  int HttpStatus() const { return Describe(code).http_status; }
  uint16_t DicomStatus() const { return Describe(code).dicom_status; }
  std::string_view Name() const { return Describe(code).name; }
  std::string ToString() const { return std::string(Name()) + ": " + message; }
};

inline Error MakeError(ErrorCode code, std::string message) {
  return Error{code, std::move(message)};
}

}  // namespace dxhub
