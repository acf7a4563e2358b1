#pragma once
// The attributes the index can match on, as DICOM knows them (keyword, tag, VR), and DICOM's
// matching syntax (PS3.4 C.2.2.2: wildcards, ranges, UID lists) turned into index filters. Shared
// by QIDO-RS and C-FIND so both match the same way.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"
#include "store/study_index.h"

namespace dxhub::store {

struct QueryKey {
  const char* keyword;
  uint32_t tag;  // (group << 16) | element
  Field field;
  const char* vr;
};

/// By keyword ("PatientName") or 8-digit hex tag ("00100010"); nullptr if not indexed.
const QueryKey* FindQueryKey(std::string_view keyword_or_tag);
const QueryKey* FindQueryKey(uint32_t tag);

/// Parses a non-empty matching value in DICOM syntax for `key` (UID lists separated by '\' or
/// ',', "a-b" ranges for dates and times, '*'/'?' wildcards). Malformed values are
/// kInvalidArgument errors naming the attribute.
Result<Filter> ParseMatchValue(const QueryKey& key, const std::string& value);

/// The value of `field` in a query row, as a DICOM string (multiple values joined by '\').
std::string RowValue(const QueryRow& row, Field field);

}  // namespace dxhub::store
