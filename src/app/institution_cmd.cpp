// `dxhub institution add|set|list`: the region's institutions from the shell, for the IT engineer
// who wires each clinic's PACS to dxhub (its AE titles, its patients' issuer, who reads for it).

#include <cstdio>
#include <string>

#include "app/commands.h"
#include "core/clock.h"
#include "store/archive.h"

namespace dxhub::app {
namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "dxhub: %s\n", message.c_str());
  return 1;
}

// "AET" or "AET@IP".
store::Sender ParseSender(const std::string& text) {
  const size_t at = text.find('@');
  if (at == std::string::npos)
    return {text, ""};
  return {text.substr(0, at), text.substr(at + 1)};
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items)
    out += (out.empty() ? "" : ", ") + item;
  return out.empty() ? "-" : out;
}

// MODALITY[:PRIORITY] ('*' any modality) into the store's rule.
Status AddReadRule(store::ReadingStore& reading, const std::string& institution,
                   const std::string& text) {
  const size_t colon = text.find(':');
  std::string modality = text.substr(0, colon);
  auto priority =
      store::ParseReadPriority(colon == std::string::npos ? "routine" : text.substr(colon + 1));
  if (!priority.ok())
    return priority.error();
  if (modality == "*")
    modality.clear();
  return reading.AddRule(institution, modality, *priority);
}

}  // namespace

int RunInstitution(const Config& config, const InstitutionOptions& options) {
  SystemClock clock;
  auto archive = store::Archive::Open(config, clock);
  if (!archive.ok())
    return Fail("cannot open archive in " + config.data_dir + ": " + archive.error().ToString());
  store::InstitutionStore& institutions = (*archive)->index().institutions();
  store::UserStore& users = (*archive)->index().users();
  store::ReadingStore& reading = (*archive)->index().reading();
  if (options.action != "list" && options.name.empty())
    return Fail("institution " + options.action + " needs a name");

  if (options.action == "add") {
    store::Institution in;
    in.name = options.name;
    in.issuer = options.issuer;
    in.aliases = options.aliases;
    for (const auto& s : options.senders)
      in.senders.push_back(ParseSender(s));
    in.reads_for = options.reads_for;
    auto id = institutions.Add(in, clock.NowMillis());
    if (!id.ok())
      return Fail(id.error().message);
    for (const auto& rule : options.read_rules) {
      if (Status st = AddReadRule(reading, options.name, rule); !st.ok())
        return Fail(st.error().message);
    }
    (void)users.Audit({clock.NowMillis(), "cli", "institution.add", options.name, "local", ""});
    std::printf("added institution %s\n", options.name.c_str());
    return 0;
  }
  if (options.action == "set") {
    for (const auto& s : options.senders) {
      if (Status st = institutions.AddSender(options.name, ParseSender(s)); !st.ok())
        return Fail(st.error().message);
    }
    for (const auto& served : options.reads_for) {
      if (Status st = institutions.AddReadsFor(options.name, served); !st.ok())
        return Fail(st.error().message);
    }
    for (const auto& rule : options.read_rules) {
      if (Status st = AddReadRule(reading, options.name, rule); !st.ok())
        return Fail(st.error().message);
    }
    (void)users.Audit({clock.NowMillis(), "cli", "institution.set", options.name, "local", ""});
    std::printf("updated institution %s\n", options.name.c_str());
    return 0;
  }
  auto list = institutions.List();
  if (!list.ok())
    return Fail(list.error().message);
  auto rules = reading.Rules();
  if (!rules.ok())
    return Fail(rules.error().message);
  std::printf("%-24s %-16s %-32s %-24s %s\n", "INSTITUTION", "ISSUER", "SENDERS", "READS FOR",
              "READ RULES");
  for (const auto& i : *list) {
    std::vector<std::string> senders;
    for (const auto& s : i.senders)
      senders.push_back(s.host.empty() ? s.aet : s.aet + "@" + s.host);
    std::vector<std::string> mine;
    for (const auto& r : *rules) {
      if (r.institution == i.name)
        mine.push_back((r.modality.empty() ? "*" : r.modality) + ":" + r.priority);
    }
    std::printf("%-24s %-16s %-32s %-24s %s\n", i.name.c_str(),
                i.issuer.empty() ? "-" : i.issuer.c_str(), Join(senders).c_str(),
                Join(i.reads_for).c_str(), Join(mine).c_str());
  }
  return 0;
}

}  // namespace dxhub::app
