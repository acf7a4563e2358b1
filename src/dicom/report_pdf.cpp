#include "dicom/report_pdf.h"

#include <hpdf.h>
#include <iconv.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string_view>
#include <type_traits>
#include <vector>

namespace dxhub::dicom {
namespace {

constexpr float kMargin = 56;
constexpr float kBody = 10.5F;
constexpr float kLeading = 15;

// libharu reports errors through a callback; the first one is kept and checked after each step.
struct HpdfError {
  HPDF_STATUS code = HPDF_OK;
  HPDF_STATUS detail = 0;
};

void OnError(HPDF_STATUS code, HPDF_STATUS detail, void* user) {
  auto* error = static_cast<HpdfError*>(user);
  if (error->code == HPDF_OK) {
    error->code = code;
    error->detail = detail;
  }
}

using Doc = std::unique_ptr<std::remove_pointer_t<HPDF_Doc>, decltype(&HPDF_Free)>;

// Text in the font's encoding, without control characters: GBK for the Chinese font (a
// character GBK lacks prints as '?'), else ASCII with '?' for anything beyond it.
std::string Encode(std::string_view utf8, bool gbk) {
  std::string clean;
  for (char c : utf8) {
    if (c == '\t')
      clean += ' ';
    else if (static_cast<unsigned char>(c) >= 0x20 || c == '\n')
      clean += c;
  }
  std::string out;
  iconv_t cd = gbk ? iconv_open("GBK", "UTF-8") : nullptr;
  // iconv_open's failure value is (iconv_t)-1.
  if (cd != nullptr && reinterpret_cast<intptr_t>(cd) == -1)
    cd = nullptr;
  size_t i = 0;
  while (i < clean.size()) {
    const auto lead = static_cast<unsigned char>(clean[i]);
    size_t n = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    n = std::min(n, clean.size() - i);
    if (lead < 0x80) {
      out += clean[i];
    } else if (cd != nullptr) {
      char in_buf[4];
      char out_buf[8];
      std::copy_n(clean.data() + i, n, in_buf);
      char* in_ptr = in_buf;
      char* out_ptr = out_buf;
      size_t in_left = n;
      size_t out_left = sizeof out_buf;
      if (iconv(cd, &in_ptr, &in_left, &out_ptr, &out_left) == static_cast<size_t>(-1))
        out += '?';
      else
        out.append(out_buf, static_cast<size_t>(out_ptr - out_buf));
    } else {
      out += '?';
    }
    i += n;
  }
  if (cd != nullptr)
    iconv_close(cd);
  return out;
}

bool IsAscii(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// "Wang^Li" as people read it.
std::string PersonName(const std::string& pn) {
  std::string out;
  for (char c : pn)
    out += c == '^' ? ' ' : c;
  while (!out.empty() && out.back() == ' ')
    out.pop_back();
  return out;
}

std::string Date(const std::string& da) {
  if (da.size() < 8)
    return da;
  return da.substr(0, 4) + "-" + da.substr(4, 2) + "-" + da.substr(6, 2);
}

std::string DateTime(const std::string& dt) {
  if (dt.size() < 12)
    return Date(dt);
  return Date(dt) + " " + dt.substr(8, 2) + ":" + dt.substr(10, 2);
}

class Writer {
 public:
  /// `cjk`: the GBK font for Chinese runs; null when the page has none.
  Writer(HPDF_Doc doc, HpdfError& error, HPDF_Font latin, HPDF_Font cjk)
      : doc_(doc), error_(error), latin_(latin), cjk_(cjk), gbk_(cjk != nullptr) {}

  void Line(const std::string& text, float size, float gap_after = 0) {
    for (const auto& line : Wrap(Encode(text, gbk_), size)) {
      Room(size * 1.45F);
      // Runs of Latin text in Helvetica, runs of Chinese in the CJK font.
      float x = kMargin;
      size_t i = 0;
      while (i < line.size()) {
        const bool wide = IsWide(line, i);
        size_t end = i;
        while (end < line.size() && IsWide(line, end) == wide)
          end += wide ? 2 : 1;
        const std::string run = line.substr(i, end - i);
        HPDF_Page_SetFontAndSize(page_, wide ? cjk_ : latin_, size);
        HPDF_Page_BeginText(page_);
        HPDF_Page_TextOut(page_, x, y_ - size, run.c_str());
        HPDF_Page_EndText(page_);
        x += HPDF_Page_TextWidth(page_, run.c_str());
        i = end;
      }
      y_ -= size * 1.45F;
    }
    y_ -= gap_after;
  }

  void Rule() {
    Room(8);
    HPDF_Page_SetLineWidth(page_, 0.6F);
    HPDF_Page_MoveTo(page_, kMargin, y_ - 3);
    HPDF_Page_LineTo(page_, HPDF_Page_GetWidth(page_) - kMargin, y_ - 3);
    HPDF_Page_Stroke(page_);
    y_ -= 10;
  }

  bool failed() const { return error_.code != HPDF_OK; }

 private:
  // Starts a new page when fewer than `height` points are left above the bottom margin.
  void Room(float height) {
    if (page_ != nullptr && y_ - height >= kMargin)
      return;
    page_ = HPDF_AddPage(doc_);
    HPDF_Page_SetSize(page_, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
    y_ = HPDF_Page_GetHeight(page_) - kMargin;
  }

  // Lines that fit the text width: broken after the last space that fits (Latin text), else
  // between characters (Chinese), never inside a two-byte GBK character.
  std::vector<std::string> Wrap(const std::string& text, float size) {
    Room(size * 1.45F);
    const float width = HPDF_Page_GetWidth(page_) - 2 * kMargin;
    std::vector<std::string> lines;
    std::string line;
    float used = 0;
    size_t last_space = std::string::npos;  // in `line`
    for (size_t i = 0; i < text.size();) {
      if (text[i] == '\n') {
        lines.push_back(line);
        line.clear();
        used = 0;
        last_space = std::string::npos;
        ++i;
        continue;
      }
      const size_t n = IsWide(text, i) ? 2 : 1;
      const std::string ch = text.substr(i, n);
      HPDF_Page_SetFontAndSize(page_, n == 2 ? cjk_ : latin_, size);
      const float w = HPDF_Page_TextWidth(page_, ch.c_str());
      if (used + w > width && !line.empty()) {
        if (ch != " " && last_space != std::string::npos) {
          lines.push_back(line.substr(0, last_space));
          line.erase(0, last_space + 1);
        } else {
          lines.push_back(line);
          line.clear();
        }
        used = Width(line, size);
        last_space = std::string::npos;
        if (ch == " ") {
          i += n;
          continue;
        }
      }
      if (ch == " ")
        last_space = line.size();
      line += ch;
      used += w;
      i += n;
    }
    lines.push_back(line);
    return lines;
  }

  // Whether text[i] starts a two-byte GBK character.
  bool IsWide(const std::string& text, size_t i) const {
    return gbk_ && static_cast<unsigned char>(text[i]) >= 0x81 && i + 1 < text.size();
  }

  float Width(const std::string& text, float size) {
    float w = 0;
    for (size_t i = 0; i < text.size();) {
      const size_t n = IsWide(text, i) ? 2 : 1;
      HPDF_Page_SetFontAndSize(page_, n == 2 ? cjk_ : latin_, size);
      w += HPDF_Page_TextWidth(page_, text.substr(i, n).c_str());
      i += n;
    }
    return w;
  }

  HPDF_Doc doc_;
  HpdfError& error_;
  HPDF_Font latin_;
  HPDF_Font cjk_;
  bool gbk_;
  HPDF_Page page_ = nullptr;
  float y_ = 0;
};

}  // namespace

Result<std::string> RenderReportPage(const ReportPage& page, const ReportDocument& report) {
  HpdfError error;
  Doc doc(HPDF_New(&OnError, &error), &HPDF_Free);
  if (!doc)
    return MakeError(ErrorCode::kInternal, "cannot start a PDF document");
  HPDF_SetCompressionMode(doc.get(), HPDF_COMP_ALL);
  HPDF_SetInfoAttr(doc.get(), HPDF_INFO_CREATOR, "dxhub");
  HPDF_SetInfoAttr(doc.get(), HPDF_INFO_TITLE, "Radiology report");

  // Latin text is set in Helvetica; Chinese text in SimSun through GBK (libharu's CID fonts;
  // readers supply the face, as they do for the standard Latin fonts). Embedding a TrueType CJK
  // font instead loses the glyphs libharu's subsetter does not follow (composite glyphs of
  // WenQuanYi Micro Hei).
  const bool gbk = !IsAscii(page.patient_name) || !IsAscii(page.study_description) ||
                   !IsAscii(report.findings) || !IsAscii(report.impression) ||
                   !IsAscii(report.author) || !IsAscii(report.organization) ||
                   !IsAscii(report.requested_by);
  HPDF_Font cjk = nullptr;
  if (gbk) {
    HPDF_UseCNSFonts(doc.get());
    HPDF_UseCNSEncodings(doc.get());
    cjk = HPDF_GetFont(doc.get(), "SimSun", "GBK-EUC-H");
  }
  HPDF_Font latin = HPDF_GetFont(doc.get(), "Helvetica", nullptr);
  if (latin == nullptr || (gbk && cjk == nullptr) || error.code != HPDF_OK)
    return MakeError(ErrorCode::kInternal, "cannot load a font for the PDF");

  Writer w(doc.get(), error, latin, cjk);
  const std::string title =
      report.version > 1 ? "Radiology report - addendum " + std::to_string(report.version - 1)
                         : std::string("Radiology report");
  w.Line(title, 18, 4);
  if (!report.organization.empty())
    w.Line(report.organization, 11, 2);
  w.Rule();
  std::string patient = "Patient: " + PersonName(page.patient_name) + "   ID: " + page.patient_id;
  if (!page.issuer.empty())
    patient += " (" + page.issuer + ")";
  w.Line(patient, kBody);
  w.Line("Born: " + (page.birth_date.empty() ? std::string("-") : Date(page.birth_date)) +
             "   Sex: " + (page.sex.empty() ? std::string("-") : page.sex),
         kBody);
  std::string study = "Study: " + Date(page.study_date);
  if (!page.modality.empty())
    study += "  " + page.modality;
  if (!page.study_description.empty())
    study += "  " + page.study_description;
  if (!page.accession.empty())
    study += "   Accession: " + page.accession;
  w.Line(study, kBody);
  if (!report.requested_by.empty())
    w.Line("Requested by: " + report.requested_by, kBody);
  w.Rule();
  if (!report.findings.empty()) {
    w.Line("Findings", 13, 2);
    w.Line(report.findings, kBody, kLeading / 2);
  }
  if (!report.impression.empty()) {
    w.Line("Impression", 13, 2);
    w.Line(report.impression, kBody, kLeading / 2);
  }
  w.Rule();
  w.Line("Signed by " + PersonName(report.author) +
             (report.organization.empty() ? "" : ", " + report.organization) + ", " +
             DateTime(page.signed_at),
         kBody);
  w.Line("Version " + std::to_string(report.version) +
             ". A signed report is never changed; corrections are issued as addenda.",
         8);
  if (w.failed()) {
    return MakeError(ErrorCode::kInternal,
                     "cannot draw the PDF (libharu error " + std::to_string(error.code) + ")");
  }
  if (HPDF_SaveToStream(doc.get()) != HPDF_OK)
    return MakeError(ErrorCode::kInternal, "cannot write the PDF");
  std::string out(HPDF_GetStreamSize(doc.get()), '\0');
  HPDF_UINT32 size = static_cast<HPDF_UINT32>(out.size());
  // Reading to the end of the stream "fails" with HPDF_STREAM_EOF; the size read is what counts.
  (void)HPDF_ReadFromStream(doc.get(), reinterpret_cast<HPDF_BYTE*>(out.data()), &size);
  if (size == 0 || size > out.size())
    return MakeError(ErrorCode::kInternal, "cannot read the PDF back");
  out.resize(size);
  return out;
}

}  // namespace dxhub::dicom
