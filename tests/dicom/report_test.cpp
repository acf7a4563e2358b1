// A signed report as DICOM: the Basic Text SR and the Encapsulated PDF pass dicom3tools'
// dciodvfy without errors, read back with DCMTK's dsrdump, and keep the patient of the study
// (converted to UTF-8 when it came in another character set).

#include "dicom/report.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

#include "../test_util.h"

namespace dxhub::dicom {
namespace {

// stdout and stderr of `command`.
std::string Shell(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen((command + " 2>&1").c_str(), "r"), &pclose);
  std::string out;
  if (!pipe)
    return out;
  std::array<char, 4096> buffer{};
  size_t n = 0;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe.get())) > 0)
    out.append(buffer.data(), n);
  return out;
}

// dciodvfy's lines that start with "Error" (warnings are allowed).
std::string DciodvfyErrors(const std::string& path) {
  const std::string out = Shell("dciodvfy '" + path + "'");
  std::string errors;
  size_t start = 0;
  while (start < out.size()) {
    size_t end = out.find('\n', start);
    if (end == std::string::npos)
      end = out.size();
    const std::string line = out.substr(start, end - start);
    if (line.rfind("Error", 0) == 0)
      errors += line + "\n";
    start = end + 1;
  }
  return errors;
}

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::SyntheticInstance source;
    // 王小明 in GB18030, as a clinic's modality sends it.
    source.charset = "GB18030";
    source.patient_name = "\xcd\xf5\x5e\xd0\xa1\xc3\xf7";
    source.patient_id = "P001";
    ASSERT_TRUE(testing::WriteSynthetic(source, source_));
    report_.series_uid = "1.2.826.0.1.3680043.8.498.9.1";
    report_.sop_uid = "1.2.826.0.1.3680043.8.498.9.1.1";
    report_.pdf_series_uid = "1.2.826.0.1.3680043.8.498.9.2";
    report_.pdf_sop_uid = "1.2.826.0.1.3680043.8.498.9.2.1";
    report_.series_number = 9900;
    report_.author = "Li^Wei";
    report_.organization = "Main Hospital";
    report_.requested_by = "Clinic A";
    report_.signed_ms = 1'796'000'000'000;
    report_.findings = "Right lower lobe consolidation.\n右下肺实变。";
    report_.impression = "Pneumonia.";
  }

  testing::ScratchDir dir_;
  std::string source_ = dir_ / "source.dcm";
  ReportDocument report_;
};

TEST_F(ReportTest, TheSrIsAValidVerifiedBasicTextReport) {
  const std::string sr = dir_ / "sr.dcm";
  Status st = WriteReportSr(source_, report_, sr);
  ASSERT_TRUE(st.ok()) << st.error().ToString();
  EXPECT_EQ(DciodvfyErrors(sr), "");
  const std::string dump = Shell("dsrdump +Pl '" + sr + "'");
  EXPECT_NE(dump.find("Basic Text SR"), std::string::npos) << dump;
  EXPECT_NE(dump.find("VERIFIED"), std::string::npos) << dump;
  EXPECT_NE(dump.find("Findings"), std::string::npos) << dump;
  EXPECT_NE(dump.find("Right lower lobe consolidation."), std::string::npos) << dump;
  EXPECT_NE(dump.find("右下肺实变"), std::string::npos) << dump;
  EXPECT_NE(dump.find("Impressions"), std::string::npos) << dump;
  EXPECT_NE(dump.find("Pneumonia."), std::string::npos) << dump;
  EXPECT_NE(dump.find("Li^Wei"), std::string::npos) << dump;
  // The patient as the clinic sent it, now in UTF-8.
  const std::string header = Shell("dcmdump '" + sr + "'");
  EXPECT_NE(header.find("ISO_IR 192"), std::string::npos) << header;
  EXPECT_NE(header.find("王^小明"), std::string::npos) << header;
  EXPECT_NE(header.find("1.2.826.0.1.3680043.8.498.1]"), std::string::npos);  // the study

  // An addendum names the version before it.
  ReportDocument addendum = report_;
  addendum.version = 2;
  addendum.sop_uid = "1.2.826.0.1.3680043.8.498.9.1.2";
  addendum.predecessors = {report_.sop_uid};
  addendum.findings = "";
  addendum.impression = "Addendum: no change on the lateral view.";
  const std::string sr2 = dir_ / "sr2.dcm";
  st = WriteReportSr(source_, addendum, sr2);
  ASSERT_TRUE(st.ok()) << st.error().ToString();
  EXPECT_EQ(DciodvfyErrors(sr2), "");
  const std::string dump2 = Shell("dcmdump '" + sr2 + "'");
  EXPECT_NE(dump2.find("PredecessorDocumentsSequence"), std::string::npos);
  EXPECT_NE(dump2.find(report_.sop_uid), std::string::npos);
  EXPECT_EQ(dump2.find("Findings"), std::string::npos);  // left out when empty

  report_.findings.clear();
  report_.impression.clear();
  EXPECT_EQ(WriteReportSr(source_, report_, dir_ / "empty.dcm").error().code,
            ErrorCode::kInvalidArgument);
  report_.impression = "x";
  report_.sop_uid = "../../etc";
  EXPECT_FALSE(WriteReportSr(source_, report_, dir_ / "bad.dcm").ok());
}

TEST_F(ReportTest, ThePdfIsEncapsulatedValidAndReadsBackByteForByte) {
  auto pdf = RenderReportPdf(source_, report_);
  ASSERT_TRUE(pdf.ok()) << pdf.error().ToString();
  EXPECT_EQ(pdf->compare(0, 5, "%PDF-"), 0);
  EXPECT_NE(pdf->find("%%EOF"), std::string::npos);
  // Chinese on the page: set in the CJK font.
  EXPECT_NE(pdf->find("SimSun"), std::string::npos);

  const std::string path = dir_ / "pdf.dcm";
  Status st = WriteEncapsulatedPdf(source_, report_, *pdf, path);
  ASSERT_TRUE(st.ok()) << st.error().ToString();
  EXPECT_EQ(DciodvfyErrors(path), "");
  auto back = ReadEncapsulatedDocument(path);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(*back, *pdf);
  const std::string header = Shell("dcmdump '" + path + "'");
  EXPECT_NE(header.find("application/pdf"), std::string::npos);
  EXPECT_NE(header.find("(0028,0301) CS [YES]"), std::string::npos);  // BurnedInAnnotation

  EXPECT_EQ(WriteEncapsulatedPdf(source_, report_, "not a pdf", dir_ / "x.dcm").error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_FALSE(ReadEncapsulatedDocument(source_).ok());
}

TEST_F(ReportTest, LongTextFlowsOntoMorePages) {
  std::string text;
  for (int i = 0; i < 400; ++i)
    text += "Line " + std::to_string(i) + ": 双肺纹理清晰, no focal lesion.\n";
  report_.findings = text;
  auto pdf = RenderReportPdf(source_, report_);
  ASSERT_TRUE(pdf.ok()) << pdf.error().ToString();
  // /Count N in the page tree: more than one page.
  const size_t count = pdf->find("/Count ");
  ASSERT_NE(count, std::string::npos);
  EXPECT_GT(std::stoi(pdf->substr(count + 7)), 1);
}

}  // namespace
}  // namespace dxhub::dicom
