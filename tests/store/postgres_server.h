#pragma once
// A throw-away PostgreSQL server for tests: its own cluster in a temporary directory, on a free
// loopback port, trust authentication for the role `dxhub`, durability off (fsync,
// synchronous_commit, full_page_writes) because nothing in it outlives the test. It can be
// stopped and started again on the same port, so tests can take the database away mid-ingest.
//
// The binaries come from /usr/lib/postgresql/15/bin, or the directory DXHUB_PG_BIN names.
// PostgreSQL refuses to run as root, so under root they run as the user `postgres` (runuser)
// and the directory is handed to it.

#include <memory>
#include <string>
#include <vector>

#include "core/result.h"

namespace dxhub::test {

class PostgresServer {
 public:
  /// Creates a cluster, starts it and creates the database `dxhub`. Fails (with a message
  /// saying so) when the PostgreSQL binaries are missing; whether that skips or fails a test is
  /// the caller's choice.
  static Result<std::unique_ptr<PostgresServer>> Start();

  /// Stops the server at once (`pg_ctl -m immediate`) if it runs, and removes its directory.
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  /// `postgresql://dxhub@127.0.0.1:PORT/<db>`.
  std::string Url(const std::string& db = "dxhub") const;
  /// CREATE DATABASE `name` (owned by dxhub).
  Status CreateDatabase(const std::string& name);

  /// Stops the server: fast shutdown (open connections are ended, the server checkpoints), or
  /// with `immediate` the way a crash would (no checkpoint; recovery runs at the next start).
  Status Stop(bool immediate = false);
  /// Stops the server if it runs (fast) and starts it again on the same port.
  Status Restart();

  bool running() const { return running_; }
  int port() const { return port_; }
  /// The temporary directory: data/ (the cluster), log (the server's log), the socket.
  const std::string& dir() const { return dir_; }
  /// The server's log so far (for failure messages).
  std::string Log() const;

 private:
  PostgresServer() = default;
  Status InitCluster();
  Status StartOnPort(int port);
  Status RunPgCtl(const std::string& what, const std::vector<std::string>& args) const;

  std::string bin_;
  std::string dir_;
  int port_ = 0;
  bool running_ = false;
};

/// Runs CREATE DATABASE `name` through the server `url` points at (any database on it).
Status CreateDatabaseAt(const std::string& url, const std::string& name);

/// `url` with its database replaced by `name` (query parameters kept).
std::string WithDatabase(const std::string& url, const std::string& name);

}  // namespace dxhub::test
