#include "web/multipart.h"

#include <gtest/gtest.h>

namespace dxhub::web {
namespace {

TEST(Multipart, BoundaryAndTypeParameters) {
  EXPECT_EQ(
      MultipartBoundary("multipart/related; type=\"application/dicom\"; boundary=abc").value(),
      "abc");
  EXPECT_EQ(MultipartBoundary("multipart/related; boundary=\"a b\"").value(), "a b");
  EXPECT_FALSE(MultipartBoundary("multipart/related; type=application/dicom").ok());
  EXPECT_EQ(ContentTypeParam("multipart/related; Type=\"application/dicom\"", "type"),
            "application/dicom");
  EXPECT_EQ(ContentTypeParam("multipart/related", "type"), "");
}

TEST(Multipart, SplitsPartsWithHeadersAndBinaryBodies) {
  std::string body =
      "preamble\r\n--XY\r\nContent-Type: application/dicom\r\n\r\n\x01\x02\r\n-\r\n--XY\r\n"
      "content-type:  application/dicom  \r\nX-Other: 1\r\n\r\nsecond\r\n--XY--\r\nepilogue";
  auto parts = ParseMultipart(body, "XY");
  ASSERT_TRUE(parts.ok()) << parts.error().ToString();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].headers.at("content-type"), "application/dicom");
  EXPECT_EQ((*parts)[0].body, std::string_view("\x01\x02\r\n-", 5));
  EXPECT_EQ((*parts)[1].headers.at("x-other"), "1");
  EXPECT_EQ((*parts)[1].body, "second");
}

TEST(Multipart, RefusesWrongBoundaryAndTruncation) {
  std::string body = "--XY\r\nContent-Type: a\r\n\r\ndata\r\n--XY--\r\n";
  EXPECT_TRUE(ParseMultipart(body, "XY").ok());
  EXPECT_FALSE(ParseMultipart(body, "OTHER").ok());
  for (size_t cut : {body.size() - 4, body.size() - 10, size_t{12}, size_t{6}}) {
    auto parts = ParseMultipart(std::string_view(body).substr(0, cut), "XY");
    EXPECT_FALSE(parts.ok()) << "cut at " << cut;
  }
  EXPECT_FALSE(ParseMultipart("--XY\r\nno-colon-header\r\n\r\nx\r\n--XY--", "XY").ok());
}

}  // namespace
}  // namespace dxhub::web
