#include "dicom/segmentation.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmfg/fgderimg.h>
#include <dcmtk/dcmfg/fgfracon.h>
#include <dcmtk/dcmfg/fgpixmsr.h>
#include <dcmtk/dcmfg/fgplanor.h>
#include <dcmtk/dcmfg/fgplanpo.h>
#include <dcmtk/dcmiod/iodmacro.h>
#include <dcmtk/dcmseg/segdoc.h>
#include <dcmtk/dcmseg/segment.h>

#include <cstdio>
#include <memory>

#include "core/fs.h"
#include "core/uid.h"
#include "dicom/instance.h"

namespace dxhub::dicom {
namespace {

std::string Decimal(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.10g", v);
  return text;
}

Error Refused(const std::string& what, const OFCondition& cond) {
  return MakeError(ErrorCode::kInternal, "DICOM SEG: " + what + ": " + cond.text());
}

}  // namespace

Status WriteSegmentation(const std::string& source_path, const SegmentationInput& in,
                         const std::string& dst) {
  const size_t plane = static_cast<size_t>(in.rows) * static_cast<size_t>(in.columns);
  if (in.rows <= 0 || in.columns <= 0 || in.rows > 65535 || in.columns > 65535 ||
      in.slices.empty() || in.labels.size() != plane * in.slices.size() || in.segments.empty() ||
      in.segments.size() > 255)
    return MakeError(ErrorCode::kInvalidArgument, "segmentation input does not add up");
  DXHUB_TRY(ValidateUid(in.series_uid, "SeriesInstanceUID"));
  DXHUB_TRY(ValidateUid(in.sop_uid, "SOPInstanceUID"));

  IODGeneralEquipmentModule::EquipmentInfo equipment("dxhub", "dxhub", "1", "dxhub");
  ContentIdentificationMacro content("1", "DXHUB_SEG", in.series_description.substr(0, 64),
                                     "dxhub");
  DcmSegmentation* raw = nullptr;
  OFCondition cond = DcmSegmentation::createBinarySegmentation(
      raw, static_cast<Uint16>(in.rows), static_cast<Uint16>(in.columns), equipment, content);
  if (cond.bad() || raw == nullptr)
    return Refused("cannot create", cond);
  std::unique_ptr<DcmSegmentation> seg(raw);
  // Patient, study and frame of reference from the source's header (read once). dxhub reads
  // with DCMTK's input correction off (see instance.cpp), so UIDs keep their padding, which
  // dcmseg's checks refuse on writing: they are set again, trimmed, after the import.
  DcmFileFormat source;
  cond = source.loadFile(source_path.c_str(), EXS_Unknown, EGL_noChange, 4096);
  if (cond.bad())
    return Refused("cannot read the source " + source_path, cond);
  DcmDataset& header = *source.getDataset();
  cond = seg->importFromSourceImage(header);
  if (cond.bad())
    return Refused("cannot take patient and study from the source", cond);
  auto trimmed = [&](const DcmTagKey& tag) {
    OFString value;
    header.findAndGetOFStringArray(tag, value);
    std::string v(value);
    while (!v.empty() && (v.back() == '\0' || v.back() == ' '))
      v.pop_back();
    return v;
  };
  if (const std::string frame = trimmed(DCM_FrameOfReferenceUID); !frame.empty())
    seg->getFrameOfReference().setFrameOfReferenceUID(frame);
  seg->getStudy().setStudyInstanceUID(trimmed(DCM_StudyInstanceUID));
  seg->getSeries().setSeriesInstanceUID(in.series_uid);
  seg->getSeries().setSeriesNumber(std::to_string(in.series_number));
  seg->getSeries().setSeriesDescription(in.series_description.substr(0, 64));
  seg->getSOPCommon().setSOPInstanceUID(in.sop_uid);

  // What every frame shares: the pixel grid and its orientation.
  FGPixelMeasures measures;
  measures.setPixelSpacing(Decimal(in.pixel_spacing[0]) + "\\" + Decimal(in.pixel_spacing[1]));
  measures.setSliceThickness(Decimal(in.slice_thickness));
  if ((cond = seg->addForAllFrames(measures)).bad())
    return Refused("pixel measures", cond);
  std::unique_ptr<FGPlaneOrientationPatient> orientation(FGPlaneOrientationPatient::createMinimal(
      Decimal(in.orientation[0]), Decimal(in.orientation[1]), Decimal(in.orientation[2]),
      Decimal(in.orientation[3]), Decimal(in.orientation[4]), Decimal(in.orientation[5])));
  if (!orientation || (cond = seg->addForAllFrames(*orientation)).bad())
    return Refused("plane orientation", cond);

  // Frames are indexed by segment, then by position along the slices.
  const std::string dimensions = UidFromText(in.sop_uid + "|dimensions");
  IODMultiframeDimensionModule& dims = seg->getDimensions();
  if ((cond = dims.addDimensionIndex(DCM_ReferencedSegmentNumber, dimensions,
                                     DCM_SegmentIdentificationSequence, "Segment"))
          .bad() ||
      (cond = dims.addDimensionIndex(DCM_ImagePositionPatient, dimensions,
                                     DCM_PlanePositionSequence, "Position"))
          .bad())
    return Refused("dimensions", cond);

  const CodeSequenceMacro category("91723000", "SCT", "Anatomical Structure");
  int frames = 0;
  for (size_t s = 0; s < in.segments.size(); ++s) {
    const auto value = static_cast<uint8_t>(s + 1);
    bool any = false;
    for (uint8_t l : in.labels) {
      if (l == value) {
        any = true;
        break;
      }
    }
    if (!any)
      continue;
    const SegmentSpec& spec = in.segments[s];
    DcmSegment* segment = nullptr;
    cond = DcmSegment::create(segment, spec.label, category,
                              CodeSequenceMacro(spec.code_value, "SCT", spec.code_meaning),
                              DcmSegTypes::SAT_AUTOMATIC, in.algorithm);
    if (cond.bad() || segment == nullptr)
      return Refused("segment " + spec.label, cond);
    Uint16 number = 0;
    if ((cond = seg->addSegment(segment, number)).bad()) {
      delete segment;  // NOLINT(cppcoreguidelines-owning-memory): DCMTK owns it only on success
      return Refused("segment " + spec.label, cond);
    }
    std::vector<Uint8> frame(plane);
    for (size_t k = 0; k < in.slices.size(); ++k) {
      bool filled = false;
      for (size_t p = 0; p < plane; ++p) {
        frame[p] = in.labels[k * plane + p] == value ? 1 : 0;
        filled = filled || frame[p] != 0;
      }
      if (!filled)
        continue;
      const auto& slice = in.slices[k];
      std::unique_ptr<FGPlanePosPatient> position(FGPlanePosPatient::createMinimal(
          Decimal(slice.position[0]), Decimal(slice.position[1]), Decimal(slice.position[2])));
      FGFrameContent frame_content;
      frame_content.setDimensionIndexValues(number, 0);
      frame_content.setDimensionIndexValues(static_cast<Uint32>(k + 1), 1);
      OFVector<ImageSOPInstanceReferenceMacro> sources(1);
      sources[0].setReferencedSOPClassUID(slice.source_sop_class);
      sources[0].setReferencedSOPInstanceUID(slice.source_sop_uid);
      std::unique_ptr<FGDerivationImage> derivation(
          DcmSegmentation::createDerivationImageFG(sources, "dxhub segmentation"));
      if (!position || !derivation)
        return MakeError(ErrorCode::kInternal, "DICOM SEG: cannot describe frame");
      OFVector<FGBase*> per_frame;
      per_frame.push_back(position.get());
      per_frame.push_back(&frame_content);
      per_frame.push_back(derivation.get());
      if ((cond = seg->addFrame(frame.data(), number, per_frame)).bad())
        return Refused("frame " + std::to_string(k + 1), cond);
      ++frames;
    }
  }
  if (frames == 0)
    return MakeError(ErrorCode::kInvalidArgument, "the segmentation is empty");
  cond = seg->saveFile(dst, EXS_LittleEndianExplicit);
  if (cond.bad()) {
    fs::RemoveQuiet(dst);
    return Refused("cannot write " + dst, cond);
  }
  return fs::SyncPath(dst);
}

}  // namespace dxhub::dicom
