#pragma once
// Pixel data conversion for sending (C-MOVE/C-GET sub-operations). Internal to the dicom layer:
// it names DCMTK types, which never leave this layer.

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcfilefo.h>

#include <memory>
#include <string>

#include "core/result.h"

namespace dxhub::dicom {

/// Implicit/explicit little endian or explicit big endian: the syntaxes every node must accept.
bool IsUncompressedSyntax(const std::string& transfer_syntax_uid);

/// Loads the Part-10 file at `path` with its pixel data decoded to native form, ready to be
/// written in an uncompressed transfer syntax: for a peer that cannot take the stored encoding.
/// kUnsupported when the stored encoding cannot be decoded here.
Result<std::unique_ptr<DcmFileFormat>> LoadDecompressed(const std::string& path);

}  // namespace dxhub::dicom
