#include "dicom/instance.h"

#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "../test_util.h"
#include "core/fs.h"

namespace dxhub::dicom {
namespace {

using dxhub::testing::ScratchDir;
using dxhub::testing::SyntheticInstance;
using dxhub::testing::WriteSynthetic;

const std::string kShared = DXHUB_SAMPLE_DATA;

std::string FirstFileIn(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files.empty() ? std::string() : files.front();
}

TEST(ReadInstance, RealJpeg2000CtSlice) {
  auto info = ReadInstanceFile(FirstFileIn(kShared + "/ct-abdomen-20slices"), true);
  ASSERT_TRUE(info.ok()) << info.error().ToString();
  EXPECT_EQ(info->modality, "CT");
  EXPECT_EQ(info->rows, 512);
  EXPECT_EQ(info->columns, 512);
  EXPECT_EQ(info->frames, 1);
  EXPECT_EQ(info->sop_class_uid, "1.2.840.10008.5.1.4.1.1.2");
  EXPECT_EQ(info->transfer_syntax_uid, "1.2.840.10008.1.2.4.90");  // JPEG 2000 lossless
  EXPECT_FALSE(info->study_uid.empty());
}

TEST(ReadInstance, RealMonochrome1ChestCr) {
  auto info = ReadInstanceFile(kShared + "/cr-chest/gdcm-CR-MONO1-10-chest.dcm");
  ASSERT_TRUE(info.ok()) << info.error().ToString();
  EXPECT_EQ(info->modality, "CR");
  EXPECT_EQ(info->rows, 440);
  EXPECT_EQ(info->columns, 440);
}

TEST(ReadInstance, Gb18030NameComesBackAsUtf8) {
  ScratchDir dir;
  SyntheticInstance s;
  s.charset = "GB18030";
  s.patient_name = "\xCD\xF5^\xD0\xA1\xB6\xAB";  // 王^小东 encoded in GB18030
  ASSERT_TRUE(WriteSynthetic(s, dir / "gb.dcm"));
  auto info = ReadInstanceFile(dir / "gb.dcm");
  ASSERT_TRUE(info.ok()) << info.error().ToString();
  EXPECT_EQ(info->patient_name, "王^小东");
  EXPECT_EQ(info->specific_character_set, "GB18030");
}

TEST(ReadInstance, GbkNameComesBackAsUtf8) {
  ScratchDir dir;
  SyntheticInstance s;
  s.charset = "GBK";
  s.patient_name = "\xC0\xEE^\xC3\xF7";  // 李^明 in GBK
  ASSERT_TRUE(WriteSynthetic(s, dir / "gbk.dcm"));
  auto info = ReadInstanceFile(dir / "gbk.dcm");
  ASSERT_TRUE(info.ok()) << info.error().ToString();
  EXPECT_EQ(info->patient_name, "李^明");
}

TEST(ReadInstance, Utf8NameIsKept) {
  ScratchDir dir;
  SyntheticInstance s;
  s.charset = "ISO_IR 192";
  s.patient_name = "张^伟";
  ASSERT_TRUE(WriteSynthetic(s, dir / "u.dcm"));
  auto info = ReadInstanceFile(dir / "u.dcm");
  ASSERT_TRUE(info.ok()) << info.error().ToString();
  EXPECT_EQ(info->patient_name, "张^伟");
}

TEST(ReadInstance, RejectsGarbage) {
  ScratchDir dir;
  {
    std::ofstream f(dir / "junk.dcm", std::ios::binary);
    for (int i = 0; i < 1000; ++i)
      f.put(static_cast<char>((i * 7919) & 0xFF));
  }
  auto info = ReadInstanceFile(dir / "junk.dcm");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code, ErrorCode::kMalformedDicom);
}

TEST(ReadInstance, RejectsTruncatedFile) {
  ScratchDir dir;
  SyntheticInstance s;
  s.rows = 64;
  s.columns = 64;
  ASSERT_TRUE(WriteSynthetic(s, dir / "full.dcm"));
  auto bytes = fs::ReadFile(dir / "full.dcm").value();
  {
    std::ofstream f(dir / "cut.dcm", std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 1000));
  }
  auto info = ReadInstanceFile(dir / "cut.dcm");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code, ErrorCode::kMalformedDicom) << info.error().ToString();
}

TEST(ReadInstance, RejectsTruncatedRealJpeg2000) {
  ScratchDir dir;
  auto bytes = fs::ReadFile(FirstFileIn(kShared + "/ct-abdomen-20slices")).value();
  {
    std::ofstream f(dir / "cut.dcm", std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  }
  EXPECT_FALSE(ReadInstanceFile(dir / "cut.dcm").ok());
}

TEST(ReadInstance, RejectsHostileUid) {
  ScratchDir dir;
  SyntheticInstance s;
  s.sop_uid = "../../etc/passwd";
  ASSERT_TRUE(WriteSynthetic(s, dir / "h.dcm"));
  auto info = ReadInstanceFile(dir / "h.dcm");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(info.error().message.find("SOPInstanceUID"), std::string::npos);
}

// A deflated Part-10 file: the meta header of a real deflated file written by DCMTK, then
// `head` and `repeat` copies of `body`, raw-deflated (a large dataset never exists in memory).
bool WriteDeflated(const std::string& dir, const std::string& path, const std::string& head,
                   const std::string& body, int repeat) {
  SyntheticInstance s;
  const std::string plain = dir + "/plain.dcm";
  const std::string real = dir + "/real.dcm";
  DcmFileFormat file;
  if (!WriteSynthetic(s, plain) || file.loadFile(plain.c_str()).bad() ||
      file.saveFile(real.c_str(), EXS_DeflatedLittleEndianExplicit).bad()) {
    return false;
  }
  Uint32 group_length = 0;
  file.getMetaInfo()->findAndGetUint32(DCM_FileMetaInformationGroupLength, group_length);
  std::ifstream in(real, std::ios::binary);
  std::string meta(132 + 12 + group_length, '\0');
  in.read(meta.data(), static_cast<std::streamsize>(meta.size()));
  std::ofstream out(path, std::ios::binary);
  out.write(meta.data(), static_cast<std::streamsize>(meta.size()));
  z_stream z{};
  deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::vector<char> packed(size_t{1} << 16);
  for (int i = -1; i <= repeat; ++i) {
    const bool last = i == repeat;
    const std::string& piece = i < 0 ? head : body;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(piece.data()));
    z.avail_in = last ? 0 : static_cast<uInt>(piece.size());
    do {
      z.next_out = reinterpret_cast<Bytef*>(packed.data());
      z.avail_out = static_cast<uInt>(packed.size());
      deflate(&z, last ? Z_FINISH : Z_NO_FLUSH);
      out.write(packed.data(), static_cast<std::streamsize>(packed.size() - z.avail_out));
    } while (z.avail_out == 0);
  }
  deflateEnd(&z);
  return static_cast<bool>(out);
}

// Explicit VR little endian element header with a 32-bit length (OB).
std::string ObHeader(uint16_t group, uint16_t element, uint32_t length) {
  std::string h;
  for (uint16_t v : {group, element})
    h += {static_cast<char>(v & 0xFF), static_cast<char>(v >> 8)};
  h += "OB";
  h += std::string(2, '\0');
  for (int i = 0; i < 4; ++i)
    h += static_cast<char>((length >> (8 * i)) & 0xFF);
  return h;
}

TEST(ReadInstance, ReadsADeflatedDataset) {
  ScratchDir dir;
  SyntheticInstance s;
  ASSERT_TRUE(WriteSynthetic(s, dir / "plain.dcm"));
  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile((dir / "plain.dcm").c_str()).good());
  ASSERT_TRUE(file.saveFile((dir / "d.dcm").c_str(), EXS_DeflatedLittleEndianExplicit).good());
  auto info = ReadInstanceFile(dir / "d.dcm");
  ASSERT_TRUE(info.ok()) << info.error().ToString();
  EXPECT_EQ(info->sop_uid, s.sop_uid);
}

TEST(ReadInstance, RefusesADeflateBomb) {
  // 300 MiB of zeros in a file of a few hundred KiB: refused before DCMTK inflates it into
  // memory.
  ScratchDir dir;
  const std::string megabyte(size_t{1} << 20, '\0');
  ASSERT_TRUE(WriteDeflated(dir.path(), dir / "bomb.dcm", ObHeader(0x7FE0, 0x0010, 300u << 20),
                            megabyte, 300));
  EXPECT_LT(std::filesystem::file_size(dir / "bomb.dcm"), size_t{2} << 20);
  auto info = ReadInstanceFile(dir / "bomb.dcm");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code, ErrorCode::kTooLarge);
}

TEST(ReadInstance, RefusesADeflatedElementLongerThanTheData) {
  // dataset_fuzzer's find: a few bytes announcing a 3.5 GB element, which DCMTK allocated.
  ScratchDir dir;
  ASSERT_TRUE(
      WriteDeflated(dir.path(), dir / "lie.dcm", ObHeader(0x0009, 0x1010, 0xD0000000u), "abcd", 1));
  auto info = ReadInstanceFile(dir / "lie.dcm");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code, ErrorCode::kMalformedDicom);
  // Refused by the bounded check on the inflated copy, not by DCMTK's own parse of the stream
  // (which first allocated what the element announced).
  EXPECT_NE(info.error().message.find("deflated"), std::string::npos) << info.error().message;
}

// The C-STORE path parses the bytes it kept in memory: every input must come out as it does
// from the file, refusals (truncated, hostile, deflate bombs) included.
TEST(ReadInstance, FromMemoryAsFromTheFile) {
  ScratchDir dir;
  std::vector<std::string> files;
  for (const char* sample : {"/ct-abdomen-20slices", "/cr-chest"}) {
    for (const auto& e : std::filesystem::directory_iterator(kShared + sample))
      files.push_back(e.path());
  }
  SyntheticInstance gb;
  gb.charset = "GB18030";
  gb.patient_name = "\xCD\xF5^\xD0\xA1\xB6\xAB";
  ASSERT_TRUE(WriteSynthetic(gb, dir / "gb.dcm"));
  SyntheticInstance hostile;
  hostile.sop_uid = "../../etc/passwd";
  ASSERT_TRUE(WriteSynthetic(hostile, dir / "hostile.dcm"));
  ASSERT_TRUE(WriteSynthetic(SyntheticInstance{}, dir / "plain.dcm"));
  DcmFileFormat plain;
  ASSERT_TRUE(plain.loadFile((dir / "plain.dcm").c_str()).good());
  ASSERT_TRUE(
      plain.saveFile((dir / "deflated.dcm").c_str(), EXS_DeflatedLittleEndianExplicit).good());
  const std::string megabyte(size_t{1} << 20, '\0');
  ASSERT_TRUE(WriteDeflated(dir.path(), dir / "bomb.dcm", ObHeader(0x7FE0, 0x0010, 300u << 20),
                            megabyte, 300));
  ASSERT_TRUE(
      WriteDeflated(dir.path(), dir / "lie.dcm", ObHeader(0x0009, 0x1010, 0xD0000000u), "abcd", 1));
  for (const char* name : {"gb.dcm", "hostile.dcm", "deflated.dcm", "bomb.dcm", "lie.dcm"})
    files.push_back(dir / name);
  const auto ct = fs::ReadFile(FirstFileIn(kShared + "/ct-abdomen-20slices")).value();
  for (size_t keep : {ct.size() / 2, ct.size() - 1, size_t{200}, size_t{10}}) {
    const std::string cut = dir / ("cut" + std::to_string(keep) + ".dcm");
    std::ofstream(cut, std::ios::binary).write(ct.data(), static_cast<std::streamsize>(keep));
    files.push_back(cut);
  }

  int refused = 0;
  for (const auto& file : files) {
    SCOPED_TRACE(file);
    const std::string bytes = fs::ReadFile(file).value();
    // Coerced: the shared CT series has its UIDs blanked (see below).
    auto from_file = ReadInstanceFile(file, true);
    auto from_memory = ReadInstance(file, bytes, true);
    ASSERT_EQ(from_file.ok(), from_memory.ok())
        << (from_file.ok() ? from_memory.error() : from_file.error()).ToString();
    if (from_file.ok()) {
      EXPECT_EQ(*from_file, *from_memory);
    } else {
      EXPECT_EQ(from_file.error().code, from_memory.error().code) << from_memory.error().message;
      ++refused;
    }
  }
  EXPECT_EQ(refused, 7);  // hostile, bomb, lie and the four cut files
}

TEST(ReadInstance, RejectsMissingSopInstanceUid) {
  ScratchDir dir;
  SyntheticInstance s;
  s.sop_uid = "";  // and so also absent from the meta header DCMTK writes
  ASSERT_TRUE(WriteSynthetic(s, dir / "m.dcm"));
  auto info = ReadInstanceFile(dir / "m.dcm");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code, ErrorCode::kMissingAttribute);
}

TEST(ReadInstance, DerivesMissingStudyUidStably) {
  ScratchDir dir;
  SyntheticInstance s;
  s.study_uid = "";
  ASSERT_TRUE(WriteSynthetic(s, dir / "a.dcm"));
  s.sop_uid = "1.2.3.9";
  ASSERT_TRUE(WriteSynthetic(s, dir / "b.dcm"));
  EXPECT_EQ(ReadInstanceFile(dir / "a.dcm").error().code, ErrorCode::kMissingAttribute);
  auto a = ReadInstanceFile(dir / "a.dcm", true).value();
  auto b = ReadInstanceFile(dir / "b.dcm", true).value();
  EXPECT_EQ(a.coerced, (std::vector<std::string>{"StudyInstanceUID"}));
  EXPECT_EQ(a.study_uid, b.study_uid);
  EXPECT_LE(a.study_uid.size(), 64u);
}

TEST(CopyAsPart10, KeepsPart10BytesExactly) {
  ScratchDir dir;
  SyntheticInstance s;
  ASSERT_TRUE(WriteSynthetic(s, dir / "a.dcm"));
  ASSERT_TRUE(CopyAsPart10(dir / "a.dcm", dir / "b.dcm").ok());
  EXPECT_EQ(fs::ReadFile(dir / "a.dcm").value(), fs::ReadFile(dir / "b.dcm").value());
}

}  // namespace
}  // namespace dxhub::dicom

namespace dxhub::dicom {
namespace {

// The shared CT series was anonymised with its Study/Series/SOP UIDs blanked in the dataset.
TEST(ReadInstance, CoercesBlankUidsOfRealAnonymisedSeriesConsistently) {
  std::set<std::string> studies, series, sops;
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(kShared + "/ct-abdomen-20slices")) {
    auto info = ReadInstanceFile(e.path(), /*coerce_missing_uids=*/true);
    ASSERT_TRUE(info.ok()) << info.error().ToString();
    EXPECT_EQ(info->coerced, (std::vector<std::string>{"SOPClassUID", "SOPInstanceUID",
                                                       "StudyInstanceUID", "SeriesInstanceUID"}));
    EXPECT_TRUE(info->study_uid.rfind("2.25.", 0) == 0);
    studies.insert(info->study_uid);
    series.insert(info->series_uid);
    sops.insert(info->sop_uid);
    ++files;
  }
  EXPECT_EQ(files, 20);
  EXPECT_EQ(studies.size(), 1u);
  EXPECT_EQ(series.size(), 1u);
  EXPECT_EQ(sops.size(), 20u);
}

TEST(WriteCoerced, StoredCopyCarriesTheUidsAndKeepsJpeg2000) {
  ScratchDir dir;
  std::string src = FirstFileIn(kShared + "/ct-abdomen-20slices");
  auto info = ReadInstanceFile(src, true).value();
  ASSERT_TRUE(WriteCoerced(src, info, dir / "c.dcm").ok());
  auto again = ReadInstanceFile(dir / "c.dcm");
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_TRUE(again->coerced.empty());
  EXPECT_EQ(again->study_uid, info.study_uid);
  EXPECT_EQ(again->series_uid, info.series_uid);
  EXPECT_EQ(again->sop_uid, info.sop_uid);
  EXPECT_EQ(again->transfer_syntax_uid, "1.2.840.10008.1.2.4.90");
}

}  // namespace
}  // namespace dxhub::dicom
