#include "core/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <set>

namespace dxhub {

Result<DuplicatePolicy> ParseDuplicatePolicy(const std::string& text) {
  if (text == "keep-first")
    return DuplicatePolicy::kKeepFirst;
  if (text == "replace")
    return DuplicatePolicy::kReplace;
  return MakeError(ErrorCode::kInvalidArgument,
                   "duplicates must be 'keep-first' or 'replace', not '" + text + "'");
}

Result<RemoteAe> ParseRemoteAe(const std::string& text) {
  auto bad = [&] {
    return MakeError(ErrorCode::kInvalidArgument, "remote AE '" + text + "' must be AET@HOST:PORT");
  };
  size_t at = text.find('@');
  size_t colon = text.rfind(':');
  if (at == std::string::npos || colon == std::string::npos || colon < at || at == 0 || at > 16 ||
      colon == at + 1) {
    return bad();
  }
  RemoteAe ae;
  ae.aet = text.substr(0, at);
  ae.name = ae.aet;
  ae.host = text.substr(at + 1, colon - at - 1);
  try {
    size_t used = 0;
    ae.port = std::stoi(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1 || ae.port <= 0 || ae.port > 65535)
      return bad();
  } catch (const std::exception&) {
    return bad();
  }
  return ae;
}

Result<DicomWebPeer> MakeDicomWebPeer(std::string name, std::string url) {
  const bool name_ok = !name.empty() && name.size() <= 64 &&
                       std::all_of(name.begin(), name.end(), [](unsigned char ch) {
                         return std::isalnum(ch) != 0 || ch == '-' || ch == '_';
                       });
  if (!name_ok) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "DICOMweb peer name '" + name + "' must be 1-64 letters, digits, - or _");
  }
  const size_t scheme = url.find("://");
  const std::string proto = scheme == std::string::npos ? "" : url.substr(0, scheme);
  const bool url_ok = (proto == "http" || proto == "https") && url.size() > scheme + 3 &&
                      url[scheme + 3] != '/' && url.find_first_of(" \t\r\n?#") == std::string::npos;
  if (!url_ok) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "DICOMweb peer '" + name + "': '" + url +
                         "' is not an http:// or https:// base URL without query or fragment");
  }
  while (url.size() > scheme + 4 && url.back() == '/')
    url.pop_back();
  return DicomWebPeer{std::move(name), std::move(url), ""};
}

Result<DicomWebPeer> ParseDicomWebPeer(const std::string& text) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "'" + text + "' is not a DICOMweb peer (expected NAME=URL)");
  }
  return MakeDicomWebPeer(text.substr(0, eq), text.substr(eq + 1));
}

Result<Config> LoadConfigFile(const std::string& path, Config base) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "config " + path + ": " + std::string(e.description()));
  }
  static const std::set<std::string> kKnown = {
      "data",          "bind",       "http-port",        "dicom-port",
      "aet",           "index",      "max-associations", "allowed-aets",
      "allowed-hosts", "duplicates", "http-threads",     "dimse-timeout",
      "log-level",     "remote-ae",  "dicomweb-peer",    "cache-mb",
      "max-upload-mb"};
  for (const auto& [key, value] : table) {
    if (!kKnown.count(std::string(key.str()))) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "config " + path + ": unknown key '" + std::string(key.str()) + "'");
    }
  }
  auto str = [&](const char* key, std::string& out) {
    if (auto v = table[key].value<std::string>())
      out = *v;
  };
  auto num = [&](const char* key, int& out) {
    if (auto v = table[key].value<int64_t>())
      out = static_cast<int>(*v);
  };
  auto list = [&](const char* key, std::vector<std::string>& out) {
    if (auto* arr = table[key].as_array()) {
      out.clear();
      for (auto& item : *arr) {
        if (auto s = item.value<std::string>())
          out.push_back(*s);
      }
    }
  };
  str("data", base.data_dir);
  str("bind", base.bind);
  num("http-port", base.http_port);
  num("dicom-port", base.dicom_port);
  str("aet", base.aet);
  str("index", base.index);
  num("max-associations", base.max_associations);
  list("allowed-aets", base.allowed_aets);
  list("allowed-hosts", base.allowed_hosts);
  num("http-threads", base.http_threads);
  num("dimse-timeout", base.dimse_timeout_s);
  str("log-level", base.log_level);
  num("cache-mb", base.cache_mb);
  num("max-upload-mb", base.max_upload_mb);
  list("model-dirs", base.model_dirs);
  if (auto v = table["ai"].value<bool>())
    base.ai = *v;
  num("ai-workers", base.ai_workers);
  num("ai-threads", base.ai_threads);
  num("processing-workers", base.processing_workers);
  num("stable-after", base.stable_after_s);
  num("ai-timeout", base.ai_timeout_s);
  num("worklist-wait-cap", base.worklist_wait_cap_min);
  if (auto* arr = table["dicomweb-peer"].as_array()) {
    base.dicomweb_peers.clear();
    for (auto& item : *arr) {
      Result<DicomWebPeer> peer =
          MakeError(ErrorCode::kInvalidArgument, "config " + path +
                                                     ": dicomweb-peer entries are \"NAME=URL\" or "
                                                     "{ name = ..., url = ... }");
      if (auto s = item.value<std::string>()) {
        peer = ParseDicomWebPeer(*s);
      } else if (auto* t = item.as_table()) {
        peer = MakeDicomWebPeer((*t)["name"].value_or(std::string()),
                                (*t)["url"].value_or(std::string()));
        if (peer.ok())
          peer->token = (*t)["token"].value_or(std::string());
      }
      if (!peer.ok())
        return peer.error();
      base.dicomweb_peers.push_back(*peer);
    }
  }
  if (auto* arr = table["remote-ae"].as_array()) {
    base.remote_aes.clear();
    for (auto& item : *arr) {
      if (auto s = item.value<std::string>()) {
        auto ae = ParseRemoteAe(*s);
        if (!ae.ok())
          return ae.error();
        base.remote_aes.push_back(*ae);
      } else if (auto* t = item.as_table()) {
        RemoteAe ae;
        ae.aet = (*t)["aet"].value_or(std::string());
        ae.name = (*t)["name"].value_or(ae.aet);
        ae.host = (*t)["host"].value_or(std::string());
        ae.port = static_cast<int>((*t)["port"].value_or(int64_t{104}));
        if (ae.aet.empty() || ae.aet.size() > 16 || ae.host.empty() || ae.port <= 0 ||
            ae.port > 65535) {
          return MakeError(ErrorCode::kInvalidArgument,
                           "config " + path + ": remote-ae needs aet (<= 16 chars), host, port");
        }
        base.remote_aes.push_back(ae);
      }
    }
  }
  if (auto v = table["duplicates"].value<std::string>()) {
    auto policy = ParseDuplicatePolicy(*v);
    if (!policy.ok())
      return policy.error();
    base.duplicates = *policy;
  }
  return base;
}

Status ValidateConfig(const Config& config) {
  if (config.cache_mb < 0 || config.cache_mb > 1 << 20)
    return MakeError(ErrorCode::kInvalidArgument, "cache-mb must be 0..1048576");
  if (config.max_upload_mb < 1 || config.max_upload_mb > 1 << 24)
    return MakeError(ErrorCode::kInvalidArgument, "max-upload-mb must be 1..16777216");
  if (config.processing_workers < 0 || config.processing_workers > 16)
    return MakeError(ErrorCode::kInvalidArgument, "processing-workers must be 0..16 (0: off)");
  if (config.ai_workers < 0 || config.ai_workers > 64 || config.ai_threads < 0 ||
      config.ai_threads > 256) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "ai-workers must be 0..64 (0: one per core), ai-threads 0..256");
  }
  if (config.ai_timeout_s < 1)
    return MakeError(ErrorCode::kInvalidArgument, "ai-timeout must be at least 1 second");
  if (config.worklist_wait_cap_min < 1)
    return MakeError(ErrorCode::kInvalidArgument, "worklist-wait-cap must be at least 1 minute");
  if (config.stable_after_s < 0)
    return MakeError(ErrorCode::kInvalidArgument, "stable-after must not be negative");
  std::set<std::string> names;
  for (const auto& ae : config.remote_aes) {
    if (!names.insert(ae.name).second)
      return MakeError(ErrorCode::kInvalidArgument, "two remote nodes are named '" + ae.name + "'");
  }
  for (const auto& peer : config.dicomweb_peers) {
    if (!names.insert(peer.name).second) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "two remote nodes are named '" + peer.name + "'");
    }
  }
  return Ok();
}

}  // namespace dxhub
