#include "dicom/instance.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcjson.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/oflog/oflog.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

#include "core/fs.h"
#include "core/hash.h"
#include "core/uid.h"

namespace dxhub::dicom {
namespace {

// Elements larger than this stay on disk while parsing: we only need the header attributes, but
// DCMTK still walks past the large values, so a truncated file is still detected.
constexpr Uint32 kMaxReadLength = 4096;

std::string GetString(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  DcmElement* element = nullptr;
  if (item.findAndGetElement(tag, element).good() && element->ident() == EVR_UN) {
    // Some writers store standard attributes as UN (explicit VR files converted from implicit);
    // the value bytes are still the text.
    Uint8* bytes = nullptr;
    if (element->getUint8Array(bytes).good() && bytes != nullptr) {
      value = OFString(reinterpret_cast<const char*>(bytes), element->getLength());
    }
  } else if (item.findAndGetOFStringArray(tag, value).bad()) {
    value.clear();
  }
  {
    // DCMTK keeps trailing padding of some VRs; the index wants clean values.
    std::string s(value.c_str(), value.length());
    while (!s.empty() && (s.back() == ' ' || s.back() == '\0'))
      s.pop_back();
    size_t start = 0;
    while (start < s.size() && s[start] == ' ')
      ++start;
    return s.substr(start);
  }
}

// Drops trailing empty components and groups of a PN value ("DOE^JOHN^^=" -> "DOE^JOHN"): the
// standard makes them optional, and clients compare names without them.
std::string TrimPersonName(std::string name) {
  while (!name.empty() && (name.back() == '=' || name.back() == '^'))
    name.pop_back();
  return name;
}

// Replaces every byte outside 7-bit ASCII: used when a character set cannot be converted, so
// the index never holds invalid UTF-8.
void AsciiOnly(std::string& s) {
  for (char& c : s) {
    if (static_cast<unsigned char>(c) >= 0x80)
      c = '?';
  }
}

int GetInt(DcmItem& item, const DcmTagKey& tag) {
  std::string s = GetString(item, tag);
  if (s.empty())
    return 0;
  char* end = nullptr;
  long v = std::strtol(s.c_str(), &end, 10);
  if (end == s.c_str() || v < INT32_MIN || v > INT32_MAX)
    return 0;
  return static_cast<int>(v);
}

int GetUs(DcmItem& item, const DcmTagKey& tag) {
  Uint16 v = 0;
  if (item.findAndGetUint16(tag, v).good())
    return v;
  return 0;
}

bool HasPart10Preamble(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<char, 132> head{};
  return in.read(head.data(), head.size()) && std::memcmp(head.data() + 128, "DICM", 4) == 0;
}

// A deflated dataset (PS3.5 A.5) inflates to a size nothing announces, and DCMTK cannot check
// an element's length against what is left of such a stream: a 4 KiB file announcing a 3.5 GB
// element made it allocate 3.5 GB (found by dataset_fuzzer), and a deflate bomb would fill that
// memory. So a deflated dataset is first inflated here, streaming, into a scratch file of at
// most kMaxInflatedBytes, which DCMTK parses with its length checks (the file's size is known);
// only a dataset that passes is parsed from the original.
constexpr uint64_t kMaxInflatedBytes = uint64_t{256} << 20;

// The File Meta Information's transfer syntax, or empty when there is none (a raw dataset) or
// it cannot be read (the full parse reports that).
std::string MetaTransferSyntax(DcmMetaInfo& meta) {
  OFString ts;
  meta.findAndGetOFString(DCM_TransferSyntaxUID, ts);
  return std::string(ts.c_str(), ts.length());
}

// Reads `bytes` (a whole Part-10 file or raw dataset) into `item` (a DcmFileFormat as loadFile
// reads a file, or a DcmMetaInfo alone). Values longer than kMaxReadLength are read too (a memory
// stream cannot defer them): a copy, but no system call.
OFCondition ReadFromMemory(DcmObject& item, std::string_view bytes) {
  DcmInputBufferStream in;
  in.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  in.setEos();
  item.transferInit();
  OFCondition cond = item.read(in, EXS_Unknown, EGL_noChange, kMaxReadLength);
  item.transferEnd();
  return cond;
}

Status CheckDeflated(const std::string& path) {
  DcmFileFormat meta;
  if (meta.loadFile(path.c_str(), EXS_Unknown, EGL_noChange, kMaxReadLength, ERM_metaOnly).bad())
    return Ok();  // the full parse reports it
  if (MetaTransferSyntax(*meta.getMetaInfo()) != UID_DeflatedExplicitVRLittleEndianTransferSyntax)
    return Ok();
  Uint32 group_length = 0;
  if (meta.getMetaInfo()->findAndGetUint32(DCM_FileMetaInformationGroupLength, group_length).bad())
    return MakeError(ErrorCode::kMalformedDicom, "deflated dataset without a meta group length");
  std::ifstream in(path, std::ios::binary);
  // Preamble and "DICM" (132 bytes), the group length element (12), then the rest of the meta.
  in.seekg(static_cast<std::streamoff>(132 + 12 + uint64_t{group_length}));
  // In the temp directory, not beside `path`: `dxhub import` may read from a read-only folder.
  std::string scratch = (std::filesystem::temp_directory_path() / "dxhub-inflate-XXXXXX").string();
  const int fd = ::mkstemp(scratch.data());
  if (fd < 0)
    return MakeError(ErrorCode::kIo, "cannot create a scratch file for a deflated dataset");
  ::close(fd);
  std::ofstream out(scratch, std::ios::binary | std::ios::trunc);
  struct Cleanup {
    const std::string& path;
    ~Cleanup() { fs::RemoveQuiet(path); }
  } cleanup{scratch};
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK)  // raw deflate, as PS3.5 A.5 specifies
    return MakeError(ErrorCode::kInternal, "zlib cannot start");
  std::vector<char> packed(size_t{64} << 10);
  std::vector<char> plain(size_t{256} << 10);
  uint64_t total = 0;
  int rc = Z_OK;
  while (rc != Z_STREAM_END && in) {
    in.read(packed.data(), static_cast<std::streamsize>(packed.size()));
    z.next_in = reinterpret_cast<Bytef*>(packed.data());
    z.avail_in = static_cast<uInt>(in.gcount());
    if (z.avail_in == 0)
      break;
    while (z.avail_in > 0 && rc != Z_STREAM_END) {
      z.next_out = reinterpret_cast<Bytef*>(plain.data());
      z.avail_out = static_cast<uInt>(plain.size());
      rc = inflate(&z, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
        inflateEnd(&z);
        return MakeError(ErrorCode::kMalformedDicom, "deflated dataset is corrupt");
      }
      const size_t produced = plain.size() - z.avail_out;
      total += produced;
      if (total > kMaxInflatedBytes) {
        inflateEnd(&z);
        return MakeError(ErrorCode::kTooLarge, "deflated dataset inflates to more than " +
                                                   std::to_string(kMaxInflatedBytes >> 20) +
                                                   " MiB");
      }
      out.write(plain.data(), static_cast<std::streamsize>(produced));
      if (rc == Z_BUF_ERROR && produced == 0)
        break;  // no progress possible with this input: read more
    }
  }
  inflateEnd(&z);
  out.close();
  if (!out)
    return MakeError(ErrorCode::kIo, "cannot write the inflated dataset");
  DcmDataset inflated;
  OFCondition cond =
      inflated.loadFile(scratch.c_str(), EXS_LittleEndianExplicit, EGL_noChange, kMaxReadLength);
  if (cond.bad()) {
    return MakeError(ErrorCode::kMalformedDicom,
                     std::string("not a readable deflated dataset: ") + cond.text());
  }
  return Ok();
}

}  // namespace

namespace {

// What the index needs of a loaded file, validated (see ReadInstanceFile).
Result<InstanceInfo> InfoOf(DcmFileFormat& file, bool coerce_missing_uids);

}  // namespace

Result<InstanceInfo> ReadInstanceFile(const std::string& path, bool coerce_missing_uids) {
  return ReadInstance(path, {}, coerce_missing_uids);
}

Result<InstanceInfo> ReadInstance(const std::string& path, std::string_view contents,
                                  bool coerce_missing_uids) {
  // DCMTK silently "corrects" input by default (e.g. drops spaces inside UIDs), which would make
  // the index disagree with the archived bytes and hide hostile values from validation. This is
  // a process-wide DCMTK setting; set it once, before the first parse.
  static std::once_flag once;
  std::call_once(once, [] { dcmEnableAutomaticInputDataCorrection.set(OFFalse); });
  DcmFileFormat file;
  OFCondition cond;
  try {
    bool from_memory = !contents.empty();
    if (from_memory) {
      // Only the meta header, to see whether the dataset is deflated: that one is checked from
      // the file (CheckDeflated).
      DcmMetaInfo meta;
      if (ReadFromMemory(meta, contents).good() &&
          MetaTransferSyntax(meta) == UID_DeflatedExplicitVRLittleEndianTransferSyntax) {
        from_memory = false;
      }
    }
    if (from_memory) {
      cond = ReadFromMemory(file, contents);
    } else {
      DXHUB_TRY(CheckDeflated(path));
      cond = file.loadFile(path.c_str(), EXS_Unknown, EGL_noChange, kMaxReadLength, ERM_autoDetect);
    }
  } catch (const std::exception& e) {  // DCMTK mostly reports by status; be safe at the edge
    return MakeError(ErrorCode::kMalformedDicom, std::string("parse failed: ") + e.what());
  }
  if (cond.bad()) {
    return MakeError(ErrorCode::kMalformedDicom,
                     std::string("not a readable DICOM dataset: ") + cond.text());
  }
  return InfoOf(file, coerce_missing_uids);
}

namespace {

Result<InstanceInfo> InfoOf(DcmFileFormat& file, bool coerce_missing_uids) {
  DcmDataset* ds = file.getDataset();
  if (ds == nullptr || ds->card() == 0) {
    return MakeError(ErrorCode::kMalformedDicom, "empty dataset");
  }

  InstanceInfo info;
  info.specific_character_set = GetString(*ds, DCM_SpecificCharacterSet);
  if (!info.specific_character_set.empty()) {
    // Convert in memory only: the stored file keeps the sender's bytes. The conversion aborts on
    // illegal sequences (DCMTK is built with AbortTranscodingOnIllegalSequence).
    // A character set iconv cannot convert (e.g. ISO 2022 IR 87) must not cost the hospital the
    // image: the bytes are archived untouched and the indexed text degrades to ASCII.
    if (ds->convertToUTF8().bad())
      info.charset_unconverted = true;
  }

  info.sop_class_uid = GetString(*ds, DCM_SOPClassUID);
  info.sop_uid = GetString(*ds, DCM_SOPInstanceUID);
  info.study_uid = GetString(*ds, DCM_StudyInstanceUID);
  info.series_uid = GetString(*ds, DCM_SeriesInstanceUID);
  DcmMetaInfo* meta = coerce_missing_uids ? file.getMetaInfo() : nullptr;
  if (meta != nullptr) {
    if (info.sop_class_uid.empty()) {
      info.sop_class_uid = GetString(*meta, DCM_MediaStorageSOPClassUID);
      if (!info.sop_class_uid.empty())
        info.coerced.emplace_back("SOPClassUID");
    }
    if (info.sop_uid.empty()) {
      info.sop_uid = GetString(*meta, DCM_MediaStorageSOPInstanceUID);
      if (!info.sop_uid.empty())
        info.coerced.emplace_back("SOPInstanceUID");
    }
  }
  if (coerce_missing_uids && info.study_uid.empty()) {
    info.study_uid =
        UidFromText("study|" + GetString(*ds, DCM_PatientID) + "|" +
                    GetString(*ds, DCM_IssuerOfPatientID) + "|" + GetString(*ds, DCM_PatientName) +
                    "|" + GetString(*ds, DCM_StudyDate) + "|" + GetString(*ds, DCM_StudyTime) +
                    "|" + GetString(*ds, DCM_AccessionNumber) + "|" + GetString(*ds, DCM_StudyID));
    info.coerced.emplace_back("StudyInstanceUID");
  }
  if (coerce_missing_uids && info.series_uid.empty()) {
    info.series_uid =
        UidFromText("series|" + info.study_uid + "|" + GetString(*ds, DCM_Modality) + "|" +
                    GetString(*ds, DCM_SeriesNumber) + "|" + GetString(*ds, DCM_SeriesDate) + "|" +
                    GetString(*ds, DCM_SeriesTime) + "|" + GetString(*ds, DCM_SeriesDescription) +
                    "|" + GetString(*ds, DCM_FrameOfReferenceUID));
    info.coerced.emplace_back("SeriesInstanceUID");
  }
  DXHUB_TRY(ValidateUid(info.sop_class_uid, "SOPClassUID"));
  DXHUB_TRY(ValidateUid(info.sop_uid, "SOPInstanceUID"));
  DXHUB_TRY(ValidateUid(info.study_uid, "StudyInstanceUID"));
  DXHUB_TRY(ValidateUid(info.series_uid, "SeriesInstanceUID"));

  info.patient_id = GetString(*ds, DCM_PatientID);
  info.patient_name = TrimPersonName(GetString(*ds, DCM_PatientName));
  info.patient_birth_date = GetString(*ds, DCM_PatientBirthDate);
  info.patient_sex = GetString(*ds, DCM_PatientSex);
  info.issuer_of_patient_id = GetString(*ds, DCM_IssuerOfPatientID);
  info.institution_name = GetString(*ds, DCM_InstitutionName);
  DcmSequenceOfItems* others = nullptr;
  if (ds->findAndGetSequence(DCM_OtherPatientIDsSequence, others).good() && others != nullptr) {
    // Only identifiers whose issuer is named can link records (an ID alone means nothing).
    for (unsigned long k = 0; k < others->card() && info.other_patient_ids.size() < 16; ++k) {
      DcmItem* item = others->getItem(k);
      if (item == nullptr)
        continue;
      OtherPatientId other{GetString(*item, DCM_PatientID),
                           GetString(*item, DCM_IssuerOfPatientID)};
      if (!other.patient_id.empty() && !other.issuer.empty() && other.patient_id.size() <= 64 &&
          other.issuer.size() <= 64)
        info.other_patient_ids.push_back(std::move(other));
    }
  }
  info.study_date = GetString(*ds, DCM_StudyDate);
  info.study_time = GetString(*ds, DCM_StudyTime);
  info.accession_number = GetString(*ds, DCM_AccessionNumber);
  info.study_description = GetString(*ds, DCM_StudyDescription);
  info.study_id = GetString(*ds, DCM_StudyID);
  info.referring_physician = TrimPersonName(GetString(*ds, DCM_ReferringPhysicianName));
  info.modality = GetString(*ds, DCM_Modality);
  info.series_description = GetString(*ds, DCM_SeriesDescription);
  info.body_part = GetString(*ds, DCM_BodyPartExamined);
  info.series_number = GetInt(*ds, DCM_SeriesNumber);
  info.instance_number = GetInt(*ds, DCM_InstanceNumber);
  info.rows = GetUs(*ds, DCM_Rows);
  info.columns = GetUs(*ds, DCM_Columns);
  if (ds->tagExists(DCM_PixelData)) {
    int frames = GetInt(*ds, DCM_NumberOfFrames);
    info.frames = frames > 0 ? frames : 1;
  }
  if (info.charset_unconverted) {
    for (std::string* s :
         {&info.patient_id, &info.patient_name, &info.study_description, &info.series_description,
          &info.referring_physician, &info.accession_number, &info.study_id, &info.body_part,
          &info.issuer_of_patient_id, &info.institution_name}) {
      AsciiOnly(*s);
    }
    for (auto& other : info.other_patient_ids) {
      AsciiOnly(other.patient_id);
      AsciiOnly(other.issuer);
    }
  }
  DcmXfer xfer(ds->getOriginalXfer());
  info.transfer_syntax_uid = xfer.getXferID();
  if (DcmMetaInfo* meta = file.getMetaInfo()) {
    std::string meta_ts = GetString(*meta, DCM_TransferSyntaxUID);
    if (!meta_ts.empty())
      info.transfer_syntax_uid = meta_ts;
  }
  return info;
}

}  // namespace

std::string UidFromText(const std::string& text) {
  std::string hex = Sha256Hex(text).substr(0, 32);
  std::array<uint8_t, 16> n{};
  for (size_t i = 0; i < 16; ++i) {
    n[i] = static_cast<uint8_t>(std::stoul(hex.substr(i * 2, 2), nullptr, 16));
  }
  std::string digits;
  bool zero = false;
  while (!zero) {  // repeated division by 10 of a 128-bit big-endian number
    unsigned rem = 0;
    zero = true;
    for (auto& byte : n) {
      unsigned cur = rem * 256 + byte;
      byte = static_cast<uint8_t>(cur / 10);
      rem = cur % 10;
      if (byte != 0)
        zero = false;
    }
    digits.push_back(static_cast<char>('0' + rem));
  }
  std::reverse(digits.begin(), digits.end());
  return "2.25." + digits;
}

Status WriteCoerced(const std::string& src, const InstanceInfo& info, const std::string& dst) {
  DcmFileFormat file;
  OFCondition cond =
      file.loadFile(src.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect);
  if (cond.bad()) {
    return MakeError(ErrorCode::kMalformedDicom, std::string("cannot reload: ") + cond.text());
  }
  DcmDataset* ds = file.getDataset();
  ds->putAndInsertString(DCM_SOPClassUID, info.sop_class_uid.c_str());
  ds->putAndInsertString(DCM_SOPInstanceUID, info.sop_uid.c_str());
  ds->putAndInsertString(DCM_StudyInstanceUID, info.study_uid.c_str());
  ds->putAndInsertString(DCM_SeriesInstanceUID, info.series_uid.c_str());
  // Keep the received encoding; the meta header is refreshed from the dataset.
  E_TransferSyntax xfer = ds->getOriginalXfer();
  cond = file.saveFile(dst.c_str(), xfer, EET_ExplicitLength, EGL_recalcGL, EPD_noChange, 0, 0,
                       EWM_updateMeta);
  if (cond.bad()) {
    fs::RemoveQuiet(dst);
    return MakeError(ErrorCode::kIo, std::string("cannot write coerced copy: ") + cond.text());
  }
  return fs::SyncPath(dst);
}

namespace {

// Bulk data goes out by reference: clients fetch it from the bulkdata/frames endpoints.
class BulkDataJsonFormat final : public DcmJsonFormatCompact {
 public:
  explicit BulkDataJsonFormat(std::string base)
      : DcmJsonFormatCompact(OFTrue), base_(std::move(base)) {}
  OFBool asBulkDataURI(const DcmTagKey& tag, OFString& uri) override {
    static const DcmTagKey kBulk[] = {
        DCM_PixelData,    DCM_FloatPixelData,       DCM_DoubleFloatPixelData,
        DCM_WaveformData, DCM_EncapsulatedDocument, DCM_SpectroscopyData};
    for (const auto& bulk : kBulk) {
      if (tag == bulk) {
        char hex[9];
        std::snprintf(hex, sizeof hex, "%04X%04X", tag.getGroup(), tag.getElement());
        uri = base_ + "/" + hex;
        return OFTrue;
      }
    }
    return OFFalse;
  }

 private:
  std::string base_;
};

}  // namespace

namespace {

// Loads an archived Part-10 file for reading; large values stay on disk until used.
Status LoadArchived(const std::string& path, DcmFileFormat& file) {
  OFCondition cond =
      file.loadFile(path.c_str(), EXS_Unknown, EGL_noChange, kMaxReadLength, ERM_autoDetect);
  if (cond.bad())
    return MakeError(ErrorCode::kMalformedDicom, std::string("cannot read: ") + cond.text());
  return Ok();
}

}  // namespace

Result<std::string> DatasetToJson(const std::string& path, const std::string& bulk_data_base) {
  DcmFileFormat file;
  DXHUB_TRY(LoadArchived(path, file));
  DcmDataset* ds = file.getDataset();
  bool utf8 = true;
  if (ds->tagExists(DCM_SpecificCharacterSet) && ds->convertToUTF8().bad()) {
    utf8 = false;
    ds->putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192");
  }
  BulkDataJsonFormat format(bulk_data_base);
  std::ostringstream out;
  OFCondition cond = ds->writeJson(out, format);
  if (cond.bad())
    return MakeError(ErrorCode::kInternal, std::string("JSON encoding failed: ") + cond.text());
  std::string json = out.str();
  // Text in a character set iconv cannot convert must not make the JSON invalid UTF-8.
  if (!utf8)
    AsciiOnly(json);
  // writeJson emits the members of one object without braces.
  return "{" + json + "}";
}

Result<std::string> ReadBulkData(const std::string& path, uint32_t tag) {
  DcmFileFormat file;
  DXHUB_TRY(LoadArchived(path, file));
  DcmDataset* ds = file.getDataset();
  const DcmTagKey key(static_cast<Uint16>(tag >> 16), static_cast<Uint16>(tag & 0xFFFF));
  DcmElement* element = nullptr;
  if (ds->findAndGetElement(key, element).bad() || element == nullptr)
    return MakeError(ErrorCode::kNotFound, "no such bulk data element");
  if (key == DCM_PixelData && DcmXfer(ds->getOriginalXfer()).isEncapsulated()) {
    return MakeError(ErrorCode::kNotAcceptable,
                     "pixel data is stored compressed; request it per frame");
  }
  Uint8* bytes = nullptr;
  if (element->getUint8Array(bytes).bad() || bytes == nullptr) {
    return MakeError(ErrorCode::kNotFound, "element has no binary value");
  }
  return std::string(reinterpret_cast<const char*>(bytes), element->getLength());
}

void ConfigureDcmtkLogging(bool verbose) {
  OFLog::configure(verbose ? OFLogger::WARN_LOG_LEVEL : OFLogger::FATAL_LOG_LEVEL);
}

Status CopyAsPart10(const std::string& src, const std::string& dst) {
  if (HasPart10Preamble(src))
    return fs::CopyFileSynced(src, dst);
  DcmFileFormat file;
  OFCondition cond =
      file.loadFile(src.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_dataset);
  if (cond.bad()) {
    return MakeError(ErrorCode::kMalformedDicom,
                     std::string("not a readable DICOM dataset: ") + cond.text());
  }
  cond = file.saveFile(dst.c_str(), EXS_Unknown, EET_ExplicitLength, EGL_recalcGL, EPD_noChange, 0,
                       0, EWM_createNewMeta);
  if (cond.bad()) {
    fs::RemoveQuiet(dst);
    return MakeError(ErrorCode::kIo, std::string("cannot write Part-10 copy: ") + cond.text());
  }
  return fs::SyncPath(dst);
}

}  // namespace dxhub::dicom
