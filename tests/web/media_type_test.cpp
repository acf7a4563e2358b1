#include "web/media_type.h"

#include <gtest/gtest.h>

namespace dxhub::web {
namespace {

constexpr const char* kJ2k = "1.2.840.10008.1.2.4.90";
constexpr const char* kJpegBaseline = "1.2.840.10008.1.2.4.50";
constexpr const char* kExplicitLe = "1.2.840.10008.1.2.1";

TEST(MediaType, ParsesRangesParametersAndQuality) {
  auto ranges = ParseAccept(
      "multipart/related; type=\"image/jp2\"; transfer-syntax=1.2.840.10008.1.2.4.90;q=0.5, "
      "Multipart/Related; Type=\"application/octet-stream\", image/png;q=0");
  ASSERT_EQ(ranges.size(), 2u);  // q=0 means "not acceptable"
  EXPECT_EQ(ranges[0].type, "multipart/related");
  EXPECT_EQ(ranges[0].params.at("type"), "application/octet-stream");  // q=1 sorts first
  EXPECT_EQ(ranges[1].params.at("transfer-syntax"), kJ2k);
  EXPECT_DOUBLE_EQ(ranges[1].q, 0.5);
  EXPECT_TRUE(ParseAccept("").empty());
}

TEST(MediaType, FrameMediaTypes) {
  EXPECT_EQ(FrameMediaType(kJ2k), "image/jp2");
  EXPECT_EQ(FrameMediaType(kJpegBaseline), "image/jpeg");
  EXPECT_EQ(FrameMediaType("1.2.840.10008.1.2.4.80"), "image/jls");
  EXPECT_EQ(FrameMediaType("1.2.840.10008.1.2.5"), "image/dicom-rle");
  EXPECT_EQ(FrameMediaType("1.2.840.10008.1.2"), "application/octet-stream");
  EXPECT_EQ(FrameMediaType("1.2.840.10008.1.2.4.102"), "");  // MPEG-4: no frame media type
}

TEST(MediaType, NativeIsTheDefault) {
  for (const char* accept :
       {"", "*/*", "multipart/related", "multipart/related; type=\"application/octet-stream\"",
        "multipart/related; type=application/octet-stream; "
        "transfer-syntax=1.2.840.10008.1.2.1"}) {
    auto answer = NegotiateFrames(ParseAccept(accept), kJ2k);
    ASSERT_TRUE(answer) << accept;
    EXPECT_FALSE(answer->as_stored) << accept;
    EXPECT_EQ(answer->part_type,
              std::string("application/octet-stream; transfer-syntax=") + kExplicitLe);
  }
}

TEST(MediaType, StoredEncodingOnRequest) {
  auto any = NegotiateFrames(
      ParseAccept("multipart/related; type=\"application/octet-stream\"; transfer-syntax=*"), kJ2k);
  ASSERT_TRUE(any);
  EXPECT_TRUE(any->as_stored);
  EXPECT_EQ(any->part_type, std::string("application/octet-stream; transfer-syntax=") + kJ2k);

  auto jp2 = NegotiateFrames(ParseAccept("multipart/related; type=\"image/jp2\""), kJ2k);
  ASSERT_TRUE(jp2);
  EXPECT_TRUE(jp2->as_stored);
  EXPECT_EQ(jp2->root_type, "image/jp2");

  // Falls through to the next range when the first cannot be met without re-encoding.
  auto fallback =
      NegotiateFrames(ParseAccept("multipart/related; type=\"image/jpeg\", multipart/related; "
                                  "type=\"application/octet-stream\""),
                      kJ2k);
  ASSERT_TRUE(fallback);
  EXPECT_FALSE(fallback->as_stored);

  auto rle = NegotiateFrames(ParseAccept("multipart/related; type=\"image/x-dicom-rle\""),
                             "1.2.840.10008.1.2.5");
  ASSERT_TRUE(rle);
  EXPECT_TRUE(rle->as_stored);
}

TEST(MediaType, RefusesWhatWouldNeedReencoding) {
  EXPECT_FALSE(NegotiateFrames(ParseAccept("multipart/related; type=\"image/jpeg\""), kJ2k));
  EXPECT_FALSE(NegotiateFrames(
      ParseAccept("multipart/related; type=\"image/jp2\"; transfer-syntax=1.2.840.10008.1.2.4.91"),
      kJ2k));
  EXPECT_FALSE(NegotiateFrames(ParseAccept("multipart/related; type=\"image/jp2\""), kExplicitLe));
  EXPECT_FALSE(NegotiateFrames(ParseAccept("text/html"), kExplicitLe));
  EXPECT_FALSE(NegotiateFrames(ParseAccept("multipart/related; type=application/octet-stream; "
                                           "transfer-syntax=1.2.840.10008.1.2.4.50"),
                               kJ2k));
}

}  // namespace
}  // namespace dxhub::web
