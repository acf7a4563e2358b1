#include "core/config.h"

#include <toml++/toml.h>

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
      "log-level",     "remote-ae"};
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

}  // namespace dxhub
