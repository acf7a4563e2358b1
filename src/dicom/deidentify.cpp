#include "dicom/deidentify.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcitem.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <memory>
#include <set>

#include "core/fs.h"
#include "core/hash.h"

namespace dxhub::dicom {
namespace {

// What the profile does to an attribute (PS3.15 E.1-1 action codes): X remove, Z empty (or a
// dummy of the same VR), D a dummy, U a consistent replacement UID, K keep, C clean.
enum class Option : char { kNone, kDates, kCharacteristics, kDescriptors };
struct Rule {
  uint16_t group;
  uint16_t element;
  char action;    // in the Basic Profile; where E.1-1 offers a choice (X/Z, X/Z/D) the least
                  // destructive one that keeps the IOD valid (Z for Type 2 attributes)
  Option option;  // the option column that changes it: dates and characteristics are kept, a
                  // descriptor is cleaned
};

// From DICOM PS3.15 (2024b) Table E.1-1, the rows dxhub meets in images it archives; every other
// row's attribute is removed by the catch-all rules below (private tags, overlays, curves).
constexpr Rule kRules[] = {
    {0x0008, 0x0012, 'X', Option::kDates},            // Instance Creation Date
    {0x0008, 0x0013, 'X', Option::kDates},            // Instance Creation Time
    {0x0008, 0x0014, 'U', Option::kNone},             // Instance Creator UID
    {0x0008, 0x0018, 'U', Option::kNone},             // SOP Instance UID
    {0x0008, 0x0020, 'Z', Option::kDates},            // Study Date
    {0x0008, 0x0021, 'X', Option::kDates},            // Series Date
    {0x0008, 0x0022, 'X', Option::kDates},            // Acquisition Date
    {0x0008, 0x0023, 'Z', Option::kDates},            // Content Date
    {0x0008, 0x002A, 'X', Option::kDates},            // Acquisition DateTime
    {0x0008, 0x0030, 'Z', Option::kDates},            // Study Time
    {0x0008, 0x0031, 'X', Option::kDates},            // Series Time
    {0x0008, 0x0032, 'X', Option::kDates},            // Acquisition Time
    {0x0008, 0x0033, 'Z', Option::kDates},            // Content Time
    {0x0008, 0x0050, 'Z', Option::kNone},             // Accession Number
    {0x0008, 0x0058, 'U', Option::kNone},             // Failed SOP Instance UID List
    {0x0008, 0x0080, 'X', Option::kNone},             // Institution Name
    {0x0008, 0x0081, 'X', Option::kNone},             // Institution Address
    {0x0008, 0x0082, 'X', Option::kNone},             // Institution Code Sequence
    {0x0008, 0x0090, 'Z', Option::kNone},             // Referring Physician's Name
    {0x0008, 0x0092, 'X', Option::kNone},             // Referring Physician's Address
    {0x0008, 0x0094, 'X', Option::kNone},             // Referring Physician's Telephone Numbers
    {0x0008, 0x0096, 'X', Option::kNone},             // Referring Physician Identification Seq.
    {0x0008, 0x0201, 'X', Option::kDates},            // Timezone Offset From UTC
    {0x0008, 0x1010, 'X', Option::kNone},             // Station Name
    {0x0008, 0x1030, 'X', Option::kDescriptors},      // Study Description
    {0x0008, 0x103E, 'X', Option::kDescriptors},      // Series Description
    {0x0008, 0x1040, 'X', Option::kNone},             // Institutional Department Name
    {0x0008, 0x1048, 'X', Option::kNone},             // Physician(s) of Record
    {0x0008, 0x1049, 'X', Option::kNone},             // Physician(s) of Record Identification
    {0x0008, 0x1050, 'X', Option::kNone},             // Performing Physicians' Name
    {0x0008, 0x1052, 'X', Option::kNone},             // Performing Physician Identification
    {0x0008, 0x1060, 'X', Option::kNone},             // Name of Physician(s) Reading Study
    {0x0008, 0x1062, 'X', Option::kNone},             // Physician(s) Reading Study Ident.
    {0x0008, 0x1070, 'Z', Option::kNone},             // Operators' Name
    {0x0008, 0x1072, 'X', Option::kNone},             // Operators' Identification Sequence
    {0x0008, 0x1080, 'X', Option::kDescriptors},      // Admitting Diagnoses Description
    {0x0008, 0x1084, 'X', Option::kNone},             // Admitting Diagnoses Code Sequence
    {0x0008, 0x1110, 'X', Option::kNone},             // Referenced Study Sequence
    {0x0008, 0x1111, 'X', Option::kNone},             // Referenced Performed Procedure Step Seq.
    {0x0008, 0x1120, 'X', Option::kNone},             // Referenced Patient Sequence
    {0x0008, 0x1155, 'U', Option::kNone},             // Referenced SOP Instance UID
    {0x0008, 0x1195, 'U', Option::kNone},             // Transaction UID
    {0x0008, 0x2111, 'X', Option::kDescriptors},      // Derivation Description
    {0x0008, 0x3010, 'U', Option::kNone},             // Irradiation Event UID
    {0x0008, 0x4000, 'X', Option::kDescriptors},      // Identifying Comments
    {0x0010, 0x0010, 'Z', Option::kNone},             // Patient's Name (the pseudonym)
    {0x0010, 0x0020, 'Z', Option::kNone},             // Patient ID (the pseudonym)
    {0x0010, 0x0021, 'X', Option::kNone},             // Issuer of Patient ID
    {0x0010, 0x0030, 'Z', Option::kNone},             // Patient's Birth Date
    {0x0010, 0x0032, 'X', Option::kNone},             // Patient's Birth Time
    {0x0010, 0x0040, 'Z', Option::kCharacteristics},  // Patient's Sex
    {0x0010, 0x0050, 'X', Option::kNone},             // Patient's Insurance Plan Code Sequence
    {0x0010, 0x1000, 'X', Option::kNone},             // Other Patient IDs
    {0x0010, 0x1001, 'X', Option::kNone},             // Other Patient Names
    {0x0010, 0x1002, 'X', Option::kNone},             // Other Patient IDs Sequence
    {0x0010, 0x1005, 'X', Option::kNone},             // Patient's Birth Name
    {0x0010, 0x1010, 'X', Option::kCharacteristics},  // Patient's Age
    {0x0010, 0x1020, 'X', Option::kCharacteristics},  // Patient's Size
    {0x0010, 0x1030, 'X', Option::kCharacteristics},  // Patient's Weight
    {0x0010, 0x1040, 'X', Option::kNone},             // Patient's Address
    {0x0010, 0x1060, 'X', Option::kNone},             // Patient's Mother's Birth Name
    {0x0010, 0x1090, 'X', Option::kNone},             // Medical Record Locator
    {0x0010, 0x2000, 'X', Option::kNone},             // Medical Alerts
    {0x0010, 0x2110, 'X', Option::kNone},             // Allergies
    {0x0010, 0x2150, 'X', Option::kNone},             // Country of Residence
    {0x0010, 0x2152, 'X', Option::kNone},             // Region of Residence
    {0x0010, 0x2154, 'X', Option::kNone},             // Patient's Telephone Numbers
    {0x0010, 0x2160, 'X', Option::kCharacteristics},  // Ethnic Group
    {0x0010, 0x2180, 'X', Option::kDescriptors},      // Occupation
    {0x0010, 0x21A0, 'X', Option::kCharacteristics},  // Smoking Status
    {0x0010, 0x21B0, 'X', Option::kDescriptors},      // Additional Patient History
    {0x0010, 0x21C0, 'X', Option::kCharacteristics},  // Pregnancy Status
    {0x0010, 0x21F0, 'X', Option::kNone},             // Patient's Religious Preference
    {0x0010, 0x4000, 'X', Option::kDescriptors},      // Patient Comments
    {0x0018, 0x1000, 'X', Option::kNone},             // Device Serial Number
    {0x0018, 0x1002, 'U', Option::kNone},             // Device UID
    {0x0018, 0x1004, 'X', Option::kNone},             // Plate ID
    {0x0018, 0x1005, 'X', Option::kNone},             // Generator ID
    {0x0018, 0x1007, 'X', Option::kNone},             // Cassette ID
    {0x0018, 0x1008, 'X', Option::kNone},             // Gantry ID
    {0x0018, 0x1030, 'X', Option::kDescriptors},      // Protocol Name
    {0x0018, 0x1200, 'X', Option::kDates},            // Date of Last Calibration
    {0x0018, 0x1201, 'X', Option::kDates},            // Time of Last Calibration
    {0x0018, 0x700A, 'X', Option::kNone},             // Detector ID
    {0x0020, 0x000D, 'U', Option::kNone},             // Study Instance UID
    {0x0020, 0x000E, 'U', Option::kNone},             // Series Instance UID
    {0x0020, 0x0010, 'Z', Option::kNone},             // Study ID
    {0x0020, 0x0052, 'U', Option::kNone},             // Frame of Reference UID
    {0x0020, 0x0200, 'U', Option::kNone},             // Synchronization Frame of Reference UID
    {0x0020, 0x4000, 'X', Option::kDescriptors},      // Image Comments
    {0x0020, 0x9161, 'U', Option::kNone},             // Concatenation UID
    {0x0020, 0x9164, 'U', Option::kNone},             // Dimension Organization UID
    {0x0028, 0x1199, 'U', Option::kNone},             // Palette Color Lookup Table UID
    {0x0032, 0x1032, 'X', Option::kNone},             // Requesting Physician
    {0x0032, 0x1033, 'X', Option::kNone},             // Requesting Service
    {0x0032, 0x1060, 'X', Option::kDescriptors},      // Requested Procedure Description
    {0x0032, 0x4000, 'X', Option::kDescriptors},      // Study Comments
    {0x0038, 0x0010, 'X', Option::kNone},             // Admission ID
    {0x0038, 0x0300, 'X', Option::kNone},             // Current Patient Location
    {0x0038, 0x0400, 'X', Option::kNone},             // Patient's Institution Residence
    {0x0040, 0x0006, 'X', Option::kNone},             // Scheduled Performing Physician's Name
    {0x0040, 0x0244, 'X', Option::kDates},            // Performed Procedure Step Start Date
    {0x0040, 0x0245, 'X', Option::kDates},            // Performed Procedure Step Start Time
    {0x0040, 0x0253, 'X', Option::kNone},             // Performed Procedure Step ID
    {0x0040, 0x0254, 'X', Option::kDescriptors},      // Performed Procedure Step Description
    {0x0040, 0x0275, 'X', Option::kNone},             // Request Attributes Sequence
    {0x0040, 0x1001, 'X', Option::kNone},             // Requested Procedure ID
    {0x0040, 0x2016, 'X', Option::kNone},             // Placer Order Number / Imaging Request
    {0x0040, 0x2017, 'X', Option::kNone},             // Filler Order Number / Imaging Request
    {0x0040, 0xA124, 'U', Option::kNone},             // UID
    {0x0040, 0xA171, 'U', Option::kNone},             // Observation UID
    {0x0040, 0xA730, 'X', Option::kNone},             // Content Sequence
    {0x0088, 0x0140, 'U', Option::kNone},             // Storage Media File-set UID
    {0x3006, 0x0024, 'U', Option::kNone},             // Referenced Frame of Reference UID
    {0x0400, 0x0561, 'X', Option::kNone},             // Original Attributes Sequence
    {0x4008, 0x0114, 'X', Option::kNone},             // Physician Approving Interpretation
};

const Rule* RuleFor(const DcmTagKey& tag) {
  for (const Rule& r : kRules) {
    if (r.group == tag.getGroup() && r.element == tag.getElement())
      return &r;
  }
  return nullptr;
}

char ActionOf(const Rule& rule, const DeidOptions& o) {
  switch (rule.option) {
    case Option::kDates:
      return o.retain_dates ? 'K' : rule.action;
    case Option::kCharacteristics:
      return o.retain_patient_characteristics ? 'K' : rule.action;
    case Option::kDescriptors:
      return o.clean_descriptors ? 'C' : rule.action;
    case Option::kNone:
      break;
  }
  return rule.action;
}

// Whether the element goes whatever the table says: private attributes (no Retain Safe
// Private option), curves (50xx) and overlay data and comments (60xx,3000 and 60xx,4000).
bool AlwaysRemoved(const DcmTagKey& tag) {
  const uint16_t g = tag.getGroup();
  if (g % 2 == 1)
    return true;
  if (g >= 0x5000 && g <= 0x50FF)
    return true;
  if (g >= 0x6000 && g <= 0x60FF && (tag.getElement() == 0x3000 || tag.getElement() == 0x4000))
    return true;
  return false;
}

// A descriptor with the words that name the patient taken out (Clean Descriptors).
std::string Clean(const std::string& text, const std::vector<std::string>& words) {
  std::string out = text;
  for (const auto& w : words) {
    if (w.size() < 2)
      continue;
    for (size_t at = out.find(w); at != std::string::npos; at = out.find(w, at))
      out.replace(at, w.size(), "");
  }
  return out;
}

struct Walk {
  const DeidOptions& options;
  const Pseudonyms& pseudonyms;
  std::vector<std::string> identifying_words;  // the patient's name parts and IDs
  std::string patient_id;
  std::string issuer;
};

void Apply(DcmItem& item, Walk& walk, bool top) {
  // Backwards, so removing an element keeps the indices of those still to visit.
  for (unsigned long i = item.card(); i-- > 0;) {
    DcmElement* element = item.getElement(i);
    if (element == nullptr)
      continue;
    const DcmTagKey tag = element->getTag();
    if (AlwaysRemoved(tag)) {
      const std::unique_ptr<DcmElement> removed(item.remove(element));  // ours to free now
      continue;
    }
    const Rule* rule = RuleFor(tag);
    const char action = rule != nullptr ? ActionOf(*rule, walk.options) : 'K';
    switch (action) {
      case 'X': {
        const std::unique_ptr<DcmElement> removed(item.remove(element));
        continue;
      }
      case 'Z':
      case 'D':
        // The patient's name and ID become the pseudonym, so records stay linkable.
        if (top && (tag == DCM_PatientID || tag == DCM_PatientName)) {
          element->putString(walk.pseudonyms.PatientId(walk.patient_id, walk.issuer).c_str());
        } else {
          element->clear();
        }
        continue;
      case 'U': {
        OFString value;
        if (element->getOFStringArray(value).good() && !value.empty()) {
          std::string mapped;
          size_t start = 0;
          const std::string& all = value;
          while (start <= all.size()) {
            const size_t end = all.find('\\', start);
            const std::string one = all.substr(start, end == std::string::npos ? end : end - start);
            if (!mapped.empty())
              mapped += '\\';
            mapped += walk.pseudonyms.Uid(one);
            if (end == std::string::npos)
              break;
            start = end + 1;
          }
          element->putString(mapped.c_str());
        }
        continue;
      }
      case 'C': {
        OFString value;
        if (element->getOFStringArray(value).good())
          element->putString(Clean(value, walk.identifying_words).c_str());
        continue;
      }
      default:
        break;
    }
    // Kept: its items are walked too (UIDs and names nested in sequences).
    if (element->ident() == EVR_SQ) {
      auto* sequence = static_cast<DcmSequenceOfItems*>(element);
      for (unsigned long k = 0; k < sequence->card(); ++k) {
        if (DcmItem* nested = sequence->getItem(k))
          Apply(*nested, walk, false);
      }
    }
  }
}

std::string Text(DcmDataset& ds, const DcmTagKey& tag) {
  OFString value;
  if (ds.findAndGetOFStringArray(tag, value).bad())
    return {};
  return value;
}

// Why an instance may show identifying text in its pixels, or carry it in its content; "" if
// it may be exported.
std::string RefusalOf(DcmDataset& ds) {
  const std::string burned = Text(ds, DCM_BurnedInAnnotation);
  const std::string modality = Text(ds, DCM_Modality);
  const std::string sop_class = Text(ds, DCM_SOPClassUID);
  if (burned == "YES")
    return "BurnedInAnnotation is YES";
  if (sop_class.rfind("1.2.840.10008.5.1.4.1.1.88.", 0) == 0)
    return "a structured report: its text may name the patient";
  if (sop_class.rfind("1.2.840.10008.5.1.4.1.1.104.", 0) == 0)
    return "an encapsulated document: its pages may name the patient";
  const bool risky = modality == "US" || modality == "SC" || modality == "OT" || modality == "XC" ||
                     modality == "ES" ||
                     sop_class.rfind("1.2.840.10008.5.1.4.1.1.7", 0) == 0;  // secondary capture
  if (risky && burned != "NO") {
    std::string why = "a ";
    why += modality.empty() ? std::string("secondary capture") : modality;
    why += " image without BurnedInAnnotation NO: its pixels may carry the patient's name";
    return why;
  }
  return {};
}

}  // namespace

std::string Pseudonyms::Mac(const std::string& kind, const std::string& value) const {
  return HmacSha256(key_, project_ + '\x1f' + kind + '\x1f' + value);
}

std::string Pseudonyms::Uid(const std::string& uid) const {
  // 2.25 is the root for UIDs made from a 128-bit number (PS3.5 B.2): decimal, no leading 0.
  const std::string mac = Mac("uid", uid);
  unsigned __int128 n = 0;
  for (size_t i = 0; i < 16; ++i)
    n = (n << 8) | static_cast<unsigned char>(mac[i]);
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(n % 10)));
    n /= 10;
  } while (n != 0);
  return "2.25." + digits;
}

std::string Pseudonyms::PatientId(const std::string& patient_id, const std::string& issuer) const {
  const std::string mac = Mac("patient", patient_id + '\x1f' + issuer);
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out = "ANON-";
  for (size_t i = 0; i < 8; ++i) {
    out += kHex[static_cast<unsigned char>(mac[i]) >> 4];
    out += kHex[static_cast<unsigned char>(mac[i]) & 0xF];
  }
  return out;
}

std::vector<std::string> DeidMethodCodes(const DeidOptions& o) {
  std::vector<std::string> codes{"113100"};  // Basic Application Confidentiality Profile
  if (o.clean_descriptors)
    codes.push_back("113105");  // Clean Descriptors Option
  if (o.retain_dates)
    codes.push_back("113106");  // Retain Longitudinal Temporal Information Full Dates Option
  if (o.retain_patient_characteristics)
    codes.push_back("113108");  // Retain Patient Characteristics Option
  return codes;
}

Result<DeidOutcome> Deidentify(const std::string& src, const std::string& dst,
                               const DeidOptions& options, const Pseudonyms& pseudonyms) {
  DcmFileFormat file;
  OFCondition cond =
      file.loadFile(src.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect);
  if (cond.bad())
    return MakeError(ErrorCode::kMalformedDicom, std::string("cannot read: ") + cond.text());
  DcmDataset& ds = *file.getDataset();
  DeidOutcome outcome;
  outcome.reason = RefusalOf(ds);
  if (!outcome.reason.empty()) {
    outcome.refused = true;
    return outcome;
  }
  Walk walk{options, pseudonyms, {}, Text(ds, DCM_PatientID), Text(ds, DCM_IssuerOfPatientID)};
  for (const DcmTagKey& tag :
       {DCM_PatientName, DCM_PatientID, DCM_RETIRED_OtherPatientIDs, DCM_AccessionNumber}) {
    std::string value = Text(ds, tag);
    for (char& c : value) {
      if (c == '^' || c == '=' || c == '\\')
        c = ' ';
    }
    size_t start = 0;
    while (start < value.size()) {
      size_t end = value.find(' ', start);
      if (end == std::string::npos)
        end = value.size();
      if (end > start)
        walk.identifying_words.push_back(value.substr(start, end - start));
      start = end + 1;
    }
  }
  // Longest first, so "WANG" does not leave "WANGLI" half cleaned.
  std::sort(walk.identifying_words.begin(), walk.identifying_words.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  Apply(ds, walk, true);

  ds.putAndInsertString(DCM_PatientIdentityRemoved, "YES");
  std::string method = "PS3.15 E.1 Basic Application Level Confidentiality Profile";
  if (options.retain_dates)
    method += ", Retain Longitudinal Temporal Information Full Dates";
  if (options.retain_patient_characteristics)
    method += ", Retain Patient Characteristics";
  if (options.clean_descriptors)
    method += ", Clean Descriptors";
  ds.putAndInsertString(DCM_DeidentificationMethod, method.substr(0, 64).c_str());
  ds.findAndDeleteElement(DCM_DeidentificationMethodCodeSequence);
  long k = 0;
  for (const auto& code : DeidMethodCodes(options)) {
    DcmItem* item = nullptr;
    if (ds.findOrCreateSequenceItem(DCM_DeidentificationMethodCodeSequence, item, k++).good()) {
      item->putAndInsertString(DCM_CodeValue, code.c_str());
      item->putAndInsertString(DCM_CodingSchemeDesignator, "DCM");
      item->putAndInsertString(DCM_CodeMeaning,
                               code == "113100"   ? "Basic Application Confidentiality Profile"
                               : code == "113105" ? "Clean Descriptors Option"
                               : code == "113106"
                                   ? "Retain Longitudinal Temporal Information Full Dates Option"
                                   : "Retain Patient Characteristics Option");
    }
  }
  if (!options.retain_dates) {
    // PS3.15 E.3.6: when dates are not retained, say so.
    ds.putAndInsertString(DCM_LongitudinalTemporalInformationModified, "REMOVED");
  }
  outcome.study_uid = Text(ds, DCM_StudyInstanceUID);
  outcome.series_uid = Text(ds, DCM_SeriesInstanceUID);
  outcome.sop_uid = Text(ds, DCM_SOPInstanceUID);
  // The meta header is written anew from the dataset (new SOP Instance UID, same class and
  // transfer syntax: pixel data is not touched).
  const E_TransferSyntax xfer = ds.getOriginalXfer();
  cond = file.saveFile(dst.c_str(), xfer == EXS_Unknown ? EXS_LittleEndianExplicit : xfer,
                       EET_ExplicitLength, EGL_recalcGL, EPD_noChange, 0, 0, EWM_createNewMeta);
  if (cond.bad()) {
    fs::RemoveQuiet(dst);
    return MakeError(ErrorCode::kIo, std::string("cannot write: ") + cond.text());
  }
  return outcome;
}

}  // namespace dxhub::dicom
