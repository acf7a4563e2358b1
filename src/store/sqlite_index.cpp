// SQLite backend of StudyIndex.
//
// Writes go through one writer thread that commits whatever is queued in one transaction
// ("group commit"): with synchronous=FULL every acknowledged instance is on disk, yet N concurrent
// associations cost one WAL fsync per batch instead of N. Reads use a small pool of their own
// connections, which WAL lets run beside the writer.

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include "core/strings.h"
#include "store/sql_migrations.h"
#include "store/sqlite_ai_store.h"
#include "store/sqlite_db.h"
#include "store/sqlite_processing_store.h"
#include "store/sqlite_review_store.h"
#include "store/sqlite_user_store.h"
#include "store/study_index.h"

namespace dxhub::store {
namespace {

using sqlite::Db;
using sqlite::Stmt;

constexpr size_t kMaxBatch = 256;
constexpr size_t kMaxReaders = 8;

// Turns DICOM-style wildcards into a LIKE pattern with '\' as the escape character.
std::string WildcardToLike(const std::string& pattern) {
  std::string out;
  for (char c : pattern) {
    if (c == '*') {
      out += '%';
    } else if (c == '?') {
      out += '_';
    } else if (c == '%' || c == '_' || c == '\\') {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  return out;
}

bool HasWildcard(const std::string& s) {
  return s.find_first_of("*?") != std::string::npos;
}

std::vector<std::string> SplitModalities(const std::string& joined) {
  if (joined.empty())
    return {};
  return Split(joined, ",");  // group_concat output: never empty items
}

class SqliteIndex final : public StudyIndex, private sqlite::Access {
 public:
  explicit SqliteIndex(std::string path) : path_(std::move(path)) {}

  ~SqliteIndex() override {
    {
      std::lock_guard lock(write_mu_);
      stopping_ = true;
    }
    write_cv_.notify_all();
    if (writer_.joinable())
      writer_.join();
  }

  Status Init() {
    auto db = Db::Open(path_, /*create=*/true);
    if (!db.ok())
      return db.error();
    writer_db_ = std::move(db.value());
    DXHUB_TRY(
        writer_db_.Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                        "PRAGMA foreign_keys=ON;"));
    DXHUB_TRY(Migrate());
    DXHUB_TRY(PrepareWriteStatements());
    writer_ = std::thread([this] { WriterLoop(); });
    ai_ = MakeSqliteAiStore(*this);
    users_ = MakeSqliteUserStore(*this);
    reviews_ = MakeSqliteReviewStore(*this, *ai_);
    processing_ = MakeSqliteProcessingStore(*this);
    return Ok();
  }

  int SchemaVersion() const override { return schema_version_; }

  Result<std::optional<StoredInstance>> FindInstance(const std::string& sop_uid) override {
    auto conn = Borrow();
    if (!conn.ok())
      return conn.error();
    auto stmt = Stmt::Prepare(conn->db(),
                              "SELECT sop_uid, blob_key, size, sha256 FROM instances "
                              "WHERE sop_uid = ?");
    if (!stmt.ok())
      return stmt.error();
    stmt->Bind(1, sop_uid);
    auto row = stmt->Step();
    if (!row.ok())
      return row.error();
    if (!*row)
      return std::optional<StoredInstance>();
    return std::optional<StoredInstance>(StoredInstance{
        stmt->Text(0), stmt->Text(1), static_cast<uint64_t>(stmt->Int(2)), stmt->Text(3)});
  }

  Status PutInstance(const InstanceRecord& record) override {
    return Enqueue([this, &record] { return WriteOne(record); });
  }

  // sqlite::Access, for the AI store.
  Status Write(std::function<Status(const Db&)> op) override {
    return Enqueue([this, op = std::move(op)] { return op(writer_db_); });
  }
  Status Read(const std::function<Status(const Db&)>& op) override {
    auto conn = Borrow();
    if (!conn.ok())
      return conn.error();
    return op(conn->db());
  }

  AiStore& ai() override { return *ai_; }
  UserStore& users() override { return *users_; }
  ReviewStore& reviews() override { return *reviews_; }
  ProcessingStore& processing() override { return *processing_; }

  Result<StudyPage> FindStudies(const StudyQuery& q) override {
    std::vector<Filter> filters;
    auto text = [&](Field field, const std::string& value) {
      if (value.empty())
        return;
      filters.push_back(
          {field, HasWildcard(value) ? Filter::Kind::kWildcard : Filter::Kind::kExact, {value}});
    };
    text(Field::kPatientId, q.patient_id);
    text(Field::kPatientName, q.patient_name);
    text(Field::kAccessionNumber, q.accession_number);
    if (!q.date_from.empty() || !q.date_to.empty()) {
      filters.push_back({Field::kStudyDate, Filter::Kind::kRange, {q.date_from, q.date_to}});
    }
    if (!q.modality.empty()) {
      filters.push_back({Field::kModalitiesInStudy, Filter::Kind::kExact, {q.modality}});
    }
    std::string where;
    std::vector<std::string> args;
    DXHUB_TRY(BuildWhere(Level::kStudy, filters, where, args));

    auto conn = Borrow();
    if (!conn.ok())
      return conn.error();
    StudyPage page;
    {
      auto count = Stmt::Prepare(conn->db(), "SELECT COUNT(*)" + FromClause(Level::kStudy) + where);
      if (!count.ok())
        return count.error();
      for (size_t i = 0; i < args.size(); ++i)
        count->Bind(static_cast<int>(i + 1), args[i]);
      auto row = count->Step();
      if (!row.ok())
        return row.error();
      page.total = count->Int(0);
    }
    IndexQuery query{Level::kStudy, std::move(filters), q.limit, q.offset};
    auto rows = RunQuery(conn->db(), query, where, args);
    if (!rows.ok())
      return rows.error();
    for (auto& r : *rows)
      page.studies.push_back(std::move(r.study));
    return page;
  }

  Result<std::vector<QueryRow>> Query(const IndexQuery& query) override {
    std::string where;
    std::vector<std::string> args;
    DXHUB_TRY(BuildWhere(query.level, query.filters, where, args));
    auto conn = Borrow();
    if (!conn.ok())
      return conn.error();
    return RunQuery(conn->db(), query, where, args);
  }

  Result<std::optional<StudyDetail>> GetStudy(const std::string& study_uid) override {
    auto conn = Borrow();
    if (!conn.ok())
      return conn.error();
    auto stmt = Stmt::Prepare(conn->db(), std::string(kStudyColumns) +
                                              " FROM studies s JOIN patients p ON p.id = "
                                              "s.patient_pk WHERE s.study_uid = ?");
    if (!stmt.ok())
      return stmt.error();
    stmt->Bind(1, study_uid);
    auto row = stmt->Step();
    if (!row.ok())
      return row.error();
    if (!*row)
      return std::optional<StudyDetail>();
    StudyDetail detail;
    detail.study = ReadStudy(*stmt);
    int64_t study_pk = stmt->Int(16);

    auto series = Stmt::Prepare(conn->db(),
                                "SELECT id, series_uid, modality, series_number, "
                                "series_description, body_part, num_instances, received_at "
                                "FROM series WHERE study_pk = ? ORDER BY series_number, id");
    if (!series.ok())
      return series.error();
    series->Bind(1, study_pk);
    std::vector<int64_t> series_pks;
    for (;;) {
      auto r = series->Step();
      if (!r.ok())
        return r.error();
      if (!*r)
        break;
      series_pks.push_back(series->Int(0));
      SeriesDetail sd;
      sd.series_uid = series->Text(1);
      sd.modality = series->Text(2);
      sd.series_number = static_cast<int>(series->Int(3));
      sd.series_description = series->Text(4);
      sd.body_part = series->Text(5);
      sd.num_instances = static_cast<int>(series->Int(6));
      sd.received_ms = series->Int(7);
      detail.series.push_back(std::move(sd));
    }
    auto inst = Stmt::Prepare(conn->db(),
                              "SELECT sop_uid, sop_class_uid, instance_number, transfer_syntax, "
                              "rows, columns, frames, size, received_at FROM instances "
                              "WHERE series_pk = ? ORDER BY instance_number, id");
    if (!inst.ok())
      return inst.error();
    for (size_t i = 0; i < series_pks.size(); ++i) {
      inst->Reset();
      inst->Bind(1, series_pks[i]);
      for (;;) {
        auto r = inst->Step();
        if (!r.ok())
          return r.error();
        if (!*r)
          break;
        InstanceSummary is;
        is.sop_uid = inst->Text(0);
        is.sop_class_uid = inst->Text(1);
        is.instance_number = static_cast<int>(inst->Int(2));
        is.transfer_syntax_uid = inst->Text(3);
        is.rows = static_cast<int>(inst->Int(4));
        is.columns = static_cast<int>(inst->Int(5));
        is.frames = static_cast<int>(inst->Int(6));
        is.size = static_cast<uint64_t>(inst->Int(7));
        is.received_ms = inst->Int(8);
        detail.series[i].instances.push_back(std::move(is));
      }
    }
    return std::optional<StudyDetail>(std::move(detail));
  }

  Status ForEachInstance(const std::function<bool(const StoredInstance&)>& fn) override {
    auto conn = Borrow();
    if (!conn.ok())
      return conn.error();
    auto stmt = Stmt::Prepare(conn->db(), "SELECT sop_uid, blob_key, size, sha256 FROM instances");
    if (!stmt.ok())
      return stmt.error();
    for (;;) {
      auto row = stmt->Step();
      if (!row.ok())
        return row.error();
      if (!*row)
        return Ok();
      StoredInstance si{stmt->Text(0), stmt->Text(1), static_cast<uint64_t>(stmt->Int(2)),
                        stmt->Text(3)};
      if (!fn(si))
        return Ok();
    }
  }

  Status Ping() override {
    auto conn = Borrow();
    if (!conn.ok())
      return conn.error();
    auto stmt = Stmt::Prepare(conn->db(), "SELECT 1");
    if (!stmt.ok())
      return stmt.error();
    auto row = stmt->Step();
    if (!row.ok())
      return row.error();
    return Ok();
  }

  Result<IndexCounts> Counts() override {
    auto conn = Borrow();
    if (!conn.ok())
      return conn.error();
    auto stmt = Stmt::Prepare(conn->db(),
                              "SELECT (SELECT COUNT(*) FROM patients), (SELECT COUNT(*) FROM "
                              "studies), (SELECT COUNT(*) FROM series), (SELECT COUNT(*) FROM "
                              "instances)");
    if (!stmt.ok())
      return stmt.error();
    auto row = stmt->Step();
    if (!row.ok())
      return row.error();
    return IndexCounts{stmt->Int(0), stmt->Int(1), stmt->Int(2), stmt->Int(3)};
  }

 private:
  static std::string FromClause(Level level) {
    std::string from = " FROM studies s JOIN patients p ON p.id = s.patient_pk";
    if (level != Level::kStudy)
      from += " JOIN series se ON se.study_pk = s.id";
    if (level == Level::kInstance)
      from += " JOIN instances i ON i.series_pk = se.id";
    return from;
  }

  // The SQL column of each field, and whether it is a person name (case-insensitive matching).
  static std::pair<const char*, bool> ColumnOf(Field field) {
    switch (field) {
      case Field::kPatientId:
        return {"p.patient_id", false};
      case Field::kPatientName:
        return {"p.patient_name", true};
      case Field::kPatientBirthDate:
        return {"p.birth_date", false};
      case Field::kPatientSex:
        return {"p.sex", false};
      case Field::kStudyUid:
        return {"s.study_uid", false};
      case Field::kStudyDate:
        return {"s.study_date", false};
      case Field::kStudyTime:
        return {"s.study_time", false};
      case Field::kAccessionNumber:
        return {"s.accession_number", false};
      case Field::kStudyId:
        return {"s.study_id", false};
      case Field::kStudyDescription:
        return {"s.study_description", false};
      case Field::kReferringPhysician:
        return {"s.referring_physician", true};
      case Field::kModalitiesInStudy:
        return {"m.modality", false};
      case Field::kSeriesUid:
        return {"se.series_uid", false};
      case Field::kModality:
        return {"se.modality", false};
      case Field::kSeriesNumber:
        return {"se.series_number", false};
      case Field::kSeriesDescription:
        return {"se.series_description", false};
      case Field::kBodyPart:
        return {"se.body_part", false};
      case Field::kSopUid:
        return {"i.sop_uid", false};
      case Field::kSopClassUid:
        return {"i.sop_class_uid", false};
      case Field::kInstanceNumber:
        return {"i.instance_number", false};
    }
    return {"NULL", false};
  }

  // GLOB pattern for case-sensitive DICOM wildcard matching: '*' and '?' are the wildcards and
  // '[' must be escaped as a one-character class.
  static std::string WildcardToGlob(const std::string& pattern) {
    std::string out;
    for (char ch : pattern) {
      if (ch == '[') {
        out += "[[]";
      } else {
        out += ch;
      }
    }
    return out;
  }

  static Status BuildWhere(Level level, const std::vector<Filter>& filters, std::string& where,
                           std::vector<std::string>& args) {
    where = " WHERE 1=1";
    for (const auto& f : filters) {
      if (static_cast<int>(LevelOf(f.field)) > static_cast<int>(level)) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "attribute cannot be matched at this query level");
      }
      auto [column, person_name] = ColumnOf(f.field);
      std::string cond;
      switch (f.kind) {
        case Filter::Kind::kExact:
          cond = std::string(column) + (person_name ? " = ? COLLATE NOCASE" : " = ?");
          args.push_back(f.values.at(0));
          break;
        case Filter::Kind::kWildcard:
          if (person_name) {
            cond = std::string(column) + " LIKE ? ESCAPE '\\'";
            args.push_back(WildcardToLike(f.values.at(0)));
          } else {
            cond = std::string(column) + " GLOB ?";
            args.push_back(WildcardToGlob(f.values.at(0)));
          }
          break;
        case Filter::Kind::kRange: {
          std::vector<std::string> parts;
          if (!f.values.at(0).empty()) {
            parts.push_back(std::string(column) + " >= ?");
            args.push_back(f.values[0]);
          }
          if (f.values.size() > 1 && !f.values[1].empty()) {
            parts.push_back(std::string(column) + " <= ?");
            args.push_back(f.values[1]);
          }
          for (size_t i = 0; i < parts.size(); ++i)
            cond += (i ? " AND " : "") + parts[i];
          break;
        }
        case Filter::Kind::kList: {
          cond = std::string(column) + " IN (";
          for (size_t i = 0; i < f.values.size(); ++i) {
            cond += i ? ", ?" : "?";
            args.push_back(f.values[i]);
          }
          cond += ")";
          break;
        }
      }
      if (cond.empty())
        continue;
      if (f.field == Field::kModalitiesInStudy) {
        cond.insert(0, "EXISTS (SELECT 1 FROM series m WHERE m.study_pk = s.id AND ");
        cond += ")";
      }
      where += " AND ";
      where += cond;
    }
    return Ok();
  }

  Result<std::vector<QueryRow>> RunQuery(const Db& db, const IndexQuery& q,
                                         const std::string& where,
                                         const std::vector<std::string>& args) {
    std::string sql = std::string(kStudyColumns) +
                      ", se.series_uid, se.modality, se.series_number, se.series_description, "
                      "se.body_part, se.num_instances, se.received_at, i.sop_uid, "
                      "i.sop_class_uid, i.instance_number, i.transfer_syntax, i.rows, i.columns, "
                      "i.frames, i.size, i.received_at, i.blob_key, i.sha256";
    if (q.level == Level::kStudy) {
      // Same column positions for every level; lower levels are NULL.
      sql = std::string(kStudyColumns) +
            ", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
            "NULL, NULL, NULL, NULL";
    } else if (q.level == Level::kSeries) {
      sql = std::string(kStudyColumns) +
            ", se.series_uid, se.modality, se.series_number, se.series_description, "
            "se.body_part, se.num_instances, se.received_at, NULL, NULL, NULL, NULL, NULL, "
            "NULL, NULL, NULL, NULL, NULL";
    }
    sql += FromClause(q.level) + where;
    switch (q.level) {
      case Level::kStudy:
        sql += " ORDER BY s.study_date DESC, s.study_time DESC, s.id DESC";
        break;
      case Level::kSeries:
        sql += " ORDER BY s.id, se.series_number, se.id";
        break;
      case Level::kInstance:
        sql += " ORDER BY s.id, se.series_number, se.id, i.instance_number, i.id";
        break;
    }
    sql += " LIMIT ? OFFSET ?";
    auto stmt = Stmt::Prepare(db, sql);
    if (!stmt.ok())
      return stmt.error();
    int n = 1;
    for (const auto& a : args)
      stmt->Bind(n++, a);
    stmt->Bind(n++, q.limit);
    stmt->Bind(n++, q.offset);
    std::vector<QueryRow> rows;
    for (;;) {
      auto row = stmt->Step();
      if (!row.ok())
        return row.error();
      if (!*row)
        break;
      QueryRow r;
      r.study = ReadStudy(*stmt);
      if (q.level != Level::kStudy) {
        r.series.series_uid = stmt->Text(17);
        r.series.modality = stmt->Text(18);
        r.series.series_number = static_cast<int>(stmt->Int(19));
        r.series.series_description = stmt->Text(20);
        r.series.body_part = stmt->Text(21);
        r.series.num_instances = static_cast<int>(stmt->Int(22));
        r.series.received_ms = stmt->Int(23);
      }
      if (q.level == Level::kInstance) {
        r.instance.sop_uid = stmt->Text(24);
        r.instance.sop_class_uid = stmt->Text(25);
        r.instance.instance_number = static_cast<int>(stmt->Int(26));
        r.instance.transfer_syntax_uid = stmt->Text(27);
        r.instance.rows = static_cast<int>(stmt->Int(28));
        r.instance.columns = static_cast<int>(stmt->Int(29));
        r.instance.frames = static_cast<int>(stmt->Int(30));
        r.instance.size = static_cast<uint64_t>(stmt->Int(31));
        r.instance.received_ms = stmt->Int(32);
        r.blob_key = stmt->Text(33);
        r.instance.sha256 = stmt->Text(34);
      }
      rows.push_back(std::move(r));
    }
    return rows;
  }

  static constexpr const char* kStudyColumns =
      "SELECT s.study_uid, p.patient_id, p.patient_name, p.birth_date, p.sex, s.study_date, "
      "s.study_time, s.accession_number, s.study_description, s.study_id, "
      "s.referring_physician, (SELECT group_concat(DISTINCT modality) FROM series m "
      "WHERE m.study_pk = s.id AND m.modality <> ''), s.num_series, s.num_instances, "
      "s.received_at, s.updated_at, s.id";

  static StudySummary ReadStudy(const Stmt& st) {
    StudySummary s;
    s.study_uid = st.Text(0);
    s.patient_id = st.Text(1);
    s.patient_name = st.Text(2);
    s.patient_birth_date = st.Text(3);
    s.patient_sex = st.Text(4);
    s.study_date = st.Text(5);
    s.study_time = st.Text(6);
    s.accession_number = st.Text(7);
    s.study_description = st.Text(8);
    s.study_id = st.Text(9);
    s.referring_physician = st.Text(10);
    s.modalities = SplitModalities(st.Text(11));
    s.num_series = static_cast<int>(st.Int(12));
    s.num_instances = static_cast<int>(st.Int(13));
    s.received_ms = st.Int(14);
    s.updated_ms = st.Int(15);
    return s;
  }

  // A read connection on loan; returned to the pool on destruction.
  class Conn {
   public:
    Conn(SqliteIndex* owner, Db db) : owner_(owner), db_(std::move(db)) {}
    ~Conn() {
      if (owner_ != nullptr)
        owner_->Return(std::move(db_));
    }
    Conn(Conn&& o) noexcept : owner_(o.owner_), db_(std::move(o.db_)) { o.owner_ = nullptr; }
    Conn& operator=(Conn&&) = delete;
    Conn(const Conn&) = delete;
    Conn& operator=(const Conn&) = delete;
    const Db& db() const { return db_; }

   private:
    SqliteIndex* owner_;
    Db db_;
  };

  Result<Conn> Borrow() {
    {
      std::lock_guard lock(read_mu_);
      if (!readers_.empty()) {
        Db db = std::move(readers_.back());
        readers_.pop_back();
        return Conn(this, std::move(db));
      }
    }
    auto db = Db::Open(path_, /*create=*/false);
    if (!db.ok())
      return db.error();
    return Conn(this, std::move(db.value()));
  }

  void Return(Db db) {
    std::lock_guard lock(read_mu_);
    if (readers_.size() < kMaxReaders)
      readers_.push_back(std::move(db));
  }

  Status Migrate() {
    DXHUB_TRY(
        writer_db_.Exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, "
                        "applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"));
    auto current =
        Stmt::Prepare(writer_db_, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
    if (!current.ok())
      return current.error();
    auto row = current->Step();
    if (!row.ok())
      return row.error();
    int version = static_cast<int>(current->Int(0));
    current = Stmt();  // finalize before DDL
    const int latest = static_cast<int>(std::size(kSqliteMigrations));
    if (version > latest) {
      return MakeError(ErrorCode::kDatabase, "index schema version " + std::to_string(version) +
                                                 " is newer than this dxhub (" +
                                                 std::to_string(latest) + ")");
    }
    for (int v = version + 1; v <= latest; ++v) {
      DXHUB_TRY(writer_db_.Exec("BEGIN IMMEDIATE"));
      Status st = writer_db_.Exec(kSqliteMigrations[v - 1]);
      if (st.ok()) {
        st = writer_db_.Exec("INSERT INTO schema_version(version) VALUES (" + std::to_string(v) +
                             ")");
      }
      if (!st.ok()) {
        (void)writer_db_.Exec("ROLLBACK");
        return MakeError(ErrorCode::kDatabase,
                         "migration " + std::to_string(v) + " failed: " + st.error().message);
      }
      DXHUB_TRY(writer_db_.Exec("COMMIT"));
      spdlog::info("index: migrated schema to version {}", v);
    }
    schema_version_ = latest;
    return Ok();
  }

  Status PrepareWriteStatements() {
    auto prep = [&](Stmt& out, const char* sql) -> Status {
      auto st = Stmt::Prepare(writer_db_, sql);
      if (!st.ok())
        return st.error();
      out = std::move(st.value());
      return Ok();
    };
    // Later instances refresh patient/study/series attributes; an empty value never overwrites a
    // known one (some senders fill only part of the header).
    DXHUB_TRY(prep(upsert_patient_,
                   "INSERT INTO patients(patient_key, patient_id, patient_name, birth_date, sex) "
                   "VALUES (CASE WHEN ?1 <> '' THEN ?1 ELSE '~' || ?2 END, ?1, ?2, ?3, ?4) "
                   "ON CONFLICT(patient_key) DO UPDATE SET "
                   "patient_name = CASE WHEN excluded.patient_name <> '' THEN "
                   "excluded.patient_name ELSE patient_name END, "
                   "birth_date = CASE WHEN excluded.birth_date <> '' THEN excluded.birth_date "
                   "ELSE birth_date END, "
                   "sex = CASE WHEN excluded.sex <> '' THEN excluded.sex ELSE sex END "
                   "RETURNING id"));
    DXHUB_TRY(
        prep(upsert_study_,
             "INSERT INTO studies(study_uid, patient_pk, study_date, study_time, "
             "accession_number, study_description, study_id, referring_physician, "
             "received_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9) "
             "ON CONFLICT(study_uid) DO UPDATE SET patient_pk = excluded.patient_pk, "
             "study_date = CASE WHEN excluded.study_date <> '' THEN excluded.study_date "
             "ELSE study_date END, "
             "study_time = CASE WHEN excluded.study_time <> '' THEN excluded.study_time "
             "ELSE study_time END, "
             "accession_number = CASE WHEN excluded.accession_number <> '' THEN "
             "excluded.accession_number ELSE accession_number END, "
             "study_description = CASE WHEN excluded.study_description <> '' THEN "
             "excluded.study_description ELSE study_description END, "
             "study_id = CASE WHEN excluded.study_id <> '' THEN excluded.study_id "
             "ELSE study_id END, "
             "referring_physician = CASE WHEN excluded.referring_physician <> '' THEN "
             "excluded.referring_physician ELSE referring_physician END, "
             "updated_at = MAX(updated_at, excluded.updated_at), stable_at = NULL RETURNING id"));
    DXHUB_TRY(prep(upsert_series_,
                   "INSERT INTO series(series_uid, study_pk, modality, series_number, "
                   "series_description, body_part, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                   "?7) ON CONFLICT(series_uid) DO UPDATE SET study_pk = excluded.study_pk, "
                   "modality = CASE WHEN excluded.modality <> '' THEN excluded.modality "
                   "ELSE modality END, "
                   "series_description = CASE WHEN excluded.series_description <> '' THEN "
                   "excluded.series_description ELSE series_description END, "
                   "body_part = CASE WHEN excluded.body_part <> '' THEN excluded.body_part "
                   "ELSE body_part END RETURNING id"));
    DXHUB_TRY(prep(upsert_instance_,
                   "INSERT INTO instances(sop_uid, series_pk, sop_class_uid, instance_number, "
                   "transfer_syntax, rows, columns, frames, charset, blob_key, size, sha256, "
                   "source, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
                   "?12, ?13, ?14) ON CONFLICT(sop_uid) DO UPDATE SET series_pk = "
                   "excluded.series_pk, sop_class_uid = excluded.sop_class_uid, instance_number "
                   "= excluded.instance_number, transfer_syntax = excluded.transfer_syntax, rows "
                   "= excluded.rows, columns = excluded.columns, frames = excluded.frames, "
                   "charset = excluded.charset, blob_key = excluded.blob_key, size = "
                   "excluded.size, sha256 = excluded.sha256, source = excluded.source, "
                   "received_at = excluded.received_at RETURNING id"));
    // Which study a series already belongs to, and how many instances other than this one it
    // holds there.
    DXHUB_TRY(
        prep(series_owner_,
             "SELECT st.study_uid, (SELECT COUNT(*) FROM instances i WHERE i.series_pk = s.id "
             "AND i.sop_uid <> ?2) FROM series s JOIN studies st ON st.id = s.study_pk "
             "WHERE s.series_uid = ?1"));
    DXHUB_TRY(prep(insert_job_,
                   "INSERT INTO ai_jobs(instance_pk, study_pk, model, version, state, "
                   "created_at) VALUES (?1, ?2, ?3, ?4, 'pending', ?5)"));
    return Ok();
  }

  // Writes one record; runs inside the writer's transaction.
  Status WriteOne(const InstanceRecord& r) {
    const auto& i = r.info;
    auto returning_id = [](Stmt& st) -> Result<int64_t> {
      auto row = st.Step();
      if (!row.ok()) {
        st.Reset();
        return row.error();
      }
      int64_t id = st.Int(0);
      st.Reset();  // also completes the statement
      return id;
    };
    // A series belongs to one study (PS3.3 C.7.3.1). An instance claiming a series that holds
    // another study's images is refused: taking the series over would move those images, perhaps
    // another patient's, into this study, and a C-MOVE of either would send the other's. A series
    // that holds only this instance (re-sent with a corrected study) may move.
    series_owner_.Bind(1, i.series_uid).Bind(2, i.sop_uid);
    auto owned = series_owner_.Step();
    if (!owned.ok()) {
      series_owner_.Reset();
      return owned.error();
    }
    const std::string owner = *owned ? series_owner_.Text(0) : std::string();
    const int64_t others = *owned ? series_owner_.Int(1) : 0;
    series_owner_.Reset();
    if (*owned && owner != i.study_uid && others > 0) {
      // The reason first: a DICOM ErrorComment keeps only 64 characters.
      std::string why = "series already belongs to study ";
      why += owner;
      why += " (SeriesInstanceUID ";
      why += i.series_uid;
      why += "); a series cannot span two studies";
      return MakeError(ErrorCode::kInvalidArgument, why);
    }

    upsert_patient_.Bind(1, i.patient_id)
        .Bind(2, i.patient_name)
        .Bind(3, i.patient_birth_date)
        .Bind(4, i.patient_sex);
    auto patient_pk = returning_id(upsert_patient_);
    if (!patient_pk.ok())
      return patient_pk.error();

    upsert_study_.Bind(1, i.study_uid)
        .Bind(2, *patient_pk)
        .Bind(3, i.study_date)
        .Bind(4, i.study_time)
        .Bind(5, i.accession_number)
        .Bind(6, i.study_description)
        .Bind(7, i.study_id)
        .Bind(8, i.referring_physician)
        .Bind(9, r.received_ms);
    auto study_pk = returning_id(upsert_study_);
    if (!study_pk.ok())
      return study_pk.error();

    upsert_series_.Bind(1, i.series_uid)
        .Bind(2, *study_pk)
        .Bind(3, i.modality)
        .Bind(4, i.series_number)
        .Bind(5, i.series_description)
        .Bind(6, i.body_part)
        .Bind(7, r.received_ms);
    auto series_pk = returning_id(upsert_series_);
    if (!series_pk.ok())
      return series_pk.error();

    upsert_instance_.Bind(1, i.sop_uid)
        .Bind(2, *series_pk)
        .Bind(3, i.sop_class_uid)
        .Bind(4, i.instance_number)
        .Bind(5, i.transfer_syntax_uid)
        .Bind(6, i.rows)
        .Bind(7, i.columns)
        .Bind(8, i.frames)
        .Bind(9, i.specific_character_set)
        .Bind(10, r.blob_key)
        .Bind(11, static_cast<int64_t>(r.size))
        .Bind(12, r.sha256)
        .Bind(13, r.source)
        .Bind(14, r.received_ms);
    auto instance_pk = returning_id(upsert_instance_);
    if (!instance_pk.ok())
      return instance_pk.error();
    for (const auto& job : r.ai_jobs) {
      insert_job_.Bind(1, *instance_pk)
          .Bind(2, *study_pk)
          .Bind(3, job.model)
          .Bind(4, job.version)
          .Bind(5, r.received_ms);
      Status st = insert_job_.Run();
      insert_job_.Reset();
      DXHUB_TRY(st);
    }
    return Ok();
  }

  struct Pending {
    std::function<Status()> op;  // runs on the writer thread, inside the batch's transaction
    std::promise<Status> done;
  };

  Status Enqueue(std::function<Status()> op) {
    std::promise<Status> done;
    auto future = done.get_future();
    {
      std::lock_guard lock(write_mu_);
      if (stopping_)
        return MakeError(ErrorCode::kUnavailable, "index is shutting down");
      queue_.push_back(Pending{std::move(op), std::move(done)});
    }
    write_cv_.notify_one();
    return future.get();
  }

  void WriterLoop() {
    for (;;) {
      std::vector<Pending> batch;
      {
        std::unique_lock lock(write_mu_);
        write_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty())
          return;
        while (!queue_.empty() && batch.size() < kMaxBatch) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      CommitBatch(batch);
    }
  }

  void SetPreCommitHook(std::function<Status()> hook) override {
    std::lock_guard lock(write_mu_);
    pre_commit_ = std::move(hook);
  }

  void CommitBatch(std::vector<Pending>& batch) {
    std::function<Status()> hook;
    {
      std::lock_guard lock(write_mu_);
      hook = pre_commit_;
    }
    if (hook) {
      Status ready = hook();
      if (!ready.ok()) {
        for (auto& p : batch)
          p.done.set_value(ready);
        return;
      }
    }
    Status begin = writer_db_.Exec("BEGIN IMMEDIATE");
    if (!begin.ok()) {
      for (auto& p : batch)
        p.done.set_value(begin);
      return;
    }
    // Each record in its own savepoint: one bad record fails alone, not its batch-mates.
    std::vector<Status> results;
    results.reserve(batch.size());
    for (auto& p : batch) {
      (void)writer_db_.Exec("SAVEPOINT rec");
      Status st = p.op();
      if (!st.ok()) {
        (void)writer_db_.Exec("ROLLBACK TO rec");
      }
      (void)writer_db_.Exec("RELEASE rec");
      results.push_back(std::move(st));
    }
    Status commit = writer_db_.Exec("COMMIT");
    if (!commit.ok()) {
      (void)writer_db_.Exec("ROLLBACK");
      spdlog::error("index: commit of {} records failed: {}", batch.size(), commit.error().message);
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i].done.set_value(commit.ok() ? std::move(results[i]) : commit);
    }
  }

  std::string path_;
  int schema_version_ = 0;

  std::unique_ptr<AiStore> ai_;
  std::unique_ptr<UserStore> users_;
  std::unique_ptr<ReviewStore> reviews_;
  std::unique_ptr<ProcessingStore> processing_;
  Db writer_db_;  // used only by the writer thread after Init()
  Stmt upsert_patient_, upsert_study_, upsert_series_, upsert_instance_, insert_job_;
  Stmt series_owner_;

  std::mutex write_mu_;
  std::condition_variable write_cv_;
  std::deque<Pending> queue_;           // guarded by write_mu_
  bool stopping_ = false;               // guarded by write_mu_
  std::function<Status()> pre_commit_;  // guarded by write_mu_
  std::thread writer_;

  std::mutex read_mu_;
  std::vector<Db> readers_;  // guarded by read_mu_
};

}  // namespace

Level LevelOf(Field field) {
  switch (field) {
    case Field::kSeriesUid:
    case Field::kModality:
    case Field::kSeriesNumber:
    case Field::kSeriesDescription:
    case Field::kBodyPart:
      return Level::kSeries;
    case Field::kSopUid:
    case Field::kSopClassUid:
    case Field::kInstanceNumber:
      return Level::kInstance;
    default:
      return Level::kStudy;
  }
}

Result<StudyIndexPtr> OpenSqliteIndex(const std::string& path) {
  auto index = std::make_unique<SqliteIndex>(path);
  DXHUB_TRY(index->Init());
  return StudyIndexPtr(std::move(index));
}

}  // namespace dxhub::store
