// `dxhub user add|passwd|disable|enable|list|token`: account administration from the shell,
// for the IT engineer who installs dxhub (and for locked-out administrators).

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "app/commands.h"
#include "core/clock.h"
#include "core/strings.h"
#include "store/archive.h"
#include "web/auth.h"

namespace dxhub::app {
namespace {

// One line from stdin (a password is never taken from the command line, where `ps` and shell
// history would see it); empty means "generate one".
std::string ReadSecretLine() {
  if (::isatty(STDIN_FILENO))
    std::fprintf(stderr, "password (empty: generate one): ");
  std::string line;
  std::getline(std::cin, line);
  if (!line.empty() && line.back() == '\r')
    line.pop_back();
  return line;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "dxhub: %s\n", message.c_str());
  return 1;
}

}  // namespace

int RunUser(const Config& config, const UserOptions& options) {
  SystemClock clock;
  auto archive = store::Archive::Open(config, clock);
  if (!archive.ok())
    return Fail("cannot open archive in " + config.data_dir + ": " + archive.error().ToString());
  store::UserStore& users = (*archive)->index().users();
  web::Auth auth(users, clock);
  const std::string& name = options.username;
  if (options.action != "list" && name.empty())
    return Fail("user " + options.action + " needs a username");
  int64_t institution = 0;
  if (!options.institution.empty()) {
    auto found = (*archive)->index().institutions().Find(options.institution);
    if (!found.ok())
      return Fail(found.error().message);
    if (!found->has_value())
      return Fail("no institution named '" + options.institution +
                  "' (see dxhub institution list)");
    institution = (*found)->id;
  }

  if (options.action == "add" || options.action == "passwd") {
    if (options.action == "add" && !web::ParseRole(options.role).ok())
      return Fail(web::ParseRole(options.role).error().message);
    std::string password = ReadSecretLine();
    const bool generated = password.empty();
    if (generated)
      password = web::NewToken().substr(0, 24);
    if (Status policy = web::CheckPasswordPolicy(password); !policy.ok())
      return Fail(policy.error().message);
    auto hash = web::HashPassword(password);
    if (!hash.ok())
      return Fail(hash.error().message);
    Status st = Ok();
    if (options.action == "add") {
      store::UserRecord user;
      user.username = name;
      user.display_name = options.display_name;
      user.role = options.role;
      user.password_hash = *hash;
      user.institution = institution;
      st = users.CreateUser(user, clock.NowMillis());
    } else {
      st = users.SetPassword(name, *hash, clock.NowMillis());
    }
    if (!st.ok())
      return Fail(st.error().message);
    (void)users.Audit({clock.NowMillis(), "cli", "user." + options.action, name, "local", ""});
    if (generated)
      std::printf("password for %s: %s\n", name.c_str(), password.c_str());
    std::printf("%s %s\n", options.action == "add" ? "added" : "password changed for",
                name.c_str());
    return 0;
  }
  if (options.action == "set") {
    Status st = users.SetInstitution(name, institution);
    if (!st.ok())
      return Fail(st.error().message);
    (void)users.Audit(
        {clock.NowMillis(), "cli", "user.institution", name, "local", options.institution});
    std::printf("%s now belongs to %s\n", name.c_str(),
                options.institution.empty() ? "no institution (the whole region)"
                                            : options.institution.c_str());
    return 0;
  }
  if (options.action == "disable" || options.action == "enable") {
    Status st = users.SetDisabled(name, options.action == "disable");
    if (!st.ok())
      return Fail(st.error().message);
    (void)users.Audit({clock.NowMillis(), "cli", "user." + options.action, name, "local", ""});
    std::printf("%s %sd\n", name.c_str(), options.action.c_str());
    return 0;
  }
  if (options.action == "token" && options.token_list) {
    auto tokens = users.ListApiTokens(name);
    if (!tokens.ok())
      return Fail(tokens.error().message);
    std::printf("%-6s %-9s %-24s %-24s %s\n", "ID", "STATE", "CREATED", "EXPIRES", "NAME");
    const int64_t now = clock.NowMillis();
    for (const auto& t : *tokens) {
      const char* state = t.revoked_ms != 0                            ? "revoked"
                          : (t.expires_ms != 0 && t.expires_ms <= now) ? "expired"
                                                                       : "active";
      std::printf("%-6lld %-9s %-24s %-24s %s\n", static_cast<long long>(t.id), state,
                  FormatIsoMillis(t.created_ms).c_str(),
                  t.expires_ms == 0 ? "never" : FormatIsoMillis(t.expires_ms).c_str(),
                  t.name.c_str());
    }
    return 0;
  }
  if (options.action == "token" && !options.token_revoke.empty()) {
    int64_t id = 0;
    if (options.token_revoke != "all") {
      char* end = nullptr;
      id = std::strtoll(options.token_revoke.c_str(), &end, 10);
      if (end == options.token_revoke.c_str() || *end != '\0' || id <= 0)
        return Fail("--revoke takes a token ID (see --list) or all");
    }
    auto revoked = users.RevokeApiTokens(name, id, clock.NowMillis());
    if (!revoked.ok())
      return Fail(revoked.error().message);
    if (*revoked == 0)
      return Fail("no active token " + options.token_revoke + " for " + name);
    (void)users.Audit(
        {clock.NowMillis(), "cli", "token.revoke", name, "local", options.token_revoke});
    std::printf("revoked %d token(s) of %s\n", *revoked, name.c_str());
    return 0;
  }
  if (options.action == "token") {
    auto token = auth.IssueApiToken(name, options.token_name,
                                    int64_t{options.token_days} * 24 * 3600 * 1000);
    if (!token.ok())
      return Fail(token.error().message);
    (void)users.Audit({clock.NowMillis(), "cli", "token.issue", name, "local", options.token_name});
    std::printf("%s\n", token->c_str());  // shown once; only its hash is stored
    return 0;
  }
  auto list = users.ListUsers();
  if (!list.ok())
    return Fail(list.error().message);
  std::printf("%-20s %-12s %-9s %-24s %s\n", "USER", "ROLE", "STATE", "INSTITUTION", "NAME");
  for (const auto& u : *list) {
    const char* state =
        u.disabled ? "disabled" : (u.locked_until_ms > clock.NowMillis() ? "locked" : "active");
    std::printf("%-20s %-12s %-9s %-24s %s\n", u.username.c_str(), u.role.c_str(), state,
                u.institution_name.empty() ? "-" : u.institution_name.c_str(),
                u.display_name.c_str());
  }
  return 0;
}

}  // namespace dxhub::app
