#include "web/dicomweb_routes.h"

#include <spdlog/spdlog.h>

#include <array>
#include <charconv>
#include <fstream>
#include <memory>
#include <random>

#include "core/strings.h"
#include "core/uid.h"
#include "dicom/instance.h"
#include "dicom/pixels.h"
#include "web/qido.h"

namespace dxhub::web {
namespace {

using nlohmann::json;
using store::Field;
using store::Filter;
using store::Level;

std::string BaseUrl(const httplib::Request& req) {
  std::string host = req.get_header_value("Host");
  if (host.empty())
    host = "127.0.0.1";
  return "http://" + host + "/dicom-web";
}

// UIDs from the path, validated; a hostile segment is a 400, never a lookup.
Result<std::vector<Filter>> PathFilters(const httplib::Request& req,
                                        const std::vector<Field>& fields) {
  std::vector<Filter> filters;
  for (size_t i = 0; i < fields.size(); ++i) {
    std::string uid = req.matches[i + 1];
    static const char* kNames[] = {"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"};
    Status valid = ValidateUid(uid, kNames[std::min<size_t>(i, 2)]);
    if (!valid.ok())
      return MakeError(ErrorCode::kInvalidArgument, valid.error().message);
    filters.push_back({fields[i], Filter::Kind::kList, {uid}});
  }
  return filters;
}

void SendJsonBody(httplib::Response& res, int status, const json& body, const char* type) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), type);
}

bool AcceptsJson(const httplib::Request& req) {
  std::string accept = req.get_header_value("Accept");
  return accept.empty() || accept.find("*/*") != std::string::npos ||
         accept.find("application/dicom+json") != std::string::npos ||
         accept.find("application/json") != std::string::npos;
}

bool ParseNumber(const std::string& text, double& value) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && ptr == text.data() + text.size();
}

std::string RandomBoundary() {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string b = "dxhub-";
  for (int i = 0; i < 24; ++i)
    b.push_back(kHex[rd() & 0xF]);
  return b;
}

}  // namespace

void DicomWebRoutes::Register(httplib::Server& s) {
  const std::string uid = "([^/]+)";
  const std::string study = "/dicom-web/studies/" + uid;
  const std::string series = study + "/series/" + uid;
  const std::string instance = series + "/instances/" + uid;

  // QIDO-RS
  Qido(s, "/dicom-web/studies", Level::kStudy, {});
  Qido(s, "/dicom-web/series", Level::kSeries, {});
  Qido(s, "/dicom-web/instances", Level::kInstance, {});
  Qido(s, study + "/series", Level::kSeries, {Field::kStudyUid});
  Qido(s, study + "/instances", Level::kInstance, {Field::kStudyUid});
  Qido(s, series + "/instances", Level::kInstance, {Field::kStudyUid, Field::kSeriesUid});

  // STOW-RS
  Stow(s, "/dicom-web/studies", false);
  Stow(s, study, true);

  // WADO-RS bulk data, metadata, then retrieve (the more specific patterns first).
  BulkData(s, instance + "/bulkdata/([0-9A-Fa-f]{8})");
  Rendered(s, instance + "/frames/([0-9]+)/rendered", true);
  Rendered(s, instance + "/rendered", false);
  Frames(s, instance + "/frames/([0-9,]+)");
  Metadata(s, instance + "/metadata", {Field::kStudyUid, Field::kSeriesUid, Field::kSopUid});
  Metadata(s, series + "/metadata", {Field::kStudyUid, Field::kSeriesUid});
  Metadata(s, study + "/metadata", {Field::kStudyUid});
  Retrieve(s, instance, {Field::kStudyUid, Field::kSeriesUid, Field::kSopUid});
  Retrieve(s, series, {Field::kStudyUid, Field::kSeriesUid});
  Retrieve(s, study, {Field::kStudyUid});
}

void DicomWebRoutes::Qido(httplib::Server& s, const std::string& pattern, Level level,
                          const std::vector<Field>& path_fields) {
  s.Get(pattern, [this, level, path_fields](const httplib::Request& req, httplib::Response& res) {
    if (!AcceptsJson(req)) {
      return SendErrorResponse(
          res, MakeError(ErrorCode::kNotAcceptable, "QIDO-RS answers application/dicom+json"));
    }
    auto path = PathFilters(req, path_fields);
    if (!path.ok())
      return SendErrorResponse(res, path.error());
    std::multimap<std::string, std::string> params(req.params.begin(), req.params.end());
    auto qido = ParseQido(level, params, std::move(path.value()));
    if (!qido.ok())
      return SendErrorResponse(res, qido.error());
    auto rows = archive_.index().Query(qido->query);
    if (!rows.ok())
      return SendErrorResponse(res, rows.error());
    json out = json::array();
    const std::string base = BaseUrl(req);
    for (const auto& row : *rows)
      out.push_back(QidoResult(row, level, base));
    if (qido->fuzzy_requested) {
      res.set_header("Warning",
                     "299 dxhub: The fuzzymatching parameter is not supported. Only literal "
                     "matching has been performed.");
    }
    SendJsonBody(res, 200, out, "application/dicom+json");
  });
}

// The instances under a WADO-RS path, or a 404 when the study/series/instance is unknown.
Result<std::vector<store::QueryRow>> DicomWebRoutes::Instances(const httplib::Request& req,
                                                               const std::vector<Field>& fields) {
  auto filters = PathFilters(req, fields);
  if (!filters.ok())
    return filters.error();
  auto rows = archive_.index().Query({Level::kInstance, std::move(filters.value()), 1 << 30, 0});
  if (!rows.ok())
    return rows.error();
  if (rows->empty())
    return MakeError(ErrorCode::kNotFound, "no such study, series or instance");
  return rows;
}

void DicomWebRoutes::Metadata(httplib::Server& s, const std::string& pattern,
                              const std::vector<Field>& fields) {
  s.Get(pattern, [this, fields](const httplib::Request& req, httplib::Response& res) {
    if (!AcceptsJson(req)) {
      return SendErrorResponse(res, MakeError(ErrorCode::kNotAcceptable,
                                              "metadata is served as application/dicom+json"));
    }
    auto rows = Instances(req, fields);
    if (!rows.ok())
      return SendErrorResponse(res, rows.error());
    const std::string base = BaseUrl(req);
    std::string body = "[";
    for (size_t i = 0; i < rows->size(); ++i) {
      const auto& r = (*rows)[i];
      std::string bulk = base + "/studies/" + r.study.study_uid + "/series/" + r.series.series_uid +
                         "/instances/" + r.instance.sop_uid + "/bulkdata";
      auto one = dicom::DatasetToJson(archive_.blobs().PathOf(r.blob_key), bulk);
      if (!one.ok()) {
        spdlog::error("dicomweb: metadata of {}: {}", r.instance.sop_uid, one.error().ToString());
        return SendErrorResponse(
            res, MakeError(ErrorCode::kInternal, "archived instance cannot be read"));
      }
      if (i > 0)
        body += ",";
      body += *one;
    }
    body += "]";
    res.status = 200;
    res.set_content(body, "application/dicom+json");
  });
}

void DicomWebRoutes::Retrieve(httplib::Server& s, const std::string& pattern,
                              const std::vector<Field>& fields) {
  s.Get(pattern, [this, fields](const httplib::Request& req, httplib::Response& res) {
    std::string accept = req.get_header_value("Accept");
    bool acceptable = accept.empty() || accept.find("*/*") != std::string::npos ||
                      (accept.find("multipart/related") != std::string::npos &&
                       accept.find("application/dicom") != std::string::npos);
    if (!acceptable) {
      return SendErrorResponse(
          res, MakeError(ErrorCode::kNotAcceptable,
                         "retrieve answers multipart/related; type=\"application/dicom\""));
    }
    auto rows = Instances(req, fields);
    if (!rows.ok())
      return SendErrorResponse(res, rows.error());
    // Archived bytes are served as stored: a request for another transfer syntax cannot be
    // honoured until transcoding exists.
    auto ts_pos = accept.find("transfer-syntax=");
    if (ts_pos != std::string::npos) {
      std::string wanted = accept.substr(ts_pos + 16);
      wanted = wanted.substr(0, wanted.find_first_of(";, "));
      if (!wanted.empty() && wanted.front() == '"')
        wanted = wanted.substr(1, wanted.find('"', 1) - 1);
      for (const auto& r : *rows) {
        if (wanted != "*" && wanted != r.instance.transfer_syntax_uid) {
          return SendErrorResponse(
              res, MakeError(ErrorCode::kNotAcceptable,
                             "instance " + r.instance.sop_uid + " is stored as " +
                                 r.instance.transfer_syntax_uid + "; transcoding to " + wanted +
                                 " is not supported"));
        }
      }
    }
    std::vector<std::string> paths;
    for (const auto& r : *rows)
      paths.push_back(archive_.blobs().PathOf(r.blob_key));
    const std::string boundary = RandomBoundary();
    res.status = 200;
    res.set_chunked_content_provider(
        "multipart/related; type=\"application/dicom\"; boundary=" + boundary,
        [paths = std::move(paths), boundary](size_t, httplib::DataSink& sink) {
          std::array<char, 1 << 16> buf{};
          for (const auto& path : paths) {
            std::ifstream in(path, std::ios::binary);
            if (!in) {
              spdlog::error("dicomweb: blob {} missing during retrieve", path);
              return false;  // aborts the response: the client sees a broken transfer
            }
            std::string head = "--" + boundary + "\r\nContent-Type: application/dicom\r\n\r\n";
            if (!sink.write(head.data(), head.size()))
              return false;
            while (in) {
              in.read(buf.data(), buf.size());
              if (in.gcount() > 0 && !sink.write(buf.data(), static_cast<size_t>(in.gcount())))
                return false;
            }
            if (!sink.write("\r\n", 2))
              return false;
          }
          std::string tail = "--" + boundary + "--\r\n";
          sink.write(tail.data(), tail.size());
          sink.done();
          return true;
        });
  });
}

void DicomWebRoutes::BulkData(httplib::Server& s, const std::string& pattern) {
  s.Get(pattern, [this](const httplib::Request& req, httplib::Response& res) {
    std::string accept = req.get_header_value("Accept");
    if (!accept.empty() && accept.find("*/*") == std::string::npos &&
        accept.find("application/octet-stream") == std::string::npos) {
      return SendErrorResponse(
          res, MakeError(ErrorCode::kNotAcceptable,
                         "bulk data is served as multipart/related application/octet-stream"));
    }
    auto rows = Instances(req, {Field::kStudyUid, Field::kSeriesUid, Field::kSopUid});
    if (!rows.ok())
      return SendErrorResponse(res, rows.error());
    const uint32_t tag =
        static_cast<uint32_t>(std::stoul(std::string(req.matches[4]), nullptr, 16));
    auto value = dicom::ReadBulkData(archive_.blobs().PathOf(rows->front().blob_key), tag);
    if (!value.ok())
      return SendErrorResponse(res, value.error());
    const std::string boundary = RandomBoundary();
    std::string body = "--" + boundary + "\r\nContent-Type: application/octet-stream\r\n\r\n";
    body += *value;
    body += "\r\n--" + boundary + "--\r\n";
    res.status = 200;
    res.set_content(body,
                    "multipart/related; type=\"application/octet-stream\"; boundary=" + boundary);
  });
}

void DicomWebRoutes::Frames(httplib::Server& s, const std::string& pattern) {
  s.Get(pattern, [this](const httplib::Request& req, httplib::Response& res) {
    std::string accept = req.get_header_value("Accept");
    if (!accept.empty() && accept.find("*/*") == std::string::npos &&
        accept.find("application/octet-stream") == std::string::npos) {
      return SendErrorResponse(res, MakeError(ErrorCode::kNotAcceptable,
                                              "frames are served uncompressed as multipart/related "
                                              "application/octet-stream"));
    }
    auto rows = Instances(req, {Field::kStudyUid, Field::kSeriesUid, Field::kSopUid});
    if (!rows.ok())
      return SendErrorResponse(res, rows.error());
    const std::string path = archive_.blobs().PathOf(rows->front().blob_key);
    const std::string list = req.matches[4];
    const std::string boundary = RandomBoundary();
    std::string body;
    for (const auto& number : Split(list, ",")) {
      if (number.empty() || number.size() > 6) {
        return SendErrorResponse(
            res, MakeError(ErrorCode::kInvalidArgument, "frame numbers must be 1..999999"));
      }
      auto frame = dicom::ReadFrame(path, std::stoi(number));
      if (!frame.ok())
        return SendErrorResponse(res, frame.error());
      body += "--" + boundary + "\r\nContent-Type: application/octet-stream\r\n\r\n";
      body += *frame;
      body += "\r\n";
    }
    body += "--" + boundary + "--\r\n";
    res.status = 200;
    res.set_content(body,
                    "multipart/related; type=\"application/octet-stream\"; boundary=" + boundary);
  });
}

void DicomWebRoutes::Rendered(httplib::Server& s, const std::string& pattern, bool frame_in_path) {
  s.Get(pattern, [this, frame_in_path](const httplib::Request& req, httplib::Response& res) {
    dicom::RenderOptions options;
    std::string accept = req.get_header_value("Accept");
    if (accept.find("image/png") != std::string::npos &&
        accept.find("image/jpeg") == std::string::npos) {
      options.format = dicom::RenderOptions::Format::kPng;
    } else if (!accept.empty() && accept.find("*/*") == std::string::npos &&
               accept.find("image/*") == std::string::npos &&
               accept.find("image/jpeg") == std::string::npos) {
      return SendErrorResponse(
          res, MakeError(ErrorCode::kNotAcceptable, "rendered images are image/jpeg or image/png"));
    }
    for (const auto& [name, value] : req.params) {
      if (name == "window") {
        // PS3.18: window=center,width[,function]; only the linear function is supported.
        auto fields = Split(value, ",");
        double center = 0, width = 0;
        bool ok = (fields.size() == 2 || (fields.size() == 3 && fields[2] == "linear")) &&
                  ParseNumber(fields[0], center) && ParseNumber(fields[1], width) && width > 0;
        if (!ok) {
          return SendErrorResponse(
              res, MakeError(ErrorCode::kInvalidArgument, "window must be center,width[,linear]"));
        }
        options.window_center = center;
        options.window_width = width;
      } else if (name == "quality") {
        double q = 0;
        if (!ParseNumber(value, q) || q < 1 || q > 100 || q != static_cast<int>(q)) {
          return SendErrorResponse(
              res, MakeError(ErrorCode::kInvalidArgument, "quality must be 1..100"));
        }
        options.quality = static_cast<int>(q);
      } else {
        return SendErrorResponse(res, MakeError(ErrorCode::kInvalidArgument,
                                                "unsupported rendering parameter '" + name + "'"));
      }
    }
    auto rows = Instances(req, {Field::kStudyUid, Field::kSeriesUid, Field::kSopUid});
    if (!rows.ok())
      return SendErrorResponse(res, rows.error());
    int frame = 1;
    if (frame_in_path) {
      const std::string number = req.matches[4];
      if (number.size() > 6) {
        return SendErrorResponse(
            res, MakeError(ErrorCode::kInvalidArgument, "frame numbers must be 1..999999"));
      }
      frame = std::stoi(number);
    }
    auto image =
        dicom::RenderFrame(archive_.blobs().PathOf(rows->front().blob_key), frame, options);
    if (!image.ok())
      return SendErrorResponse(res, image.error());
    res.status = 200;
    res.set_content(
        *image, options.format == dicom::RenderOptions::Format::kPng ? "image/png" : "image/jpeg");
  });
}

void SendErrorResponse(httplib::Response& res, const Error& error) {
  res.status = error.HttpStatus();
  json body = {{"error", error.Name()}, {"message", error.message}};
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

}  // namespace dxhub::web
