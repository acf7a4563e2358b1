#include "engines.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>

#include "postgres_server.h"
#include "store/sql/postgres_database.h"

namespace dxhub::testing {
namespace {

// The server this test process started when ctest did not hand it one. Test-only state: the
// server lives as long as the process.
struct SharedServer {
  std::mutex mutex;
  std::unique_ptr<test::PostgresServer> server;
  std::string error;
  std::atomic<int> next{0};
};

SharedServer& Shared() {
  static SharedServer shared;
  return shared;
}

// A database name unique across the processes ctest runs in parallel against one server.
std::string UniqueName() {
  std::random_device rd;
  std::string name = "t";  // appended piecewise: GCC 12 -Wrestrict false positive on `"t" + ...`
  name += std::to_string(::getpid());
  name += '_';
  name += std::to_string(Shared().next++);
  name += '_';
  name += std::to_string(rd() % 100000);
  return name;
}

}  // namespace

std::string EngineName(const ::testing::TestParamInfo<Engine>& info) {
  return info.param == Engine::kSqlite ? "Sqlite" : "Postgres";
}

Result<std::string> NewPostgresDatabase() {
  const std::string name = UniqueName();
  if (const char* file = std::getenv("DXHUB_TEST_POSTGRES"); file != nullptr && *file) {
    // ctest's fixture started the server and wrote its URL (to the maintenance database).
    std::ifstream in(file);
    std::string url;
    if (!std::getline(in, url) || url.empty())
      return MakeError(ErrorCode::kUnavailable, std::string("no PostgreSQL URL in ") + file);
    DXHUB_TRY(test::CreateDatabaseAt(url, name));
    return test::WithDatabase(url, name);
  }
  SharedServer& shared = Shared();
  std::lock_guard lock(shared.mutex);
  if (!shared.server && shared.error.empty()) {
    auto started = test::PostgresServer::Start();
    if (started.ok())
      shared.server = std::move(started.value());
    else
      shared.error = started.error().ToString();
  }
  if (!shared.server)
    return MakeError(ErrorCode::kUnavailable, "PostgreSQL test server: " + shared.error);
  DXHUB_TRY(shared.server->CreateDatabase(name));
  return shared.server->Url(name);
}

IndexLocation::IndexLocation(Engine engine, const ScratchDir& dir) : engine_(engine) {
  if (engine == Engine::kSqlite) {
    path_ = dir / "index.sqlite";
    return;
  }
  auto url = NewPostgresDatabase();
  if (url.ok())
    url_ = *url;
  else
    ADD_FAILURE() << url.error().ToString();
}

Result<store::StudyIndexPtr> IndexLocation::Open(const store::JobLease& lease) const {
  if (engine_ == Engine::kSqlite)
    return store::OpenSqliteIndex(path_, lease);
  if (url_.empty())
    return MakeError(ErrorCode::kUnavailable, "no PostgreSQL test database");
  store::sql::PostgresOptions options;
  options.url = url_;
  options.application_name = "dxhub-test";
  return store::OpenPostgresIndex(options, lease);
}

}  // namespace dxhub::testing
