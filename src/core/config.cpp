#include "core/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "core/config_keys.h"
#include "core/net.h"

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

Status ValidateRemoteAe(const RemoteAe& ae) {
  auto bad = [&](const std::string& why) {
    return MakeError(ErrorCode::kInvalidArgument, "remote AE '" + ae.name + "': " + why);
  };
  const bool name_ok = !ae.name.empty() && ae.name.size() <= 64 &&
                       std::all_of(ae.name.begin(), ae.name.end(), [](unsigned char ch) {
                         return std::isalnum(ch) != 0 || ch == '-' || ch == '_' || ch == '.';
                       });
  if (!name_ok)
    return bad("the name must be 1-64 letters, digits, '.', '-' or '_'");
  // PS3.5 6.2: an AE title is up to 16 characters of the default repertoire, no backslash;
  // leading and trailing spaces are not significant, so a title of spaces only is none.
  const bool aet_ok = !ae.aet.empty() && ae.aet.size() <= 16 &&
                      ae.aet.find_first_not_of(' ') != std::string::npos &&
                      std::all_of(ae.aet.begin(), ae.aet.end(), [](unsigned char ch) {
                        return ch >= 0x20 && ch < 0x7f && ch != '\\';
                      });
  if (!aet_ok)
    return bad("the AE title must be 1-16 printable characters without backslash");
  const bool host_ok =
      !ae.host.empty() && ae.host.size() <= 253 &&
      (IsIpAddress(ae.host) ||
       ae.host.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789.-") == std::string::npos);
  if (!host_ok)
    return bad("host must be a host name or an IP address");
  if (ae.port <= 0 || ae.port > 65535)
    return bad("port must be 1..65535");
  if (auto from = ParseIpRanges(ae.from); !from.ok())
    return bad(from.error().message);
  if (ae.ca.find_first_of("\r\n") != std::string::npos)
    return bad("ca must be a file path");
  return Ok();
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

namespace {

// A [[remote-ae]] / [[query-ae]] table: name, aet, host, port, and for query peers `from`.
Result<RemoteAe> RemoteAeFromTable(const toml::table& t, bool query, const std::string& where) {
  RemoteAe ae;
  ae.aet = t["aet"].value_or(std::string());
  ae.name = t["name"].value_or(ae.aet);
  ae.host = t["host"].value_or(std::string());
  ae.port = static_cast<int>(t["port"].value_or(int64_t{104}));
  ae.query = t["query"].value_or(query);
  ae.tls = t["tls"].value_or(false);
  ae.ca = t["ca"].value_or(std::string());
  if (const auto* from = t["from"].as_array()) {
    for (const auto& item : *from) {
      if (auto s = item.value<std::string>())
        ae.from.push_back(*s);
    }
  }
  if (ae.aet.empty() || ae.aet.size() > 16 || ae.host.empty() || ae.port <= 0 || ae.port > 65535) {
    return MakeError(ErrorCode::kInvalidArgument,
                     where + ": remote-ae needs aet (<= 16 chars), host, port");
  }
  return ae;
}

}  // namespace

Result<Config> LoadConfigFile(const std::string& path, Config base) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "config " + path + ": " + std::string(e.description()));
  }
  const std::string where = "config " + path;
  for (const auto& [toml_key, node] : table) {
    std::string name(toml_key.str());
    // Before the table existed the file said `ai = false`; keep reading it.
    if (name == "ai" && node.is_boolean()) {
      base.ai = node.value_or(true);
      continue;
    }
    const ConfigKey* key = FindConfigKey(name);
    if (key == nullptr)
      return MakeError(ErrorCode::kInvalidArgument, ((where + ": unknown key '") += name) += "'");
    auto wrong = [&](const char* expected) {
      std::string message = where + ": '";
      message += name;
      message += "' must be ";
      message += expected;
      return MakeError(ErrorCode::kInvalidArgument, message);
    };
    std::vector<std::string> values;
    switch (key->kind) {
      case KeyKind::kInt:
        if (!node.is_integer())
          return wrong("an integer");
        values.push_back(std::to_string(node.value_or(int64_t{0})));
        break;
      case KeyKind::kString:
        if (!node.is_string())
          return wrong("a string");
        values.push_back(node.value_or(std::string()));
        break;
      case KeyKind::kFlag:
        if (!node.is_boolean())
          return wrong("true or false");
        values.emplace_back(node.value_or(false) ? "true" : "false");
        break;
      case KeyKind::kList:
      case KeyKind::kRepeated: {
        if (node.is_string()) {
          values.push_back(node.value_or(std::string()));
          break;
        }
        const auto* array = node.as_array();
        if (array == nullptr)
          return wrong("an array");
        // Remote nodes may also be tables with more than the flag's text can say.
        if (name == "remote-ae" || name == "query-ae" || name == "dicomweb-peer") {
          bool has_tables = false;
          for (const auto& item : *array)
            has_tables = has_tables || item.is_table();
          if (has_tables)
            break;  // handled below
        }
        for (const auto& item : *array) {
          if (!item.is_string())
            return wrong("an array of strings");
          values.push_back(item.value_or(std::string()));
        }
        break;
      }
    }
    const bool tables = key->kind == KeyKind::kRepeated && values.empty() && node.is_array() &&
                        !node.as_array()->empty();
    if (!tables) {
      Status applied = key->apply(base, values);
      if (!applied.ok())
        return MakeError(ErrorCode::kInvalidArgument, where + ": " + applied.error().message);
      continue;
    }
    if (name == "dicomweb-peer") {
      base.dicomweb_peers.clear();
      for (const auto& item : *node.as_array()) {
        Result<DicomWebPeer> peer = MakeError(
            ErrorCode::kInvalidArgument,
            where + ": dicomweb-peer entries are \"NAME=URL\" or { name = ..., url = ... }");
        if (auto s = item.value<std::string>()) {
          peer = ParseDicomWebPeer(*s);
        } else if (const auto* t = item.as_table()) {
          peer = MakeDicomWebPeer((*t)["name"].value_or(std::string()),
                                  (*t)["url"].value_or(std::string()));
          if (peer.ok())
            peer->token = (*t)["token"].value_or(std::string());
        }
        if (!peer.ok())
          return peer.error();
        base.dicomweb_peers.push_back(*peer);
      }
      continue;
    }
    const bool query = name == "query-ae";
    std::vector<RemoteAe> kept;
    for (const auto& ae : base.remote_aes) {
      if (ae.query != query)
        kept.push_back(ae);
    }
    for (const auto& item : *node.as_array()) {
      Result<RemoteAe> ae = MakeError(ErrorCode::kInvalidArgument, (where + ": bad ") += name);
      if (auto s = item.value<std::string>()) {
        ae = ParseRemoteAe(*s);
        if (ae.ok())
          ae->query = query;
      } else if (const auto* t = item.as_table()) {
        ae = RemoteAeFromTable(*t, query, where);
      }
      if (!ae.ok())
        return ae.error();
      kept.push_back(*ae);
    }
    base.remote_aes = std::move(kept);
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
  if (config.db_pool_size < 2 || config.db_pool_size > 64)
    return MakeError(ErrorCode::kInvalidArgument,
                     "db-pool-size must be 2..64 (each node holds this many PostgreSQL "
                     "connections at most)");
  // It goes into job rows, logs and metric labels: a host-name-like word.
  if (config.node_name.size() > 64 ||
      config.node_name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                         "0123456789._-") != std::string::npos)
    return MakeError(ErrorCode::kInvalidArgument,
                     "node-name must be 1..64 letters, digits, '.', '_' or '-'");
  if (config.job_lease_s < 3 || config.job_lease_s > 3600)
    return MakeError(ErrorCode::kInvalidArgument, "job-lease must be 3..3600 seconds");
  if (config.ai_timeout_s < 1)
    return MakeError(ErrorCode::kInvalidArgument, "ai-timeout must be at least 1 second");
  if (config.worklist_wait_cap_min < 1)
    return MakeError(ErrorCode::kInvalidArgument, "worklist-wait-cap must be at least 1 minute");
  for (int minutes : {config.read_turnaround_stat_min, config.read_turnaround_urgent_min,
                      config.read_turnaround_routine_min}) {
    if (minutes < 1 || minutes > 60 * 24 * 90)
      return MakeError(ErrorCode::kInvalidArgument,
                       "read-turnaround-* must be 1 minute to 90 days (in minutes)");
  }
  if (config.stable_after_s < 0)
    return MakeError(ErrorCode::kInvalidArgument, "stable-after must not be negative");
  if (config.http_threads < 8 || config.http_threads > 4096)
    return MakeError(ErrorCode::kInvalidArgument, "http-threads must be 8..4096");
  if (config.max_associations < 1 || config.max_associations_per_host < 1)
    return MakeError(ErrorCode::kInvalidArgument,
                     "max-associations and max-associations-per-host must be at least 1");
  if (config.association_timeout_s < 1 || config.association_timeout_s > 300)
    return MakeError(ErrorCode::kInvalidArgument, "association-timeout must be 1..300 seconds");
  if (auto hosts = ParseIpRanges(config.allowed_hosts); !hosts.ok())
    return MakeError(ErrorCode::kInvalidArgument, "allowed-hosts: " + hosts.error().message);
  for (const auto& ae : config.remote_aes) {
    if (auto from = ParseIpRanges(ae.from); !from.ok())
      return MakeError(ErrorCode::kInvalidArgument,
                       "remote AE " + ae.name + ": " + from.error().message);
  }
  if (config.dicom_tls_cert.empty() != config.dicom_tls_key.empty())
    return MakeError(ErrorCode::kInvalidArgument,
                     "--dicom-tls-cert and --dicom-tls-key go together");
  if (config.dicom_tls_only && config.dicom_tls_cert.empty() && config.tls_cert.empty())
    return MakeError(ErrorCode::kInvalidArgument,
                     "--dicom-tls-only needs a certificate (--dicom-tls-cert or --tls-cert)");
  if (config.tls_cert.empty() != config.tls_key.empty())
    return MakeError(ErrorCode::kInvalidArgument, "--tls-cert and --tls-key go together");
  if (config.behind_proxy && config.trusted_proxies.empty())
    return MakeError(ErrorCode::kInvalidArgument,
                     "--behind-proxy needs --trusted-proxies: the proxy addresses whose "
                     "X-Forwarded-For is believed");
  if (auto proxies = ParseIpRanges(config.trusted_proxies); !proxies.ok())
    return MakeError(ErrorCode::kInvalidArgument, "trusted-proxies: " + proxies.error().message);
  if (!IsIpAddress(config.dicom_bind))
    return MakeError(ErrorCode::kInvalidArgument,
                     "dicom-bind must be a numeric address, not '" + config.dicom_bind + "'");
  if (!config.public_url.empty() && config.public_url.rfind("http://", 0) != 0 &&
      config.public_url.rfind("https://", 0) != 0)
    return MakeError(ErrorCode::kInvalidArgument, "public-url must start with http:// or https://");
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
