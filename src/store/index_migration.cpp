#include "store/index_migration.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <variant>

#include "core/hash.h"

namespace dxhub::store {
namespace {

using sql::Stmt;
using sql::Transaction;

constexpr int kBatch = 2000;

// Tables the index rebuilds by itself, or that describe one database rather than the archive.
bool Skipped(const std::string& table) {
  return table == "schema_version" || table == "schema_contracts" || table == "nodes" ||
         table.rfind("sqlite_", 0) == 0;
}

enum class Type { kInteger, kReal, kText };

struct Column {
  std::string name;
  Type type = Type::kText;
};

struct Table {
  std::string name;
  std::vector<Column> columns;
  std::string rowid;  // the INTEGER PRIMARY KEY (SQLite's rowid), if the table has one
};

using Value = std::variant<std::monostate, int64_t, double, std::string>;
using Row = std::vector<Value>;

Type TypeOf(const std::string& declared) {
  // SQLite's affinity rules (datatype3.html, 3.1), for the declared types our schema uses.
  if (declared.find("INT") != std::string::npos)
    return Type::kInteger;
  if (declared.find("REAL") != std::string::npos || declared.find("DOUB") != std::string::npos)
    return Type::kReal;
  return Type::kText;
}

Result<std::vector<Table>> ReadTables(sql::Database& from) {
  std::vector<Table> tables;
  Status st = from.Read([&](Transaction& tx) -> Status {
    tables.clear();
    // Creation order, then parents first (below): a later migration may add a column that
    // refers to a table created after its own (studies.institution_pk, schema 11).
    auto list = tx.Prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid");
    if (!list.ok())
      return list.error();
    DXHUB_TRY(list->ForEach([&](const Stmt& r) {
      if (!Skipped(r.Text("name")))
        tables.push_back({r.Text("name"), {}, {}});
    }));
    for (auto& t : tables) {
      auto info = tx.Prepare("PRAGMA table_info(\"" + t.name + "\")", /*cache=*/false);
      if (!info.ok())
        return info.error();
      int pk_columns = 0;
      std::string pk;
      DXHUB_TRY(info->ForEach([&](const Stmt& r) {
        Column c{r.Text("name"), TypeOf(r.Text("type"))};
        if (r.Int("pk") > 0) {
          ++pk_columns;
          if (c.type == Type::kInteger && r.Text("type") == "INTEGER")
            pk = c.name;
        }
        t.columns.push_back(std::move(c));
      }));
      if (pk_columns == 1)
        t.rowid = pk;
    }
    // Parents before children, so every foreign key holds as rows arrive; otherwise creation
    // order (a stable topological sort).
    std::map<std::string, std::set<std::string>> parents;
    for (const auto& t : tables) {
      auto fks = tx.Prepare("PRAGMA foreign_key_list(\"" + t.name + "\")", /*cache=*/false);
      if (!fks.ok())
        return fks.error();
      DXHUB_TRY(fks->ForEach([&](const Stmt& r) {
        if (r.Text("table") != t.name)
          parents[t.name].insert(r.Text("table"));
      }));
    }
    std::vector<Table> ordered;
    std::set<std::string> placed;
    std::vector<bool> done(tables.size(), false);
    while (ordered.size() < tables.size()) {
      bool progress = false;
      for (size_t i = 0; i < tables.size() && !progress; ++i) {
        if (done[i])
          continue;
        bool ready = true;
        for (const auto& parent : parents[tables[i].name]) {
          if (placed.count(parent) == 0 && !Skipped(parent))
            ready = false;
        }
        if (!ready)
          continue;
        // The first ready table in creation order; then start again from the first.
        done[i] = true;
        placed.insert(tables[i].name);
        ordered.push_back(tables[i]);
        progress = true;
      }
      if (!progress)
        return MakeError(ErrorCode::kInternal, "the SQLite schema's foreign keys form a cycle");
    }
    tables = std::move(ordered);
    return Ok();
  });
  if (!st.ok())
    return st.error();
  return tables;
}

std::string ColumnList(const Table& t) {
  std::string list;
  for (const auto& c : t.columns) {
    if (!list.empty())
      list += ", ";
    list += c.name;
  }
  return list;
}

Value ReadValue(const Stmt& r, const Column& c) {
  if (r.IsNull(c.name))
    return std::monostate{};
  switch (c.type) {
    case Type::kInteger:
      return r.Int(c.name);
    case Type::kReal:
      return r.Double(c.name);
    case Type::kText:
      break;
  }
  return r.Text(c.name);
}

// One row as bytes that do not depend on the engine that returned it.
std::string Canonical(const Row& row) {
  std::string out;
  for (const auto& v : row) {
    if (std::holds_alternative<std::monostate>(v)) {
      out += "N;";
    } else if (const auto* i = std::get_if<int64_t>(&v)) {
      out += 'I';  // appended piecewise: GCC 12 -Wrestrict false positive on `"I" + ...`
      out += std::to_string(*i);
      out += ';';
    } else if (const auto* d = std::get_if<double>(&v)) {
      char buf[40];
      std::snprintf(buf, sizeof buf, "R%.17g;", *d);
      out += buf;
    } else {
      const auto& s = std::get<std::string>(v);
      out += 'T';
      out += std::to_string(s.size());
      out += ':';
      out += s;
    }
  }
  return out;
}

// An order-independent checksum of a table: the sum (mod 2^64) of the first 8 bytes of each
// row's SHA-256, so the two engines need not agree on an order (their collations differ).
class TableChecksum {
 public:
  void Add(const Row& row) {
    const std::string digest = Sha256Hex(Canonical(row));
    sum_ += std::stoull(digest.substr(0, 16), nullptr, 16);
    ++rows_;
  }
  int64_t rows() const { return rows_; }
  std::string Hex() const {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(sum_));
    return buf;
  }

 private:
  uint64_t sum_ = 0;
  int64_t rows_ = 0;
};

Result<std::pair<int64_t, std::string>> Checksum(sql::Database& db, const Table& t) {
  TableChecksum sum;
  Status st = db.Read([&](Transaction& tx) -> Status {
    sum = {};
    auto all = tx.Prepare("SELECT " + ColumnList(t) + " FROM " + t.name, /*cache=*/false);
    if (!all.ok())
      return all.error();
    return all->ForEach([&](const Stmt& r) {
      Row row;
      row.reserve(t.columns.size());
      for (const auto& c : t.columns)
        row.push_back(ReadValue(r, c));
      sum.Add(row);
    });
  });
  if (!st.ok())
    return st.error();
  return std::make_pair(sum.rows(), sum.Hex());
}

// Where a resumed copy of `t` starts: batches commit in rowid order, so everything below the
// target's highest key is already there.
Result<int64_t> Watermark(sql::Database& to, const Table& t) {
  if (t.rowid.empty())
    return int64_t{0};
  int64_t high = 0;
  Status st = to.Read([&](Transaction& tx) -> Status {
    auto max = tx.Prepare("SELECT COALESCE(MAX(" + t.rowid + "), 0) AS high FROM " + t.name,
                          /*cache=*/false);
    if (!max.ok())
      return max.error();
    return max->ForEach([&](const Stmt& r) { high = r.Int("high"); });
  });
  if (!st.ok())
    return st.error();
  return high;
}

Status Copy(sql::Database& from, sql::Database& to, const Table& t, TableMigration& m,
            const std::function<void(const TableMigration&)>& progress) {
  auto after = Watermark(to, t);
  if (!after.ok())
    return after.error();
  int64_t cursor = *after;
  std::string placeholders;
  for (size_t i = 0; i < t.columns.size(); ++i) {
    placeholders += i == 0 ? ":" : ", :";
    placeholders += sql::NumberedParam(i);
  }
  const std::string select = "SELECT rowid AS dxhub_rowid, " + ColumnList(t) + " FROM " + t.name +
                             " WHERE rowid > :after ORDER BY rowid LIMIT " + std::to_string(kBatch);
  const std::string insert = "INSERT INTO " + t.name + "(" + ColumnList(t) + ") VALUES (" +
                             placeholders + ") ON CONFLICT DO NOTHING";
  for (;;) {
    std::vector<Row> rows;
    int64_t last = cursor;
    Status read = from.Read([&](Transaction& tx) -> Status {
      rows.clear();
      auto batch = tx.Prepare(select);
      if (!batch.ok())
        return batch.error();
      batch->Bind("after", cursor);
      return batch->ForEach([&](const Stmt& r) {
        Row row;
        for (const auto& c : t.columns)
          row.push_back(ReadValue(r, c));
        rows.push_back(std::move(row));
        last = r.Int("dxhub_rowid");
      });
    });
    DXHUB_TRY(read);
    if (rows.empty())
      return Ok();
    int64_t inserted = 0;
    DXHUB_TRY(to.Write([&](Transaction& tx) -> Status {
      inserted = 0;
      auto ins = tx.Prepare(insert);
      if (!ins.ok())
        return ins.error();
      for (const auto& row : rows) {
        for (size_t i = 0; i < row.size(); ++i) {
          const std::string name = sql::NumberedParam(i);
          const Value& v = row[i];
          if (std::holds_alternative<std::monostate>(v))
            ins->BindNull(name);
          else if (const auto* n = std::get_if<int64_t>(&v))
            ins->Bind(name, *n);
          else if (const auto* d = std::get_if<double>(&v))
            ins->Bind(name, *d);
          else
            ins->Bind(name, std::get<std::string>(v));
        }
        Status run = ins->Run();
        inserted += ins->Changes();
        ins->Reset();
        DXHUB_TRY(run);
      }
      return Ok();
    }));
    m.copied += inserted;
    cursor = last;
    if (progress)
      progress(m);
  }
}

// The counters the target's triggers kept while rows arrived in bulk (children after their
// parents, parents with their counts already set) are recounted from the rows themselves.
Status Recount(sql::Database& to) {
  return to.Write([](Transaction& tx) -> Status {
    return tx.Exec(
        "UPDATE series SET num_instances = (SELECT COUNT(*) FROM instances i WHERE "
        "i.series_pk = series.id);"
        "UPDATE studies SET num_series = (SELECT COUNT(*) FROM series s WHERE "
        "s.study_pk = studies.id), num_instances = (SELECT COUNT(*) FROM instances i JOIN "
        "series s ON s.id = i.series_pk WHERE s.study_pk = studies.id);"
        "UPDATE patients SET num_studies = (SELECT COUNT(*) FROM studies s WHERE "
        "s.patient_pk = patients.id)");
  });
}

}  // namespace

Result<MigrationReport> MigrateIndex(sql::Database& from, sql::Database& to,
                                     const std::function<void(const TableMigration&)>& progress) {
  if (from.dialect().engine() != sql::Engine::kSqlite)
    return MakeError(ErrorCode::kInvalidArgument, "migrate: the source must be a SQLite index");
  if (from.SchemaVersion() != to.SchemaVersion()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "migrate: source schema " + std::to_string(from.SchemaVersion()) +
                         " and target schema " + std::to_string(to.SchemaVersion()) + " differ");
  }
  auto tables = ReadTables(from);
  if (!tables.ok())
    return tables.error();
  MigrationReport report;
  for (const auto& t : *tables) {
    TableMigration m;
    m.table = t.name;
    DXHUB_TRY(Copy(from, to, t, m, progress));
    report.tables.push_back(std::move(m));
  }
  DXHUB_TRY(Recount(to));
  // Identity columns continue after the copied ids, so new rows do not collide with them.
  for (const auto& t : *tables) {
    if (t.rowid.empty())
      continue;
    const std::string reset = to.dialect().ContinueIdentityAfterMax(t.name, t.rowid);
    if (!reset.empty())
      DXHUB_TRY(to.Write([&](Transaction& tx) { return tx.Exec(reset); }));
  }
  for (size_t i = 0; i < tables->size(); ++i) {
    auto source = Checksum(from, (*tables)[i]);
    if (!source.ok())
      return source.error();
    auto target = Checksum(to, (*tables)[i]);
    if (!target.ok())
      return target.error();
    auto& m = report.tables[i];
    m.source_rows = source->first;
    m.source_checksum = source->second;
    m.target_rows = target->first;
    m.target_checksum = target->second;
  }
  return report;
}

}  // namespace dxhub::store
