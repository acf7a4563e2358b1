#pragma once
// The store tests run on both engines. `EngineTest` is a parameterised fixture whose `Open()`
// gives each test a fresh, empty index: SQLite in a scratch directory, PostgreSQL in a new
// database of the test server (one server for the whole test process, or the one ctest's
// fixture started, whose URL is in the file DXHUB_TEST_POSTGRES names).

#include <gtest/gtest.h>

#include <string>

#include "../test_util.h"
#include "store/study_index.h"

namespace dxhub::testing {

enum class Engine { kSqlite, kPostgres };

std::string EngineName(const ::testing::TestParamInfo<Engine>& info);

/// Where one test's index lives; opening it twice reopens the same data.
class IndexLocation {
 public:
  IndexLocation(Engine engine, const ScratchDir& dir);
  /// `lease` names the node the index claims jobs for (tests of several nodes open it twice).
  Result<store::StudyIndexPtr> Open(const store::JobLease& lease = {}) const;
  Engine engine() const { return engine_; }
  /// The PostgreSQL URL of this test's database (empty on SQLite).
  const std::string& url() const { return url_; }

 private:
  Engine engine_;
  std::string path_;
  std::string url_;
};

/// A URL of a new, empty database on the shared test server (the test fails if none can run).
Result<std::string> NewPostgresDatabase();

class EngineTest : public ::testing::TestWithParam<Engine> {
 protected:
  Result<store::StudyIndexPtr> Open(const store::JobLease& lease = {}) const {
    return location_.Open(lease);
  }
  Engine engine() const { return GetParam(); }

  ScratchDir dir_;
  IndexLocation location_{GetParam(), dir_};
};

}  // namespace dxhub::testing

#define DXHUB_BOTH_ENGINES(fixture)                                                              \
  INSTANTIATE_TEST_SUITE_P(                                                                      \
      Engines, fixture,                                                                          \
      ::testing::Values(::dxhub::testing::Engine::kSqlite, ::dxhub::testing::Engine::kPostgres), \
      ::dxhub::testing::EngineName)
