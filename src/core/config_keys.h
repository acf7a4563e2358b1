#pragma once
// Every configuration setting, once: its flag (`--NAME`), its TOML key (`NAME`), its help text and
// how a value is applied to Config. The CLI builds its options from this table and the config
// loader accepts exactly its keys, so a flag can no longer exist without its key (or the README
// promise both and the loader reject one).

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/result.h"

namespace dxhub {

enum class KeyKind {
  kInt,
  kString,
  kFlag,      // a flag without a value on the command line; true/false in TOML
  kList,      // one flag followed by several values; an array in TOML
  kRepeated,  // a flag given once per value; an array in TOML
};

/// Which verbs take a key: every verb that opens the archive, or `serve` alone.
enum class KeyScope { kCommon, kServe };

struct ConfigKey {
  std::string_view name;
  KeyKind kind;
  KeyScope scope;
  std::string_view help;
  /// Applies the value (one text; several for kList; "true"/"false" for kFlag).
  std::function<Status(Config&, const std::vector<std::string>&)> apply;
};

/// The table, in the order `dxhub serve --help` lists it.
const std::vector<ConfigKey>& ConfigKeys();

/// The entry for `name`, or null.
const ConfigKey* FindConfigKey(std::string_view name);

}  // namespace dxhub
