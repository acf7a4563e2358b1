#include "postgres_server.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace dxhub::test {
namespace {

constexpr const char* kDefaultBin = "/usr/lib/postgresql/15/bin";
constexpr int kStartAttempts = 5;

bool IsRoot() {
  return ::geteuid() == 0;
}

std::string PgBin() {
  const char* env = std::getenv("DXHUB_PG_BIN");
  return (env != nullptr && *env != '\0') ? env : kDefaultBin;
}

std::string Runuser() {
  for (const char* candidate : {"/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"}) {
    if (::access(candidate, X_OK) == 0)
      return candidate;
  }
  return "runuser";  // looked up in PATH
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The last lines of a log, for an error message.
std::string Tail(const std::string& text, size_t max_chars = 2000) {
  if (text.size() <= max_chars)
    return text;
  return "..." + text.substr(text.size() - max_chars);
}

// Runs `argv` (as the user postgres when we are root), its output appended to `log`, and waits
// for it. posix_spawn rather than system(): no shell, so paths need no quoting, and it is safe
// in a process that already runs threads.
Status Run(std::vector<std::string> argv, const std::string& log) {
  if (IsRoot())
    argv.insert(argv.begin(), {Runuser(), "-u", "postgres", "--"});
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (auto& a : argv)
    args.push_back(a.data());
  args.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0)
    return MakeError(ErrorCode::kIo, "cannot run " + argv[0] + ": " + std::strerror(rc));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR)
      return MakeError(ErrorCode::kIo, "waiting for " + argv[0] + ": " + std::strerror(errno));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return Ok();
  std::string how = WIFEXITED(status) ? "exited with status " + std::to_string(WEXITSTATUS(status))
                                      : "was killed by signal " + std::to_string(WTERMSIG(status));
  std::string command;
  for (const auto& a : argv)
    command += (command.empty() ? "" : " ") + a;
  return MakeError(ErrorCode::kUnavailable, command + " " + how);
}

// A TCP port on 127.0.0.1 that was free a moment ago (another process may still take it before
// the server binds it: Start retries with a new one).
Result<int> FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return MakeError(ErrorCode::kIo, std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    ::close(fd);
    return MakeError(ErrorCode::kIo, std::string("finding a free port: ") + std::strerror(err));
  }
  ::close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

}  // namespace

Result<std::unique_ptr<PostgresServer>> PostgresServer::Start() {
  const std::string bin = PgBin();
  for (const char* tool : {"initdb", "pg_ctl", "postgres"}) {
    const std::string path = bin + "/" + tool;
    if (::access(path.c_str(), X_OK) != 0) {
      return MakeError(ErrorCode::kUnavailable,
                       "PostgreSQL binaries not found: no " + path +
                           " (install postgresql-15, or set DXHUB_PG_BIN to their directory)");
    }
  }
  const passwd* pg_user = nullptr;
  if (IsRoot()) {
    pg_user = ::getpwnam("postgres");
    if (pg_user == nullptr) {
      return MakeError(ErrorCode::kUnavailable,
                       "PostgreSQL will not run as root, and there is no user 'postgres' to run "
                       "it as");
    }
  }
  // Under /tmp, not TMPDIR: the user postgres must be able to reach it.
  char dir[] = "/tmp/dxhub-pg-XXXXXX";
  if (::mkdtemp(dir) == nullptr)
    return MakeError(ErrorCode::kIo, std::string("mkdtemp: ") + std::strerror(errno));
  std::unique_ptr<PostgresServer> server(new PostgresServer());
  server->bin_ = bin;
  server->dir_ = dir;  // from here on the destructor removes it
  if (pg_user != nullptr && ::chown(dir, pg_user->pw_uid, pg_user->pw_gid) != 0) {
    return MakeError(ErrorCode::kIo,
                     std::string("chown ") + dir + " to postgres: " + std::strerror(errno));
  }
  DXHUB_TRY(server->InitCluster());

  Status started = Ok();
  for (int attempt = 1; attempt <= kStartAttempts; ++attempt) {
    auto port = FreePort();
    if (!port.ok())
      return port.error();
    started = server->StartOnPort(*port);
    if (started.ok())
      break;
  }
  if (!started.ok()) {
    return MakeError(ErrorCode::kUnavailable,
                     "PostgreSQL test server did not start (" + std::to_string(kStartAttempts) +
                         " attempts): " + started.error().message + "\n" + Tail(server->Log()));
  }
  DXHUB_TRY(server->CreateDatabase("dxhub"));
  return Result<std::unique_ptr<PostgresServer>>(std::move(server));
}

PostgresServer::~PostgresServer() {
  if (running_)
    (void)Stop(/*immediate=*/true);
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string PostgresServer::Url(const std::string& db) const {
  return "postgresql://dxhub@127.0.0.1:" + std::to_string(port_) + "/" + db;
}

Status PostgresServer::CreateDatabase(const std::string& name) {
  return CreateDatabaseAt(Url("postgres"), name);
}

Status PostgresServer::Stop(bool immediate) {
  if (!running_)
    return Ok();
  DXHUB_TRY(RunPgCtl("stop", {"-w", "-t", "60", "-D", dir_ + "/data", "-m",
                              immediate ? "immediate" : "fast", "stop"}));
  running_ = false;
  return Ok();
}

Status PostgresServer::Restart() {
  DXHUB_TRY(Stop());
  // The same port: clients keep their URL. Nothing else should have taken it in the meantime,
  // but a few tries cover a slow release.
  Status started = Ok();
  for (int attempt = 1; attempt <= kStartAttempts; ++attempt) {
    started = StartOnPort(port_);
    if (started.ok())
      return Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return MakeError(ErrorCode::kUnavailable, "PostgreSQL test server did not restart on port " +
                                                std::to_string(port_) + ": " +
                                                started.error().message + "\n" + Tail(Log()));
}

std::string PostgresServer::Log() const {
  return ReadFile(dir_ + "/log");
}

Status PostgresServer::InitCluster() {
  const std::string log = dir_ + "/initdb.log";
  Status st = Run({bin_ + "/initdb", "-A", "trust", "-U", "dxhub", "--no-sync", "-E", "UTF8",
                   "--locale=C.UTF-8", "-D", dir_ + "/data"},
                  log);
  if (!st.ok())
    return MakeError(st.error().code, st.error().message + "\n" + Tail(ReadFile(log)));
  return Ok();
}

Status PostgresServer::StartOnPort(int port) {
  // pg_ctl hands -o to the server through a shell; the directory is mkdtemp's (letters and
  // digits only), so it needs no quoting.
  const std::string options = "-p " + std::to_string(port) + " -k " + dir_ +
                              " -c listen_addresses=127.0.0.1 -c fsync=off"
                              " -c synchronous_commit=off -c full_page_writes=off"
                              " -c max_connections=200";
  Status st = RunPgCtl("start", {"-w", "-t", "60", "-D", dir_ + "/data", "-l", dir_ + "/log", "-o",
                                 options, "start"});
  if (!st.ok()) {
    // A server that came up too late for pg_ctl's wait must not linger into the next attempt.
    (void)RunPgCtl("stop", {"-w", "-D", dir_ + "/data", "-m", "immediate", "stop"});
    return st;
  }
  port_ = port;
  running_ = true;
  return Ok();
}

Status PostgresServer::RunPgCtl(const std::string& what,
                                const std::vector<std::string>& args) const {
  const std::string log = dir_ + "/pg_ctl.log";
  std::vector<std::string> argv{bin_ + "/pg_ctl"};
  argv.insert(argv.end(), args.begin(), args.end());
  Status st = Run(std::move(argv), log);
  if (!st.ok()) {
    return MakeError(st.error().code, "pg_ctl " + what + ": " + st.error().message + "\n" +
                                          Tail(ReadFile(log), 1000));
  }
  return Ok();
}

Status CreateDatabaseAt(const std::string& url, const std::string& name) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = "connecting to " + url + ": " + PQerrorMessage(conn);
    PQfinish(conn);
    return MakeError(ErrorCode::kUnavailable, std::move(message));
  }
  char* ident = PQescapeIdentifier(conn, name.c_str(), name.size());
  if (ident == nullptr) {
    std::string message = "database name " + name + ": " + PQerrorMessage(conn);
    PQfinish(conn);
    return MakeError(ErrorCode::kInvalidArgument, std::move(message));
  }
  const std::string sql = std::string("CREATE DATABASE ") + ident;
  PQfreemem(ident);
  PGresult* res = PQexec(conn, sql.c_str());
  Status st = Ok();
  if (PQresultStatus(res) != PGRES_COMMAND_OK) {
    std::string message = sql + ": " + PQresultErrorMessage(res);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' '))
      message.pop_back();
    st = MakeError(ErrorCode::kDatabase, std::move(message));
  }
  PQclear(res);
  PQfinish(conn);
  return st;
}

std::string WithDatabase(const std::string& url, const std::string& name) {
  const size_t scheme = url.find("://");
  const size_t authority = scheme == std::string::npos ? 0 : scheme + 3;
  const size_t query = url.find('?', authority);
  const size_t end = query == std::string::npos ? url.size() : query;
  const size_t slash = url.find('/', authority);
  if (slash == std::string::npos || slash > end)
    return url.substr(0, end) + "/" + name + url.substr(end);
  return url.substr(0, slash + 1) + name + url.substr(end);
}

}  // namespace dxhub::test
