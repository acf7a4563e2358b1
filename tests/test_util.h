#pragma once
// Helpers shared by the unit tests: scratch directories and small synthetic DICOM files written
// with DCMTK (real encoders, so the files are what a modality would send).

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace dxhub::testing {

class ScratchDir {
 public:
  ScratchDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("dxhub-test-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string path() const { return path_.string(); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

struct SyntheticInstance {
  std::string patient_id = "PID1";
  std::string patient_name = "DOE^JANE";
  std::string charset;  // SpecificCharacterSet; names are then raw bytes in that charset
  std::string study_uid = "1.2.826.0.1.3680043.8.498.1";
  std::string series_uid = "1.2.826.0.1.3680043.8.498.1.1";
  std::string sop_uid = "1.2.826.0.1.3680043.8.498.1.1.1";
  std::string sop_class_uid = UID_CTImageStorage;
  std::string modality = "CT";
  std::string study_date = "20260101";
  int instance_number = 1;
  int rows = 8;
  int columns = 8;
  uint16_t fill = 100;
};

/// Writes a small uncompressed Part-10 file; returns false on failure.
inline bool WriteSynthetic(const SyntheticInstance& s, const std::string& path) {
  DcmFileFormat file;
  DcmDataset* ds = file.getDataset();
  if (!s.charset.empty())
    ds->putAndInsertString(DCM_SpecificCharacterSet, s.charset.c_str());
  ds->putAndInsertString(DCM_PatientID, s.patient_id.c_str());
  ds->putAndInsertString(DCM_PatientName, s.patient_name.c_str());
  ds->putAndInsertString(DCM_StudyInstanceUID, s.study_uid.c_str());
  ds->putAndInsertString(DCM_SeriesInstanceUID, s.series_uid.c_str());
  ds->putAndInsertString(DCM_SOPInstanceUID, s.sop_uid.c_str());
  ds->putAndInsertString(DCM_SOPClassUID, s.sop_class_uid.c_str());
  ds->putAndInsertString(DCM_Modality, s.modality.c_str());
  ds->putAndInsertString(DCM_StudyDate, s.study_date.c_str());
  ds->putAndInsertString(DCM_InstanceNumber, std::to_string(s.instance_number).c_str());
  ds->putAndInsertUint16(DCM_Rows, static_cast<Uint16>(s.rows));
  ds->putAndInsertUint16(DCM_Columns, static_cast<Uint16>(s.columns));
  ds->putAndInsertUint16(DCM_BitsAllocated, 16);
  ds->putAndInsertUint16(DCM_BitsStored, 16);
  ds->putAndInsertUint16(DCM_HighBit, 15);
  ds->putAndInsertUint16(DCM_PixelRepresentation, 0);
  ds->putAndInsertUint16(DCM_SamplesPerPixel, 1);
  ds->putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2");
  std::vector<Uint16> pixels(static_cast<size_t>(s.rows * s.columns), s.fill);
  ds->putAndInsertUint16Array(DCM_PixelData, pixels.data(),
                              static_cast<unsigned long>(pixels.size()));
  return file.saveFile(path.c_str(), EXS_LittleEndianExplicit).good();
}

}  // namespace dxhub::testing
