#include "web/dicomweb_routes.h"

#include <spdlog/spdlog.h>

#include <array>
#include <charconv>
#include <fstream>
#include <map>
#include <memory>
#include <random>

#include "core/strings.h"
#include "core/uid.h"
#include "dicom/instance.h"
#include "dicom/pixels.h"
#include "web/media_type.h"
#include "web/qido.h"

namespace dxhub::web {
namespace {

using nlohmann::json;
using store::Field;

// Every DICOMweb read is a read of patient data.
const RoutePolicy kRead = Needs(Role::kViewer, Data::kPatient);
using store::Filter;
using store::Level;

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

std::string RandomBoundary() {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string b = "dxhub-";
  for (int i = 0; i < 24; ++i)
    b.push_back(kHex[rd() & 0xF]);
  return b;
}

}  // namespace

void DicomWebRoutes::Register(RouteTable& s) {
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
  Thumbnail(s, instance + "/frames/([0-9]+)/thumbnail",
            {Field::kStudyUid, Field::kSeriesUid, Field::kSopUid}, true);
  Thumbnail(s, instance + "/thumbnail", {Field::kStudyUid, Field::kSeriesUid, Field::kSopUid},
            false);
  Thumbnail(s, series + "/thumbnail", {Field::kStudyUid, Field::kSeriesUid}, false);
  Thumbnail(s, study + "/thumbnail", {Field::kStudyUid}, false);
  Frames(s, instance + "/frames/([0-9,]+)");
  Metadata(s, instance + "/metadata", {Field::kStudyUid, Field::kSeriesUid, Field::kSopUid});
  Metadata(s, series + "/metadata", {Field::kStudyUid, Field::kSeriesUid});
  Metadata(s, study + "/metadata", {Field::kStudyUid});
  Retrieve(s, instance, {Field::kStudyUid, Field::kSeriesUid, Field::kSopUid});
  Retrieve(s, series, {Field::kStudyUid, Field::kSeriesUid});
  Retrieve(s, study, {Field::kStudyUid});
}

void DicomWebRoutes::Qido(RouteTable& s, const std::string& pattern, Level level,
                          const std::vector<Field>& path_fields) {
  s.Get(pattern, kRead,
        [this, level, path_fields](const RequestContext& ctx, const httplib::Request& req,
                                   httplib::Response& res) {
          if (!AcceptsJson(req)) {
            return SendErrorResponse(res, MakeError(ErrorCode::kNotAcceptable,
                                                    "QIDO-RS answers application/dicom+json"));
          }
          auto path = PathFilters(req, path_fields);
          if (!path.ok())
            return SendErrorResponse(res, path.error());
          std::multimap<std::string, std::string> params(req.params.begin(), req.params.end());
          auto qido = ParseQido(level, params, std::move(path.value()));
          if (!qido.ok())
            return SendErrorResponse(res, qido.error());
          auto rows = archive_.index().Query(ctx.caller->scope, qido->query);
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
Result<std::vector<store::QueryRow>> DicomWebRoutes::Instances(const store::Scope& scope,
                                                               const httplib::Request& req,
                                                               const std::vector<Field>& fields) {
  auto filters = PathFilters(req, fields);
  if (!filters.ok())
    return filters.error();
  auto rows =
      archive_.index().Query(scope, {Level::kInstance, std::move(filters.value()), 1 << 30, 0});
  if (!rows.ok())
    return rows.error();
  if (rows->empty())
    return MakeError(ErrorCode::kNotFound, "no such study, series or instance");
  return rows;
}

void DicomWebRoutes::Metadata(RouteTable& s, const std::string& pattern,
                              const std::vector<Field>& fields) {
  s.Get(
      pattern, kRead,
      [this, fields](const RequestContext& ctx, const httplib::Request& req,
                     httplib::Response& res) {
        if (!AcceptsJson(req)) {
          return SendErrorResponse(res, MakeError(ErrorCode::kNotAcceptable,
                                                  "metadata is served as application/dicom+json"));
        }
        auto rows = Instances(ctx.caller->scope, req, fields);
        if (!rows.ok())
          return SendErrorResponse(res, rows.error());
        const std::string base = BaseUrl(req);
        std::string body = "[";
        for (size_t i = 0; i < rows->size(); ++i) {
          const auto& r = (*rows)[i];
          std::string bulk = base + "/studies/" + r.study.study_uid + "/series/" +
                             r.series.series_uid + "/instances/" + r.instance.sop_uid + "/bulkdata";
          // The JSON names its bulk data by URL, so the base URL is part of the key.
          const std::string key = "metadata:" + r.instance.sha256 + ":" + bulk;
          auto cached = cache_.Get(key);
          if (!cached) {
            auto one = dicom::DatasetToJson(archive_.blobs().PathOf(r.blob_key), bulk);
            if (!one.ok()) {
              spdlog::error("dicomweb: metadata of {}: {}", r.instance.sop_uid,
                            one.error().ToString());
              return SendErrorResponse(
                  res, MakeError(ErrorCode::kInternal, "archived instance cannot be read"));
            }
            cached = std::make_shared<const std::string>(std::move(one.value()));
            cache_.Put(key, *cached);
          }
          if (i > 0)
            body += ",";
          body += *cached;
        }
        body += "]";
        res.status = 200;
        res.set_content(body, "application/dicom+json");
      });
}

void DicomWebRoutes::Retrieve(RouteTable& s, const std::string& pattern,
                              const std::vector<Field>& fields) {
  s.Get(
      pattern, kRead,
      [this, fields](const RequestContext& ctx, const httplib::Request& req,
                     httplib::Response& res) {
        std::string accept = req.get_header_value("Accept");
        bool acceptable = accept.empty() || accept.find("*/*") != std::string::npos ||
                          (accept.find("multipart/related") != std::string::npos &&
                           accept.find("application/dicom") != std::string::npos);
        if (!acceptable) {
          return SendErrorResponse(
              res, MakeError(ErrorCode::kNotAcceptable,
                             "retrieve answers multipart/related; type=\"application/dicom\""));
        }
        auto rows = Instances(ctx.caller->scope, req, fields);
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

void DicomWebRoutes::BulkData(RouteTable& s, const std::string& pattern) {
  s.Get(pattern, kRead,
        [this](const RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
          std::string accept = req.get_header_value("Accept");
          if (!accept.empty() && accept.find("*/*") == std::string::npos &&
              accept.find("application/octet-stream") == std::string::npos) {
            return SendErrorResponse(
                res,
                MakeError(ErrorCode::kNotAcceptable,
                          "bulk data is served as multipart/related application/octet-stream"));
          }
          auto rows = Instances(ctx.caller->scope, req,
                                {Field::kStudyUid, Field::kSeriesUid, Field::kSopUid});
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
          res.set_content(
              body, "multipart/related; type=\"application/octet-stream\"; boundary=" + boundary);
        });
}

// Enough for a viewer fetching a cine loop in a few requests; each frame is decoded in memory.
constexpr size_t kMaxFramesPerRequest = 64;

void DicomWebRoutes::Frames(RouteTable& s, const std::string& pattern) {
  s.Get(pattern, kRead,
        [this](const RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
          auto rows = Instances(ctx.caller->scope, req,
                                {Field::kStudyUid, Field::kSeriesUid, Field::kSopUid});
          if (!rows.ok())
            return SendErrorResponse(res, rows.error());
          const store::QueryRow& row = rows->front();
          const std::string stored = row.instance.transfer_syntax_uid;
          auto answer = NegotiateFrames(ParseAccept(req.get_header_value("Accept")), stored);
          if (!answer) {
            std::string stored_type = FrameMediaType(stored);
            return SendErrorResponse(
                res, MakeError(ErrorCode::kNotAcceptable,
                               "frames are served as multipart/related; type=\"application/"
                               "octet-stream\" (native) or in their stored encoding " +
                                   stored + (stored_type.empty() ? "" : " (" + stored_type + ")") +
                                   "; they are not re-encoded"));
          }
          // Each frame listed is decoded and held until the answer is sent: a list that repeats one
          // frame 400 times cost 400 decodes. Numbers are validated as a set before any work.
          std::vector<int> numbers;
          for (const auto& number : Split(req.matches[4].str(), ",")) {
            if (number.empty() || number.size() > 6) {
              return SendErrorResponse(
                  res, MakeError(ErrorCode::kInvalidArgument, "frame numbers must be 1..999999"));
            }
            const int n = std::stoi(number);
            if (n < 1 || (row.instance.frames > 0 && n > row.instance.frames)) {
              return SendErrorResponse(
                  res, MakeError(ErrorCode::kNotFound, "frame " + number +
                                                           " does not exist (the "
                                                           "instance has " +
                                                           std::to_string(row.instance.frames) +
                                                           " frames)"));
            }
            if (std::find(numbers.begin(), numbers.end(), n) != numbers.end()) {
              return SendErrorResponse(res, MakeError(ErrorCode::kInvalidArgument,
                                                      "frame " + number + " is listed twice"));
            }
            numbers.push_back(n);
            if (numbers.size() > kMaxFramesPerRequest) {
              return SendErrorResponse(
                  res, MakeError(ErrorCode::kInvalidArgument,
                                 "at most " + std::to_string(kMaxFramesPerRequest) +
                                     " frames per request; ask for the rest in further requests"));
            }
          }
          const std::string path = archive_.blobs().PathOf(row.blob_key);
          const std::string boundary = RandomBoundary();
          std::string body;
          for (const int number : numbers) {
            std::string bytes;
            if (answer->as_stored) {
              auto frame = dicom::ReadStoredFrame(path, number);
              if (!frame.ok())
                return SendErrorResponse(res, frame.error());
              bytes = std::move(frame->bytes);
            } else {
              auto frame = dicom::ReadFrame(path, number);
              if (!frame.ok())
                return SendErrorResponse(res, frame.error());
              bytes = std::move(frame.value());
            }
            body += "--" + boundary + "\r\nContent-Type: " + answer->part_type + "\r\n\r\n";
            body += bytes;
            body += "\r\n";
          }
          body += "--" + boundary + "--\r\n";
          res.status = 200;
          res.set_content(
              body, "multipart/related; type=\"" + answer->root_type + "\"; boundary=" + boundary);
        });
}

namespace {

// Accept and query parameters of rendered and thumbnail requests (PS3.18 §8.3.5):
// window=center,width[,linear], quality=1..100, viewport=vw,vh.
Status ParseRenderRequest(const httplib::Request& req, dicom::RenderOptions& options) {
  std::string accept = req.get_header_value("Accept");
  if (accept.find("image/png") != std::string::npos &&
      accept.find("image/jpeg") == std::string::npos) {
    options.format = dicom::RenderOptions::Format::kPng;
  } else if (!accept.empty() && accept.find("*/*") == std::string::npos &&
             accept.find("image/*") == std::string::npos &&
             accept.find("image/jpeg") == std::string::npos) {
    return MakeError(ErrorCode::kNotAcceptable, "rendered images are image/jpeg or image/png");
  }
  for (const auto& [name, value] : req.params) {
    if (name == "window") {
      // Only the linear VOI function is supported.
      auto fields = Split(value, ",");
      double center = 0, width = 0;
      bool ok = (fields.size() == 2 || (fields.size() == 3 && fields[2] == "linear")) &&
                ParseNumber(fields[0], center) && ParseNumber(fields[1], width) && width > 0;
      if (!ok)
        return MakeError(ErrorCode::kInvalidArgument, "window must be center,width[,linear]");
      options.window_center = center;
      options.window_width = width;
    } else if (name == "quality") {
      double q = 0;
      if (!ParseNumber(value, q) || q < 1 || q > 100 || q != static_cast<int>(q))
        return MakeError(ErrorCode::kInvalidArgument, "quality must be 1..100");
      options.quality = static_cast<int>(q);
    } else if (name == "viewport") {
      auto fields = Split(value, ",");
      double vw = 0, vh = 0;
      bool ok = fields.size() == 2 && ParseNumber(fields[0], vw) && ParseNumber(fields[1], vh) &&
                vw >= 1 && vh >= 1 && vw <= 8192 && vh <= 8192 && vw == static_cast<int>(vw) &&
                vh == static_cast<int>(vh);
      if (!ok) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "viewport must be width,height in pixels (1..8192); source "
                         "rectangles are not supported");
      }
      options.viewport_columns = static_cast<int>(vw);
      options.viewport_rows = static_cast<int>(vh);
    } else {
      return MakeError(ErrorCode::kInvalidArgument,
                       "unsupported rendering parameter '" + name + "'");
    }
  }
  return Ok();
}

Result<int> FrameFromPath(const httplib::Request& req) {
  const std::string number = req.matches[4];
  if (number.empty() || number.size() > 6)
    return MakeError(ErrorCode::kInvalidArgument, "frame numbers must be 1..999999");
  return std::stoi(number);
}

const char* ImageType(const dicom::RenderOptions& options) {
  return options.format == dicom::RenderOptions::Format::kPng ? "image/png" : "image/jpeg";
}

// The image that stands for a study or series: the middle image of its largest series (for a
// study), the middle frame of a multi-frame image. Rows come sorted by series and instance
// number. nullptr when nothing has pixel data.
const store::QueryRow* Representative(const std::vector<store::QueryRow>& rows) {
  std::map<std::string, std::vector<const store::QueryRow*>> by_series;
  std::vector<std::string> order;
  for (const auto& row : rows) {
    if (row.instance.frames <= 0)
      continue;
    auto& list = by_series[row.series.series_uid];
    if (list.empty())
      order.push_back(row.series.series_uid);
    list.push_back(&row);
  }
  const std::vector<const store::QueryRow*>* best = nullptr;
  for (const auto& uid : order) {
    if (best == nullptr || by_series[uid].size() > best->size())
      best = &by_series[uid];
  }
  return best == nullptr ? nullptr : (*best)[best->size() / 2];
}

}  // namespace

Result<ByteCache::Value> DicomWebRoutes::Render(const store::QueryRow& row, int frame,
                                                const dicom::RenderOptions& options) {
  std::string key = "render:" + row.instance.sha256 + ":" + std::to_string(frame) + ":" +
                    ImageType(options) + ":" + std::to_string(options.quality) + ":" +
                    std::to_string(options.viewport_columns) + "x" +
                    std::to_string(options.viewport_rows);
  if (options.window_center) {
    // Appended piece by piece: GCC 12's -Wrestrict misfires on the chained form once inlined.
    key += ':';
    key += std::to_string(*options.window_center);
    key += ',';
    key += std::to_string(*options.window_width);
  }
  if (auto hit = cache_.Get(key))
    return hit;
  auto image = dicom::RenderFrame(archive_.blobs().PathOf(row.blob_key), frame, options);
  if (!image.ok())
    return image.error();
  auto value = std::make_shared<const std::string>(std::move(image.value()));
  cache_.Put(key, *value);
  return value;
}

void DicomWebRoutes::Rendered(RouteTable& s, const std::string& pattern, bool frame_in_path) {
  s.Get(pattern, kRead,
        [this, frame_in_path](const RequestContext& ctx, const httplib::Request& req,
                              httplib::Response& res) {
          dicom::RenderOptions options;
          if (Status st = ParseRenderRequest(req, options); !st.ok())
            return SendErrorResponse(res, st.error());
          auto rows = Instances(ctx.caller->scope, req,
                                {Field::kStudyUid, Field::kSeriesUid, Field::kSopUid});
          if (!rows.ok())
            return SendErrorResponse(res, rows.error());
          int frame = 1;
          if (frame_in_path) {
            auto number = FrameFromPath(req);
            if (!number.ok())
              return SendErrorResponse(res, number.error());
            frame = *number;
          }
          auto image = Render(rows->front(), frame, options);
          if (!image.ok())
            return SendErrorResponse(res, image.error());
          res.status = 200;
          res.set_content(**image, ImageType(options));
        });
}

void DicomWebRoutes::Thumbnail(RouteTable& s, const std::string& pattern,
                               const std::vector<Field>& fields, bool frame_in_path) {
  s.Get(pattern, kRead,
        [this, fields, frame_in_path](const RequestContext& ctx, const httplib::Request& req,
                                      httplib::Response& res) {
          dicom::RenderOptions options;
          options.viewport_columns = options.viewport_rows = 128;
          options.quality = 80;
          if (Status st = ParseRenderRequest(req, options); !st.ok())
            return SendErrorResponse(res, st.error());
          auto rows = Instances(ctx.caller->scope, req, fields);
          if (!rows.ok())
            return SendErrorResponse(res, rows.error());
          const store::QueryRow* row = Representative(*rows);
          if (row == nullptr)
            return SendErrorResponse(res,
                                     MakeError(ErrorCode::kNotFound, "no image with pixel data"));
          int frame = (row->instance.frames + 1) / 2;
          if (frame_in_path) {
            auto number = FrameFromPath(req);
            if (!number.ok())
              return SendErrorResponse(res, number.error());
            frame = *number;
          }
          auto image = Render(*row, frame, options);
          if (!image.ok())
            return SendErrorResponse(res, image.error());
          res.status = 200;
          res.set_header("Cache-Control", "private, max-age=3600");
          res.set_content(**image, ImageType(options));
        });
}

void SendErrorResponse(httplib::Response& res, const Error& error) {
  SendJsonResponse(res, error.HttpStatus(), {{"error", error.Name()}, {"message", error.message}});
}

bool IsValidHostHeader(const std::string& host) {
  if (host.empty() || host.size() > 255)
    return false;
  size_t end = host.size();
  if (host.front() == '[') {  // [IPv6]
    const size_t close = host.find(']');
    if (close == std::string::npos ||
        host.find_first_not_of("0123456789abcdefABCDEF:.", 1) != close)
      return false;
    end = close + 1;
  } else {
    end = host.find(':');
    if (end == std::string::npos)
      end = host.size();
    if (end == 0 || host.substr(0, end).find_first_not_of(
                        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") !=
                        std::string::npos)
      return false;
  }
  if (end == host.size())
    return true;
  const std::string port = host.substr(end + 1);
  return host[end] == ':' && !port.empty() && port.size() <= 5 &&
         port.find_first_not_of("0123456789") == std::string::npos;
}

std::string DicomWebRoutes::BaseUrl(const httplib::Request& req) const {
  if (!public_url_.empty())
    return public_url_ + "/dicom-web";
  std::string host = req.get_header_value("Host");
  if (!IsValidHostHeader(host)) {
    const bool v6 = req.local_addr.find(':') != std::string::npos;
    host =
        (v6 ? "[" + req.local_addr + "]" : req.local_addr) + ":" + std::to_string(req.local_port);
  }
  return scheme_ + "://" + host + "/dicom-web";
}

void SendJsonResponse(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

}  // namespace dxhub::web
