#include "dicom/derived.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcitem.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <cstdio>

#include "core/fs.h"
#include "core/strings.h"
#include "core/uid.h"

namespace dxhub::dicom {
namespace {

// Patient, study, equipment-neutral context and frame of reference: what a derived series
// shares with its source.
const DcmTagKey kCopied[] = {
    DCM_SpecificCharacterSet,
    DCM_PatientName,
    DCM_PatientID,
    DCM_IssuerOfPatientID,
    DCM_PatientBirthDate,
    DCM_PatientSex,
    DCM_PatientAge,
    DCM_StudyInstanceUID,
    DCM_StudyDate,
    DCM_StudyTime,
    DCM_AccessionNumber,
    DCM_ReferringPhysicianName,
    DCM_StudyID,
    DCM_StudyDescription,
    DCM_FrameOfReferenceUID,
    DCM_PositionReferenceIndicator,
    DCM_BodyPartExamined,
    DCM_PatientPosition,
    DCM_KVP,
};

std::string Decimal(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.10g", v);
  return text;
}

std::string Decimals(const double* v, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (i > 0)
      out += "\\";
    out += Decimal(v[i]);
  }
  return out;
}

}  // namespace

Status WriteDerivedImage(const std::string& source_path, const DerivedImage& image,
                         const std::string& dst) {
  if (image.rows <= 0 || image.columns <= 0 || image.rows > 65535 || image.columns > 65535 ||
      image.frames < 1 ||
      image.pixels.size() != static_cast<size_t>(image.rows) * static_cast<size_t>(image.columns) *
                                 static_cast<size_t>(image.frames))
    return MakeError(ErrorCode::kInvalidArgument, "derived image size does not match its pixels");
  DXHUB_TRY(ValidateUid(image.series_uid, "SeriesInstanceUID"));
  DXHUB_TRY(ValidateUid(image.sop_uid, "SOPInstanceUID"));
  DcmFileFormat source;
  OFCondition cond =
      source.loadFile(source_path.c_str(), EXS_Unknown, EGL_noChange, 4096, ERM_autoDetect);
  if (cond.bad())
    return MakeError(ErrorCode::kMalformedDicom,
                     "cannot read the source image " + source_path + ": " + cond.text());
  DcmDataset* from = source.getDataset();
  OFString source_class, modality;
  from->findAndGetOFString(DCM_SOPClassUID, source_class);
  from->findAndGetOFString(DCM_Modality, modality);

  DcmFileFormat file;
  DcmDataset* ds = file.getDataset();
  for (const DcmTagKey& tag : kCopied) {
    DcmElement* element = nullptr;
    if (from->findAndGetElement(tag, element).good() && element != nullptr)
      ds->insert(OFstatic_cast(DcmElement*, element->clone()), /*replaceOld=*/true);
  }
  const char* sop_class = image.frames > 1 ? UID_MultiframeGrayscaleWordSecondaryCaptureImageStorage
                          : image.secondary_capture ? UID_SecondaryCaptureImageStorage
                                                    : source_class.c_str();
  ds->putAndInsertString(DCM_SOPClassUID, sop_class);
  ds->putAndInsertString(DCM_SOPInstanceUID, image.sop_uid.c_str());
  ds->putAndInsertString(DCM_SeriesInstanceUID, image.series_uid.c_str());
  ds->putAndInsertString(DCM_Modality, modality.empty() ? "OT" : modality.c_str());
  ds->putAndInsertString(DCM_SeriesNumber, std::to_string(image.series_number).c_str());
  ds->putAndInsertString(DCM_InstanceNumber, std::to_string(image.instance_number).c_str());
  ds->putAndInsertString(DCM_SeriesDescription, image.series_description.c_str());
  ds->putAndInsertString(DCM_ImageType, image.image_type.c_str());
  ds->putAndInsertString(DCM_DerivationDescription, image.derivation_description.c_str());
  ds->putAndInsertString(DCM_Manufacturer, "dxhub");
  ds->putAndInsertString(DCM_BurnedInAnnotation, "NO");
  if (image.secondary_capture || image.frames > 1)
    ds->putAndInsertString(DCM_ConversionType, "WSD");  // workstation
  if (image.frames > 1) {
    ds->putAndInsertString(DCM_NumberOfFrames, std::to_string(image.frames).c_str());
    // Frames follow each other in time, FrameTime apart (the cine viewers play it so).
    ds->putAndInsertTagKey(DCM_FrameIncrementPointer, DCM_FrameTime);
    // The source's pace when not given (an angiogram's FrameTime), else 15 frames a second.
    double source_time = 0;
    OFString text;
    if (from->findAndGetOFString(DCM_FrameTime, text).good() &&
        !ParseNumber(text.c_str(), source_time))
      source_time = 0;
    const double ms = image.frame_time_ms > 0 ? image.frame_time_ms
                      : source_time > 0       ? source_time
                                              : 66.7;
    ds->putAndInsertString(DCM_FrameTime, Decimal(ms).c_str());
  }
  if (image.has_position) {
    ds->putAndInsertString(DCM_ImagePositionPatient, Decimals(image.position.data(), 3).c_str());
    ds->putAndInsertString(DCM_ImageOrientationPatient,
                           Decimals(image.orientation.data(), 6).c_str());
    if (image.slice_thickness > 0)
      ds->putAndInsertString(DCM_SliceThickness, Decimal(image.slice_thickness).c_str());
  }
  ds->putAndInsertString(DCM_PixelSpacing, Decimals(image.pixel_spacing.data(), 2).c_str());
  if (!image.sources.empty()) {
    for (size_t i = 0; i < image.sources.size(); ++i) {
      DcmItem* item = nullptr;
      if (ds->findOrCreateSequenceItem(DCM_SourceImageSequence, item, static_cast<long>(i))
              .good()) {
        item->putAndInsertString(DCM_ReferencedSOPClassUID, image.sources[i].sop_class_uid.c_str());
        item->putAndInsertString(DCM_ReferencedSOPInstanceUID, image.sources[i].sop_uid.c_str());
      }
    }
  }
  ds->putAndInsertUint16(DCM_SamplesPerPixel, 1);
  ds->putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2");
  ds->putAndInsertUint16(DCM_Rows, static_cast<Uint16>(image.rows));
  ds->putAndInsertUint16(DCM_Columns, static_cast<Uint16>(image.columns));
  ds->putAndInsertUint16(DCM_BitsAllocated, 16);
  ds->putAndInsertUint16(DCM_BitsStored, 16);
  ds->putAndInsertUint16(DCM_HighBit, 15);
  ds->putAndInsertUint16(DCM_PixelRepresentation, 1);
  ds->putAndInsertString(DCM_RescaleSlope, Decimal(image.slope).c_str());
  ds->putAndInsertString(DCM_RescaleIntercept, Decimal(image.intercept).c_str());
  if (modality != "CT")
    ds->putAndInsertString(DCM_RescaleType, "US");
  ds->putAndInsertString(DCM_WindowCenter, Decimal(image.window_centre).c_str());
  ds->putAndInsertString(DCM_WindowWidth, Decimal(image.window_width).c_str());
  ds->putAndInsertUint16Array(DCM_PixelData, reinterpret_cast<const Uint16*>(image.pixels.data()),
                              static_cast<unsigned long>(image.pixels.size()));
  cond = file.saveFile(dst.c_str(), EXS_LittleEndianExplicit, EET_ExplicitLength, EGL_recalcGL,
                       EPD_noChange, 0, 0, EWM_createNewMeta);
  if (cond.bad()) {
    fs::RemoveQuiet(dst);
    return MakeError(ErrorCode::kIo, std::string("cannot write derived image: ") + cond.text());
  }
  return fs::SyncPath(dst);
}

}  // namespace dxhub::dicom
