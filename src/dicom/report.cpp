#include "dicom/report.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcvrobow.h>
#include <dcmtk/dcmsr/dsrdoc.h>

#include <ctime>

#include "core/fs.h"
#include "core/uid.h"
#include "dicom/report_pdf.h"

namespace dxhub::dicom {
namespace {

// Patient and study: what every object of the study shares with the image it came from.
const DcmTagKey kCopied[] = {
    DCM_PatientName,       DCM_PatientID,
    DCM_IssuerOfPatientID, DCM_PatientBirthDate,
    DCM_PatientSex,        DCM_StudyInstanceUID,
    DCM_StudyDate,         DCM_StudyTime,
    DCM_AccessionNumber,   DCM_ReferringPhysicianName,
    DCM_StudyID,           DCM_StudyDescription,
};

Status Save(DcmFileFormat& file, const std::string& dst, const char* what) {
  OFCondition cond = file.saveFile(dst.c_str(), EXS_LittleEndianExplicit, EET_ExplicitLength,
                                   EGL_recalcGL, EPD_noChange, 0, 0, EWM_createNewMeta);
  if (cond.bad()) {
    fs::RemoveQuiet(dst);
    return MakeError(ErrorCode::kIo, std::string("cannot write ") + what + ": " + cond.text());
  }
  return fs::SyncPath(dst);
}

// The source's patient and study, over whatever `ds` holds, in UTF-8 like the rest of it.
void CopyPatientAndStudy(DcmDataset& source, DcmDataset& ds) {
  for (const DcmTagKey& tag : kCopied) {
    DcmElement* element = nullptr;
    if (source.findAndGetElement(tag, element).good() && element != nullptr)
      ds.insert(OFstatic_cast(DcmElement*, element->clone()), /*replaceOld=*/true);
  }
  // Type 2 in the Patient and General Study modules: present, if empty, when the image lacked them.
  for (const DcmTagKey& tag : kCopied) {
    if (!ds.tagExists(tag) && tag != DCM_IssuerOfPatientID && tag != DCM_StudyDescription)
      ds.insertEmptyElement(tag);
  }
  ds.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192");
}

// YYYYMMDDHHMMSS in the server's local time (DICOM DT without an offset is local).
std::string DicomDateTime(int64_t ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm local{};
  localtime_r(&seconds, &local);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%d%H%M%S", &local);
  return text;
}

Result<std::unique_ptr<DcmFileFormat>> LoadSource(const std::string& source_path) {
  auto file = std::make_unique<DcmFileFormat>();
  OFCondition cond =
      file->loadFile(source_path.c_str(), EXS_Unknown, EGL_noChange, 4096, ERM_autoDetect);
  if (cond.bad())
    return MakeError(ErrorCode::kMalformedDicom,
                     "cannot read the study's image " + source_path + ": " + cond.text());
  // The report is UTF-8; the patient's name may have come in another character set.
  cond = file->getDataset()->convertToUTF8();
  if (cond.bad())
    return MakeError(ErrorCode::kUnsupported,
                     std::string("cannot convert the patient's data to UTF-8: ") + cond.text());
  return file;
}

std::string SourceText(DcmDataset& ds, const DcmTagKey& tag) {
  OFString value;
  if (ds.findAndGetOFStringArray(tag, value).bad())
    return {};
  return value;
}

}  // namespace

Result<std::string> RenderReportPdf(const std::string& source_path, const ReportDocument& report) {
  auto source = LoadSource(source_path);
  if (!source.ok())
    return source.error();
  DcmDataset& ds = *(*source)->getDataset();
  ReportPage page;
  page.patient_name = SourceText(ds, DCM_PatientName);
  page.patient_id = SourceText(ds, DCM_PatientID);
  page.issuer = SourceText(ds, DCM_IssuerOfPatientID);
  page.birth_date = SourceText(ds, DCM_PatientBirthDate);
  page.sex = SourceText(ds, DCM_PatientSex);
  page.study_date = SourceText(ds, DCM_StudyDate);
  page.study_description = SourceText(ds, DCM_StudyDescription);
  page.accession = SourceText(ds, DCM_AccessionNumber);
  page.modality = SourceText(ds, DCM_Modality);
  page.signed_at = DicomDateTime(report.signed_ms);
  return RenderReportPage(page, report);
}

Status WriteReportSr(const std::string& source_path, const ReportDocument& report,
                     const std::string& dst) {
  DXHUB_TRY(ValidateUid(report.series_uid, "SeriesInstanceUID"));
  DXHUB_TRY(ValidateUid(report.sop_uid, "SOPInstanceUID"));
  if (report.findings.empty() && report.impression.empty())
    return MakeError(ErrorCode::kInvalidArgument, "a report needs findings or an impression");
  auto source = LoadSource(source_path);
  if (!source.ok())
    return source.error();
  DcmDataset& from = *(*source)->getDataset();
  const std::string study_uid = SourceText(from, DCM_StudyInstanceUID);

  DSRDocument doc(DSRTypes::DT_BasicTextSR);
  doc.setSpecificCharacterSetType(DSRTypes::CS_UTF8);
  // TID 2000: the report container, who observed (TID 1001 person), then one section per
  // heading with its text. Sections are left out when the reader left them empty.
  DSRDocumentTree& tree = doc.getTree();
  tree.addContentItem(DSRTypes::RT_isRoot, DSRTypes::VT_Container);
  tree.getCurrentContentItem().setConceptName(
      DSRCodedEntryValue("18748-4", "LN", "Diagnostic Imaging Report"));
  tree.addContentItem(DSRTypes::RT_hasObsContext, DSRTypes::VT_Code, DSRTypes::AM_belowCurrent);
  tree.getCurrentContentItem().setConceptName(DSRCodedEntryValue("121005", "DCM", "Observer Type"));
  tree.getCurrentContentItem().setCodeValue(DSRCodedEntryValue("121006", "DCM", "Person"));
  tree.addContentItem(DSRTypes::RT_hasObsContext, DSRTypes::VT_PName, DSRTypes::AM_afterCurrent);
  tree.getCurrentContentItem().setConceptName(
      DSRCodedEntryValue("121008", "DCM", "Person Observer Name"));
  tree.getCurrentContentItem().setStringValue(report.author, /*check=*/false);
  auto section = [&](const char* code, const char* meaning, const char* item_code,
                     const char* item_meaning, const std::string& text) {
    if (text.empty())
      return;
    tree.addContentItem(DSRTypes::RT_contains, DSRTypes::VT_Container, DSRTypes::AM_afterCurrent);
    tree.getCurrentContentItem().setConceptName(DSRCodedEntryValue(code, "DCM", meaning));
    tree.addContentItem(DSRTypes::RT_contains, DSRTypes::VT_Text, DSRTypes::AM_belowCurrent);
    tree.getCurrentContentItem().setConceptName(DSRCodedEntryValue(item_code, "DCM", item_meaning));
    tree.getCurrentContentItem().setStringValue(text, /*check=*/false);
    tree.goUp();
  };
  section("121070", "Findings", "121071", "Finding", report.findings);
  section("121072", "Impressions", "121073", "Impression", report.impression);

  for (const auto& predecessor : report.predecessors) {
    doc.getPredecessorDocuments().addItem(study_uid, report.series_uid, UID_BasicTextSRStorage,
                                          predecessor);
  }
  const std::string signed_at = DicomDateTime(report.signed_ms);
  doc.setContentDate(signed_at.substr(0, 8));
  doc.setContentTime(signed_at.substr(8));
  OFCondition cond = doc.completeDocument();
  if (cond.good())
    cond = doc.verifyDocument(report.author, report.organization, signed_at, /*check=*/false);
  if (cond.bad())
    return MakeError(ErrorCode::kInternal, std::string("cannot complete the SR: ") + cond.text());

  DcmFileFormat file;
  DcmDataset* ds = file.getDataset();
  cond = doc.write(*ds);
  if (cond.bad())
    return MakeError(ErrorCode::kInternal, std::string("cannot build the SR: ") + cond.text());
  CopyPatientAndStudy(from, *ds);
  ds->putAndInsertString(DCM_SeriesInstanceUID, report.series_uid.c_str());
  ds->putAndInsertString(DCM_SOPInstanceUID, report.sop_uid.c_str());
  ds->putAndInsertString(DCM_SeriesNumber, std::to_string(report.series_number).c_str());
  ds->putAndInsertString(DCM_InstanceNumber, std::to_string(report.version).c_str());
  ds->putAndInsertString(DCM_SeriesDescription, "Radiology report");
  ds->putAndInsertString(DCM_Manufacturer, "dxhub");
  ds->putAndInsertString(DCM_InstanceCreationDate, signed_at.substr(0, 8).c_str());
  ds->putAndInsertString(DCM_InstanceCreationTime, signed_at.substr(8).c_str());
  return Save(file, dst, "the report SR");
}

Status WriteEncapsulatedPdf(const std::string& source_path, const ReportDocument& report,
                            const std::string& pdf, const std::string& dst) {
  DXHUB_TRY(ValidateUid(report.pdf_series_uid, "SeriesInstanceUID"));
  DXHUB_TRY(ValidateUid(report.pdf_sop_uid, "SOPInstanceUID"));
  if (pdf.size() < 5 || pdf.compare(0, 5, "%PDF-") != 0 || pdf.size() > 0xFFFFFFF0u)
    return MakeError(ErrorCode::kInvalidArgument, "not a PDF document");
  auto source = LoadSource(source_path);
  if (!source.ok())
    return source.error();
  const std::string signed_at = DicomDateTime(report.signed_ms);

  DcmFileFormat file;
  DcmDataset* ds = file.getDataset();
  CopyPatientAndStudy(*(*source)->getDataset(), *ds);
  ds->putAndInsertString(DCM_SOPClassUID, UID_EncapsulatedPDFStorage);
  ds->putAndInsertString(DCM_SOPInstanceUID, report.pdf_sop_uid.c_str());
  ds->putAndInsertString(DCM_SeriesInstanceUID, report.pdf_series_uid.c_str());
  ds->putAndInsertString(DCM_Modality, "DOC");
  ds->putAndInsertString(DCM_SeriesNumber, std::to_string(report.series_number + 1).c_str());
  ds->putAndInsertString(DCM_SeriesDescription, "Radiology report (PDF)");
  ds->putAndInsertString(DCM_InstanceNumber, std::to_string(report.version).c_str());
  ds->putAndInsertString(DCM_Manufacturer, "dxhub");
  ds->putAndInsertString(DCM_ConversionType, "WSD");  // made on a workstation
  ds->putAndInsertString(DCM_ContentDate, signed_at.substr(0, 8).c_str());
  ds->putAndInsertString(DCM_ContentTime, signed_at.substr(8).c_str());
  ds->putAndInsertString(DCM_InstanceCreationDate, signed_at.substr(0, 8).c_str());
  ds->putAndInsertString(DCM_InstanceCreationTime, signed_at.substr(8).c_str());
  ds->putAndInsertString(DCM_AcquisitionDateTime, signed_at.c_str());
  // The page prints the patient's name and identifiers: de-identification must not pass it.
  ds->putAndInsertString(DCM_BurnedInAnnotation, "YES");
  ds->putAndInsertString(
      DCM_DocumentTitle,
      (report.version > 1 ? "Radiology report, addendum " + std::to_string(report.version - 1)
                          : std::string("Radiology report"))
          .c_str());
  DcmItem* concept_item = nullptr;
  if (ds->findOrCreateSequenceItem(DCM_ConceptNameCodeSequence, concept_item, 0).good()) {
    concept_item->putAndInsertString(DCM_CodeValue, "18748-4");
    concept_item->putAndInsertString(DCM_CodingSchemeDesignator, "LN");
    concept_item->putAndInsertString(DCM_CodeMeaning, "Diagnostic Imaging Report");
  }
  ds->putAndInsertString(DCM_MIMETypeOfEncapsulatedDocument, "application/pdf");
  ds->putAndInsertUint32(DCM_EncapsulatedDocumentLength, static_cast<Uint32>(pdf.size()));
  // OB values have even length: a PDF of odd length gets one NUL byte after %%EOF.
  std::string padded = pdf;
  if (padded.size() % 2 != 0)
    padded.push_back('\0');
  ds->putAndInsertUint8Array(DCM_EncapsulatedDocument,
                             reinterpret_cast<const Uint8*>(padded.data()),
                             static_cast<unsigned long>(padded.size()));
  return Save(file, dst, "the report PDF");
}

Result<std::string> ReadEncapsulatedDocument(const std::string& path) {
  DcmFileFormat file;
  OFCondition cond =
      file.loadFile(path.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect);
  if (cond.bad())
    return MakeError(ErrorCode::kMalformedDicom, std::string("cannot read: ") + cond.text());
  DcmDataset* ds = file.getDataset();
  const Uint8* bytes = nullptr;
  unsigned long count = 0;
  if (ds->findAndGetUint8Array(DCM_EncapsulatedDocument, bytes, &count).bad() || bytes == nullptr)
    return MakeError(ErrorCode::kNotFound, "the object holds no encapsulated document");
  std::string out(reinterpret_cast<const char*>(bytes), count);
  Uint32 length = 0;
  if (ds->findAndGetUint32(DCM_EncapsulatedDocumentLength, length).good() && length <= count)
    out.resize(length);
  else if (!out.empty() && out.back() == '\0')
    out.pop_back();
  return out;
}

}  // namespace dxhub::dicom
