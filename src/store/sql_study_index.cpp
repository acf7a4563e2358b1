// StudyIndex written once over sql::Database, so SQLite and PostgreSQL run the same logic.

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/strings.h"
#include "store/sql/database.h"
#include "store/sql/postgres_database.h"
#include "store/sql/sqlite_database.h"
#include "store/sql_ai_store.h"
#include "store/sql_cluster_store.h"
#include "store/sql_deid_store.h"
#include "store/sql_institution_store.h"
#include "store/sql_peer_store.h"
#include "store/sql_processing_store.h"
#include "store/sql_reading_store.h"
#include "store/sql_review_store.h"
#include "store/sql_scope.h"
#include "store/sql_share_store.h"
#include "store/sql_user_store.h"
#include "store/study_index.h"

namespace dxhub::store {
namespace {

using sql::Stmt;
using sql::Transaction;

bool HasWildcard(const std::string& s) {
  return s.find_first_of("*?") != std::string::npos;
}

bool IsInteger(const std::string& s) {
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  if (i >= s.size() || s.size() - i > 18)
    return false;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9')
      return false;
  }
  return true;
}

std::vector<std::string> SplitModalities(const std::string& joined) {
  if (joined.empty())
    return {};
  return Split(joined, ",");  // the aggregate's output: never empty items
}

// The SQL column of each field, and how it matches.
struct Column {
  const char* name;
  bool person_name = false;  // case-insensitive matching
  bool integer = false;      // an INTEGER column matched against the query's text
};

Column ColumnOf(Field field) {
  switch (field) {
    case Field::kPatientId:
      return {"p.patient_id"};
    case Field::kPatientName:
      return {"s.patient_name", true};  // the study's copy (schema 9): no patient lookup per row
    case Field::kPatientBirthDate:
      return {"p.birth_date"};
    case Field::kPatientSex:
      return {"p.sex"};
    case Field::kStudyUid:
      return {"s.study_uid"};
    case Field::kStudyDate:
      return {"s.study_date"};
    case Field::kStudyTime:
      return {"s.study_time"};
    case Field::kAccessionNumber:
      return {"s.accession_number"};
    case Field::kStudyId:
      return {"s.study_id"};
    case Field::kStudyDescription:
      return {"s.study_description"};
    case Field::kReferringPhysician:
      return {"s.referring_physician", true};
    case Field::kModalitiesInStudy:
      return {"m.modality"};
    case Field::kSeriesUid:
      return {"se.series_uid"};
    case Field::kModality:
      return {"se.modality"};
    case Field::kSeriesNumber:
      return {"se.series_number", false, true};
    case Field::kSeriesDescription:
      return {"se.series_description"};
    case Field::kBodyPart:
      return {"se.body_part"};
    case Field::kSopUid:
      return {"i.sop_uid"};
    case Field::kSopClassUid:
      return {"i.sop_class_uid"};
    case Field::kInstanceNumber:
      return {"i.instance_number", false, true};
  }
  return {"NULL"};
}

std::string FromClause(Level level) {
  std::string from = " FROM studies s JOIN patients p ON p.id = s.patient_pk";
  if (level != Level::kStudy)
    from += " JOIN series se ON se.study_pk = s.id";
  if (level == Level::kInstance)
    from += " JOIN instances i ON i.series_pk = se.id";
  return from;
}

// A WHERE clause with its parameters (:a0, :a1, ...).
struct Where {
  std::string text;
  std::vector<std::string> args;

  std::string Arg(std::string value) {
    std::string name = sql::NumberedParam(args.size());
    args.push_back(std::move(value));
    return name;
  }
  void BindTo(Stmt& stmt) const {
    for (size_t i = 0; i < args.size(); ++i)
      stmt.Bind(sql::NumberedParam(i), args[i]);
  }
};

Result<Where> BuildWhere(const sql::Dialect& d, Level level, const Scope& scope,
                         const std::vector<Filter>& filters) {
  Where w;
  w.text = " WHERE 1=1";
  // Every listing, search and retrieve of studies, series and instances is built here.
  w.text += ScopeSqlCondition(scope, "s");
  for (const auto& f : filters) {
    if (static_cast<int>(LevelOf(f.field)) > static_cast<int>(level)) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "attribute cannot be matched at this query level");
    }
    const Column column = ColumnOf(f.field);
    // An integer attribute matched with text that is no number matches nothing (SQLite would
    // compare it as text and find nothing; PostgreSQL would refuse the statement).
    auto number = [&](const std::string& v) -> std::optional<std::string> {
      if (!column.integer)
        return v;
      if (IsInteger(v))
        return v;
      return std::nullopt;
    };
    std::string cond;
    switch (f.kind) {
      case Filter::Kind::kExact: {
        auto value = number(f.values.at(0));
        if (!value) {
          cond = "1=0";
        } else if (column.person_name) {
          cond = d.EqualsIgnoringCase(column.name, w.Arg(*value));
        } else {
          cond = std::string(column.name) + " = :" + w.Arg(*value);
        }
        break;
      }
      case Filter::Kind::kWildcard: {
        std::string target = column.integer ? "CAST(" + std::string(column.name) + " AS TEXT)"
                                            : std::string(column.name);
        if (column.person_name) {
          cond = d.LikeIgnoringCase(target, w.Arg(sql::Dialect::LikePattern(f.values.at(0))));
        } else {
          cond = d.MatchesWildcard(target, w.Arg(d.WildcardPattern(f.values.at(0))));
        }
        break;
      }
      case Filter::Kind::kRange: {
        std::vector<std::string> parts;
        const std::string low = f.values.at(0);
        const std::string high = f.values.size() > 1 ? f.values[1] : std::string();
        bool impossible = false;
        for (const auto& [bound, op] : {std::pair{low, " >= :"}, std::pair{high, " <= :"}}) {
          if (bound.empty())
            continue;
          auto value = number(bound);
          if (!value) {
            impossible = true;
            continue;
          }
          parts.push_back(std::string(column.name) + op + w.Arg(*value));
        }
        if (impossible)
          parts = {"1=0"};
        for (size_t i = 0; i < parts.size(); ++i)
          cond += (i ? " AND " : "") + parts[i];
        break;
      }
      case Filter::Kind::kList: {
        std::string items;
        for (const auto& v : f.values) {
          auto value = number(v);
          if (!value)
            continue;
          items += items.empty() ? ":" : ", :";
          items += w.Arg(*value);
        }
        cond = items.empty() ? "1=0" : std::string(column.name) + " IN (" + items + ")";
        break;
      }
    }
    if (cond.empty())
      continue;
    if (f.field == Field::kModalitiesInStudy) {
      cond.insert(0, "EXISTS (SELECT 1 FROM series m WHERE m.study_pk = s.id AND ");
      cond += ")";
    }
    w.text += " AND ";
    w.text += cond;
  }
  return w;
}

class SqlStudyIndex final : public StudyIndex {
 public:
  SqlStudyIndex(sql::DatabasePtr db, const JobLease& lease) : db_(std::move(db)) {
    const sql::Dialect& d = db_->dialect();
    study_columns_ =
        "SELECT s.study_uid, p.patient_id, p.patient_name, p.birth_date, p.sex, s.study_date, "
        "s.study_time, s.accession_number, s.study_description, s.study_id, "
        "s.referring_physician, (SELECT " +
        d.JoinDistinct("m.modality") +
        " FROM series m WHERE m.study_pk = s.id AND m.modality <> '') AS modalities, "
        "s.num_series, s.num_instances, s.received_at, s.updated_at, s.id AS study_pk, "
        "p.issuer AS issuer, (SELECT n.name FROM institutions n WHERE n.id = s.institution_pk) "
        "AS institution";
    // Later instances refresh patient/study/series attributes; an empty value never overwrites a
    // known one (some senders fill only part of the header).
    upsert_study_ =
        "INSERT INTO studies(study_uid, patient_pk, patient_name, study_date, study_time, "
        "accession_number, study_description, study_id, referring_physician, received_at, "
        "updated_at, institution_pk) VALUES (:study_uid, :patient_pk, :patient_name, :study_date, "
        ":study_time, :accession_number, :study_description, :study_id, :referring_physician, "
        ":received_at, :received_at, :institution_pk) ON CONFLICT(study_uid) DO UPDATE SET "
        "patient_pk = excluded.patient_pk, "
        // The study stays with the institution it was first attributed to.
        "institution_pk = COALESCE(studies.institution_pk, excluded.institution_pk), "
        "patient_name = excluded.patient_name, "
        "study_date = CASE WHEN excluded.study_date <> '' THEN excluded.study_date "
        "ELSE studies.study_date END, "
        "study_time = CASE WHEN excluded.study_time <> '' THEN excluded.study_time "
        "ELSE studies.study_time END, "
        "accession_number = CASE WHEN excluded.accession_number <> '' THEN "
        "excluded.accession_number ELSE studies.accession_number END, "
        "study_description = CASE WHEN excluded.study_description <> '' THEN "
        "excluded.study_description ELSE studies.study_description END, "
        "study_id = CASE WHEN excluded.study_id <> '' THEN excluded.study_id "
        "ELSE studies.study_id END, "
        "referring_physician = CASE WHEN excluded.referring_physician <> '' THEN "
        "excluded.referring_physician ELSE studies.referring_physician END, "
        "updated_at = " +
        d.Greatest("studies.updated_at", "excluded.updated_at") + ", stable_at = NULL RETURNING id";
    ai_ = MakeSqlAiStore(*db_, lease);
    users_ = MakeSqlUserStore(*db_);
    reviews_ = MakeSqlReviewStore(*db_, *ai_);
    processing_ = MakeSqlProcessingStore(*db_, lease);
    cluster_ = MakeSqlClusterStore(*db_);
    peers_ = MakeSqlPeerStore(*db_);
    institutions_ = MakeSqlInstitutionStore(*db_);
    reading_ = MakeSqlReadingStore(*db_);
    shares_ = MakeSqlShareStore(*db_);
    deid_ = MakeSqlDeidStore(*db_);
  }

  int SchemaVersion() const override { return db_->SchemaVersion(); }
  std::string Describe() const override { return db_->Describe(); }

  Result<std::optional<StoredInstance>> FindInstance(const std::string& sop_uid) override {
    std::optional<StoredInstance> found;
    Status st = db_->Read([&](Transaction& tx) -> Status {
      auto stmt = tx.Prepare(
          "SELECT sop_uid, blob_key, size, sha256 FROM instances WHERE sop_uid = :sop_uid");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("sop_uid", sop_uid);
      return stmt->ForEach([&](const Stmt& r) { found = ReadStored(r); });
    });
    if (!st.ok())
      return st.error();
    return found;
  }

  Status PutInstance(const InstanceRecord& record) override {
    return db_->Write([&](Transaction& tx) { return WriteOne(tx, record); });
  }

  Status ClearPending(const std::string& area, const std::vector<std::string>& sop_uids) override {
    if (sop_uids.empty())
      return Ok();
    return db_->Write([&](Transaction& tx) -> Status {
      auto stmt = tx.Prepare(
          "UPDATE instances SET pending_area = NULL WHERE sop_uid = :sop_uid AND "
          "pending_area = :area");
      if (!stmt.ok())
        return stmt.error();
      for (const auto& uid : sop_uids) {
        stmt->Reset();
        stmt->Bind("sop_uid", uid).Bind("area", area);
        DXHUB_TRY(stmt->Run());
      }
      return Ok();
    });
  }

  Status ForEachPending(
      const std::function<void(const std::string&, const StoredInstance&)>& fn) override {
    std::vector<std::pair<std::string, StoredInstance>> rows;
    DXHUB_TRY(db_->Read([&](Transaction& tx) -> Status {
      rows.clear();
      auto stmt = tx.Prepare(
          "SELECT pending_area, sop_uid, blob_key, size, sha256 FROM instances "
          "WHERE pending_area IS NOT NULL ORDER BY id");
      if (!stmt.ok())
        return stmt.error();
      return stmt->ForEach(
          [&](const Stmt& r) { rows.emplace_back(r.Text("pending_area"), ReadStored(r)); });
    }));
    for (const auto& [area, row] : rows)
      fn(area, row);
    return Ok();
  }

  Result<bool> RemoveUnacknowledged(const std::string& sop_uid, const std::string& area) override {
    bool removed = false;
    Status st = db_->Write([&](Transaction& tx) -> Status {
      removed = false;
      auto find = tx.Prepare(
          "SELECT i.id, i.series_pk, s.study_pk, st.patient_pk FROM instances i "
          "JOIN series s ON s.id = i.series_pk JOIN studies st ON st.id = s.study_pk "
          "WHERE i.sop_uid = :sop_uid AND i.pending_area = :area");
      if (!find.ok())
        return find.error();
      find->Bind("sop_uid", sop_uid).Bind("area", area);
      int64_t id = 0, series_pk = 0, study_pk = 0, patient_pk = 0;
      DXHUB_TRY(find->ForEach([&](const Stmt& r) {
        id = r.Int("id");
        series_pk = r.Int("series_pk");
        study_pk = r.Int("study_pk");
        patient_pk = r.Int("patient_pk");
      }));
      if (id == 0)
        return Ok();
      // Jobs, results and decisions of the instance go with it (ON DELETE CASCADE); the counts
      // follow through the triggers. Parents are removed only if nothing else arrived in them.
      const std::pair<const char*, int64_t> deletes[] = {
          {"DELETE FROM instances WHERE id = :pk", id},
          {"DELETE FROM series WHERE id = :pk AND NOT EXISTS "
           "(SELECT 1 FROM instances WHERE series_pk = :pk)",
           series_pk},
          {"DELETE FROM studies WHERE id = :pk AND NOT EXISTS "
           "(SELECT 1 FROM series WHERE study_pk = :pk)",
           study_pk},
          {"DELETE FROM patients WHERE id = :pk AND NOT EXISTS "
           "(SELECT 1 FROM studies WHERE patient_pk = :pk)",
           patient_pk},
      };
      for (const auto& [sql, pk] : deletes) {
        auto stmt = tx.Prepare(sql);
        if (!stmt.ok())
          return stmt.error();
        stmt->Bind("pk", pk);
        DXHUB_TRY(stmt->Run());
      }
      removed = true;
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return removed;
  }

  AiStore& ai() override { return *ai_; }
  UserStore& users() override { return *users_; }
  ReviewStore& reviews() override { return *reviews_; }
  ProcessingStore& processing() override { return *processing_; }
  ClusterStore& cluster() override { return *cluster_; }
  PeerStore& peers() override { return *peers_; }
  InstitutionStore& institutions() override { return *institutions_; }
  ReadingStore& reading() override { return *reading_; }
  ShareStore& shares() override { return *shares_; }
  DeidStore& deid() override { return *deid_; }

  Result<StudyPage> FindStudies(const Scope& scope, const StudyQuery& q) override {
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
    if (!q.date_from.empty() || !q.date_to.empty())
      filters.push_back({Field::kStudyDate, Filter::Kind::kRange, {q.date_from, q.date_to}});
    if (!q.modality.empty())
      filters.push_back({Field::kModalitiesInStudy, Filter::Kind::kExact, {q.modality}});
    auto where = BuildWhere(db_->dialect(), Level::kStudy, scope, filters);
    if (!where.ok())
      return where.error();

    StudyPage page;
    IndexQuery query{Level::kStudy, std::move(filters), q.limit, q.offset};
    Status st = db_->Read([&](Transaction& tx) -> Status {
      page = StudyPage{};
      auto count = tx.Prepare("SELECT COUNT(*) AS n" + FromClause(Level::kStudy) + where->text,
                              /*cache=*/false);
      if (!count.ok())
        return count.error();
      where->BindTo(*count);
      DXHUB_TRY(count->ForEach([&](const Stmt& r) { page.total = r.Int("n"); }));
      auto rows = RunQuery(tx, query, *where);
      if (!rows.ok())
        return rows.error();
      for (auto& r : *rows)
        page.studies.push_back(std::move(r.study));
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return page;
  }

  Result<std::vector<QueryRow>> Query(const Scope& scope, const IndexQuery& query) override {
    auto where = BuildWhere(db_->dialect(), query.level, scope, query.filters);
    if (!where.ok())
      return where.error();
    std::vector<QueryRow> rows;
    Status st = db_->Read([&](Transaction& tx) -> Status {
      auto found = RunQuery(tx, query, *where);
      if (!found.ok())
        return found.error();
      rows = std::move(found.value());
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return rows;
  }

  Result<std::optional<StudyDetail>> GetStudy(const Scope& scope,
                                              const std::string& study_uid) override {
    std::optional<StudyDetail> detail;
    Status st = db_->Read([&](Transaction& tx) -> Status {
      detail.reset();
      auto stmt = tx.Prepare(study_columns_ +
                                 " FROM studies s JOIN patients p ON p.id = s.patient_pk "
                                 "WHERE s.study_uid = :study_uid" +
                                 ScopeSqlCondition(scope, "s"),
                             /*cache=*/scope.everything());
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("study_uid", study_uid);
      int64_t study_pk = 0;
      DXHUB_TRY(stmt->ForEach([&](const Stmt& r) {
        detail.emplace();
        detail->study = ReadStudy(r);
        study_pk = r.Int("study_pk");
      }));
      if (!detail)
        return Ok();

      auto series = tx.Prepare(
          "SELECT id, series_uid, modality, series_number, series_description, body_part, "
          "num_instances, received_at FROM series WHERE study_pk = :study_pk "
          "ORDER BY series_number, id");
      if (!series.ok())
        return series.error();
      series->Bind("study_pk", study_pk);
      std::vector<int64_t> series_pks;
      DXHUB_TRY(series->ForEach([&](const Stmt& r) {
        series_pks.push_back(r.Int("id"));
        SeriesDetail sd;
        sd.series_uid = r.Text("series_uid");
        sd.modality = r.Text("modality");
        sd.series_number = static_cast<int>(r.Int("series_number"));
        sd.series_description = r.Text("series_description");
        sd.body_part = r.Text("body_part");
        sd.num_instances = static_cast<int>(r.Int("num_instances"));
        sd.received_ms = r.Int("received_at");
        detail->series.push_back(std::move(sd));
      }));
      auto inst = tx.Prepare(
          "SELECT sop_uid, sop_class_uid, instance_number, transfer_syntax, rows, columns, "
          "frames, size, received_at FROM instances WHERE series_pk = :series_pk "
          "ORDER BY instance_number, id");
      if (!inst.ok())
        return inst.error();
      for (size_t i = 0; i < series_pks.size(); ++i) {
        inst->Reset();
        inst->Bind("series_pk", series_pks[i]);
        DXHUB_TRY(inst->ForEach([&](const Stmt& r) {
          InstanceSummary is;
          is.sop_uid = r.Text("sop_uid");
          is.sop_class_uid = r.Text("sop_class_uid");
          is.instance_number = static_cast<int>(r.Int("instance_number"));
          is.transfer_syntax_uid = r.Text("transfer_syntax");
          is.rows = static_cast<int>(r.Int("rows"));
          is.columns = static_cast<int>(r.Int("columns"));
          is.frames = static_cast<int>(r.Int("frames"));
          is.size = static_cast<uint64_t>(r.Int("size"));
          is.received_ms = r.Int("received_at");
          detail->series[i].instances.push_back(std::move(is));
        }));
      }
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return detail;
  }

  Status ForEachInstance(const std::function<bool(const StoredInstance&)>& fn) override {
    // Pages by primary key, so a large archive is walked without one long-lived read.
    int64_t after = 0;
    for (;;) {
      std::vector<std::pair<int64_t, StoredInstance>> page;
      Status st = db_->Read([&](Transaction& tx) -> Status {
        page.clear();
        auto stmt = tx.Prepare(
            "SELECT id, sop_uid, blob_key, size, sha256 FROM instances WHERE id > :after "
            "ORDER BY id LIMIT 1000");
        if (!stmt.ok())
          return stmt.error();
        stmt->Bind("after", after);
        return stmt->ForEach([&](const Stmt& r) { page.emplace_back(r.Int("id"), ReadStored(r)); });
      });
      if (!st.ok())
        return st;
      if (page.empty())
        return Ok();
      for (const auto& [id, instance] : page) {
        if (!fn(instance))
          return Ok();
        after = id;
      }
    }
  }

  Status Ping() override {
    return db_->Read([](Transaction& tx) -> Status {
      auto stmt = tx.Prepare("SELECT 1 AS one");
      if (!stmt.ok())
        return stmt.error();
      return stmt->Run();
    });
  }

  Status LinkPatients(const PatientRef& a, const PatientRef& b) override {
    return db_->Write([&](Transaction& tx) -> Status {
      auto first = FindPatient(tx, a);
      if (!first.ok())
        return first.error();
      auto second = FindPatient(tx, b);
      if (!second.ok())
        return second.error();
      return Merge(tx, *first, *second);
    });
  }

  Result<int> AddLinkIssuer(const std::string& issuer, int64_t now_ms) override {
    if (issuer.empty() || issuer.size() > 64)
      return MakeError(ErrorCode::kInvalidArgument, "an issuer has 1-64 characters");
    int linked = 0;
    Status st = db_->Write([&](Transaction& tx) -> Status {
      linked = 0;
      auto put = tx.Prepare(
          "INSERT INTO patient_link_issuers(issuer, created_at) VALUES (:issuer, :now) ON "
          "CONFLICT(issuer) DO NOTHING");
      if (!put.ok())
        return put.error();
      put->Bind("issuer", issuer).Bind("now", now_ms);
      DXHUB_TRY(put->Run());
      // The patients stored already: each pair that shares an identifier of this issuer.
      auto pairs = tx.Prepare(
          "SELECT a.patient_pk AS a, b.patient_pk AS b FROM patient_other_ids a JOIN "
          "patient_other_ids b ON b.issuer = a.issuer AND b.other_id = a.other_id AND "
          "b.patient_pk > a.patient_pk WHERE a.issuer = :issuer ORDER BY a.patient_pk, "
          "b.patient_pk");
      if (!pairs.ok())
        return pairs.error();
      pairs->Bind("issuer", issuer);
      std::vector<std::pair<int64_t, int64_t>> found;
      DXHUB_TRY(pairs->ForEach([&](const Stmt& r) { found.emplace_back(r.Int("a"), r.Int("b")); }));
      for (const auto& [a, b] : found) {
        auto pa = PatientById(tx, a);
        auto pb = PatientById(tx, b);
        if (!pa.ok() || !pb.ok())
          return pa.ok() ? pb.error() : pa.error();
        if (pa->person != pb->person) {
          DXHUB_TRY(Merge(tx, *pa, *pb));
          ++linked;
        }
      }
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return linked;
  }

  Result<std::vector<std::string>> LinkIssuers() override {
    std::vector<std::string> out;
    Status st = db_->Read([&](Transaction& tx) -> Status {
      out.clear();
      auto stmt = tx.Prepare("SELECT issuer FROM patient_link_issuers ORDER BY issuer");
      if (!stmt.ok())
        return stmt.error();
      return stmt->ForEach([&](const Stmt& r) { out.push_back(r.Text("issuer")); });
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Status UnlinkPatient(const PatientRef& patient) override {
    return db_->Write([&](Transaction& tx) -> Status {
      auto found = FindPatient(tx, patient);
      if (!found.ok())
        return found.error();
      auto unlink = tx.Prepare("UPDATE patients SET person_pk = NULL WHERE id = :id");
      if (!unlink.ok())
        return unlink.error();
      unlink->Bind("id", found->id);
      DXHUB_TRY(unlink->Run());
      // The rest of the group is renamed after its smallest member, so the label never is the
      // id of a patient outside it (whose own group of one it would otherwise join), and a
      // group of one is no group.
      auto rest = tx.Prepare(
          "SELECT COUNT(*) AS n, COALESCE(MIN(id), 0) AS first FROM patients WHERE person_pk = "
          ":old");
      if (!rest.ok())
        return rest.error();
      rest->Bind("old", found->person);
      int64_t members = 0, first = 0;
      DXHUB_TRY(rest->ForEach([&](const Stmt& r) {
        members = r.Int("n");
        first = r.Int("first");
      }));
      auto relabel = tx.Prepare("UPDATE patients SET person_pk = :label WHERE person_pk = :old");
      if (!relabel.ok())
        return relabel.error();
      relabel->Bind("old", found->person);
      if (members > 1)
        relabel->Bind("label", first);
      else
        relabel->BindNull("label");
      return relabel->Run();
    });
  }

  Result<std::vector<StudySummary>> PersonHistory(const Scope& scope,
                                                  const std::string& study_uid) override {
    std::vector<StudySummary> out;
    Status st = db_->Read([&](Transaction& tx) -> Status {
      out.clear();
      const std::string in_scope = ScopeSqlCondition(scope, "s");
      // The person of the study's patient (its own id when linked to nobody), then every
      // study of a patient of that person; both in the caller's scope.
      auto stmt = tx.Prepare(
          study_columns_ +
              " FROM studies s JOIN patients p ON p.id = s.patient_pk WHERE COALESCE(p.person_pk, "
              "p.id) = (SELECT COALESCE(p0.person_pk, p0.id) FROM studies s0 JOIN patients p0 ON "
              "p0.id = s0.patient_pk WHERE s0.study_uid = :study_uid" +
              ScopeSqlCondition(scope, "s0") + ")" + in_scope +
              " ORDER BY s.study_date DESC, s.study_time DESC, s.id DESC",
          /*cache=*/scope.everything());
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("study_uid", study_uid);
      return stmt->ForEach([&](const Stmt& r) { out.push_back(ReadStudy(r)); });
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Result<IndexCounts> Counts(const Scope& scope) override {
    IndexCounts counts;
    Status st = db_->Read([&](Transaction& tx) -> Status {
      // An institution's counts come from its studies' own (trigger-kept) counts.
      auto stmt = tx.Prepare(
          scope.everything()
              ? "SELECT (SELECT COUNT(*) FROM patients) AS patients, (SELECT COUNT(*) FROM "
                "studies) AS studies, (SELECT COUNT(*) FROM series) AS series, (SELECT COUNT(*) "
                "FROM instances) AS instances"
              : "SELECT COUNT(DISTINCT s.patient_pk) AS patients, COUNT(*) AS studies, "
                "COALESCE(SUM(s.num_series), 0) AS series, COALESCE(SUM(s.num_instances), 0) AS "
                "instances FROM studies s WHERE 1=1" +
                    ScopeSqlCondition(scope, "s"),
          /*cache=*/scope.everything());
      if (!stmt.ok())
        return stmt.error();
      return stmt->ForEach([&](const Stmt& r) {
        counts =
            IndexCounts{r.Int("patients"), r.Int("studies"), r.Int("series"), r.Int("instances")};
      });
    });
    if (!st.ok())
      return st.error();
    return counts;
  }

 private:
  struct PatientRow {
    int64_t id = 0;
    int64_t person = 0;  // its group's label, or its own id when linked to nobody
  };

  static Result<PatientRow> FindPatient(Transaction& tx, const PatientRef& ref) {
    auto stmt = tx.Prepare(
        "SELECT id, COALESCE(person_pk, id) AS person FROM patients WHERE patient_id = :id AND "
        "issuer = :issuer");
    if (!stmt.ok())
      return stmt.error();
    stmt->Bind("id", ref.patient_id).Bind("issuer", ref.issuer);
    PatientRow row;
    int matches = 0;
    DXHUB_TRY(stmt->ForEach([&](const Stmt& r) {
      ++matches;
      row = {r.Int("id"), r.Int("person")};
    }));
    if (matches == 0) {
      return MakeError(
          ErrorCode::kNotFound,
          "no patient " + ref.patient_id + (ref.issuer.empty() ? "" : " issued by " + ref.issuer));
    }
    if (matches > 1) {
      // Anonymised patients without an ID are told apart by name only: not linkable by ID.
      return MakeError(ErrorCode::kInvalidArgument,
                       "patient ID '" + ref.patient_id + "' names several patients");
    }
    return row;
  }

  static Result<PatientRow> PatientById(Transaction& tx, int64_t id) {
    auto stmt =
        tx.Prepare("SELECT id, COALESCE(person_pk, id) AS person FROM patients WHERE id = :id");
    if (!stmt.ok())
      return stmt.error();
    stmt->Bind("id", id);
    std::optional<PatientRow> row;
    DXHUB_TRY(stmt->ForEach([&](const Stmt& r) {
      row = PatientRow{r.Int("id"), r.Int("person")};
    }));
    if (!row)
      return MakeError(ErrorCode::kNotFound, "no such patient");
    return *row;
  }

  // Both groups (a patient linked to nobody is a group of one) become one, named by the
  // smallest id among their labels.
  static Status Merge(Transaction& tx, const PatientRow& a, const PatientRow& b) {
    const int64_t person = std::min(a.person, b.person);
    auto link = tx.Prepare(
        "UPDATE patients SET person_pk = :person WHERE id IN (:a, :b) OR person_pk IN (:pa, "
        ":pb)");
    if (!link.ok())
      return link.error();
    link->Bind("person", person)
        .Bind("a", a.id)
        .Bind("b", b.id)
        .Bind("pa", a.person)
        .Bind("pb", b.person);
    return link->Run();
  }

  // Records the patient's other identifiers; a new one of an issuer that identifies the person
  // links the patient with every other patient who carries it. Repeats of the sequence (every
  // image of a study has it) change nothing and cost one conflicting insert each.
  static Status RecordOtherIds(Transaction& tx, int64_t patient_pk,
                               const std::vector<dicom::OtherPatientId>& others) {
    auto put = tx.Prepare(
        "INSERT INTO patient_other_ids(patient_pk, issuer, other_id) VALUES (:pk, :issuer, :id) "
        "ON CONFLICT DO NOTHING");
    if (!put.ok())
      return put.error();
    std::vector<const dicom::OtherPatientId*> fresh;
    for (const auto& o : others) {
      put->Reset();
      put->Bind("pk", patient_pk).Bind("issuer", o.issuer).Bind("id", o.patient_id);
      DXHUB_TRY(put->Run());
      if (put->Changes() > 0)
        fresh.push_back(&o);
    }
    if (fresh.empty())
      return Ok();
    auto same = tx.Prepare(
        "SELECT x.patient_pk AS pk FROM patient_other_ids x JOIN patient_link_issuers r ON "
        "r.issuer = x.issuer WHERE x.issuer = :issuer AND x.other_id = :id AND x.patient_pk <> "
        ":pk");
    if (!same.ok())
      return same.error();
    for (const auto* o : fresh) {
      same->Reset();
      same->Bind("issuer", o->issuer).Bind("id", o->patient_id).Bind("pk", patient_pk);
      std::vector<int64_t> matches;
      DXHUB_TRY(same->ForEach([&](const Stmt& r) { matches.push_back(r.Int("pk")); }));
      for (int64_t other : matches) {
        auto me = PatientById(tx, patient_pk);
        auto them = PatientById(tx, other);
        if (!me.ok() || !them.ok())
          return me.ok() ? them.error() : me.error();
        if (me->person != them->person)
          DXHUB_TRY(Merge(tx, *me, *them));
      }
    }
    return Ok();
  }

  static StoredInstance ReadStored(const Stmt& r) {
    return StoredInstance{r.Text("sop_uid"), r.Text("blob_key"),
                          static_cast<uint64_t>(r.Int("size")), r.Text("sha256")};
  }

  static StudySummary ReadStudy(const Stmt& r) {
    StudySummary s;
    s.study_uid = r.Text("study_uid");
    s.patient_id = r.Text("patient_id");
    s.patient_name = r.Text("patient_name");
    s.patient_birth_date = r.Text("birth_date");
    s.patient_sex = r.Text("sex");
    s.study_date = r.Text("study_date");
    s.study_time = r.Text("study_time");
    s.accession_number = r.Text("accession_number");
    s.study_description = r.Text("study_description");
    s.study_id = r.Text("study_id");
    s.referring_physician = r.Text("referring_physician");
    s.modalities = SplitModalities(r.Text("modalities"));
    s.num_series = static_cast<int>(r.Int("num_series"));
    s.num_instances = static_cast<int>(r.Int("num_instances"));
    s.received_ms = r.Int("received_at");
    s.updated_ms = r.Int("updated_at");
    s.issuer_of_patient_id = r.Text("issuer");
    s.institution = r.IsNull("institution") ? std::string() : r.Text("institution");
    return s;
  }

  Result<std::vector<QueryRow>> RunQuery(Transaction& tx, const IndexQuery& q, const Where& where) {
    std::string text = study_columns_;
    if (q.level != Level::kStudy) {
      text +=
          ", se.series_uid, se.modality, se.series_number, se.series_description, se.body_part, "
          "se.num_instances AS series_instances, se.received_at AS series_received_at";
    }
    if (q.level == Level::kInstance) {
      text +=
          ", i.sop_uid, i.sop_class_uid, i.instance_number, i.transfer_syntax, i.rows, "
          "i.columns, i.frames, i.size, i.received_at AS instance_received_at, i.blob_key, "
          "i.sha256";
    }
    text += FromClause(q.level) + where.text;
    switch (q.level) {
      case Level::kStudy:
        text += " ORDER BY s.study_date DESC, s.study_time DESC, s.id DESC";
        break;
      case Level::kSeries:
        text += " ORDER BY s.id, se.series_number, se.id";
        break;
      case Level::kInstance:
        text += " ORDER BY s.id, se.series_number, se.id, i.instance_number, i.id";
        break;
    }
    text += " LIMIT :limit OFFSET :offset";
    auto stmt = tx.Prepare(text, /*cache=*/false);
    if (!stmt.ok())
      return stmt.error();
    where.BindTo(*stmt);
    stmt->Bind("limit", q.limit).Bind("offset", q.offset);
    std::vector<QueryRow> rows;
    DXHUB_TRY(stmt->ForEach([&](const Stmt& r) {
      QueryRow row;
      row.study = ReadStudy(r);
      if (q.level != Level::kStudy) {
        row.series.series_uid = r.Text("series_uid");
        row.series.modality = r.Text("modality");
        row.series.series_number = static_cast<int>(r.Int("series_number"));
        row.series.series_description = r.Text("series_description");
        row.series.body_part = r.Text("body_part");
        row.series.num_instances = static_cast<int>(r.Int("series_instances"));
        row.series.received_ms = r.Int("series_received_at");
      }
      if (q.level == Level::kInstance) {
        row.instance.sop_uid = r.Text("sop_uid");
        row.instance.sop_class_uid = r.Text("sop_class_uid");
        row.instance.instance_number = static_cast<int>(r.Int("instance_number"));
        row.instance.transfer_syntax_uid = r.Text("transfer_syntax");
        row.instance.rows = static_cast<int>(r.Int("rows"));
        row.instance.columns = static_cast<int>(r.Int("columns"));
        row.instance.frames = static_cast<int>(r.Int("frames"));
        row.instance.size = static_cast<uint64_t>(r.Int("size"));
        row.instance.received_ms = r.Int("instance_received_at");
        row.blob_key = r.Text("blob_key");
        row.instance.sha256 = r.Text("sha256");
      }
      rows.push_back(std::move(row));
    }));
    return rows;
  }

  // Runs `stmt` and returns the `id` of its one RETURNING row.
  static Result<int64_t> ReturningId(Stmt& stmt) {
    int64_t id = 0;
    DXHUB_TRY(stmt.ForEach([&](const Stmt& r) { id = r.Int("id"); }));
    if (id == 0)
      return MakeError(ErrorCode::kDatabase, "upsert returned no row");
    return id;
  }

  // The patient's key: the PatientID, or for anonymised data without one the name (so unrelated
  // anonymous patients are not merged), then the issuer after a backslash, which no LO value
  // holds. Without an issuer the key is what schemas before 11 stored.
  static std::string PatientKey(const std::string& id, const std::string& name,
                                const std::string& issuer) {
    std::string key = id.empty() ? "~" + name : id;
    if (!issuer.empty()) {
      key += '\\';
      key += issuer;
    }
    return key;
  }

  struct Attributed {
    int64_t id = 0;  // 0: no institution
    std::string issuer;
  };

  // Which institution an instance's study belongs to: the one it already has (so a later image,
  // a derived series or a re-send from elsewhere neither moves the study nor gives its patient
  // another issuer), else the first rule that names one: the explicit institution, the calling
  // AE title (from its address, or any), then the dataset's InstitutionName. A sender of one
  // institution may not add images to another's study unless it reads for that institution
  // (kForbidden): knowing a study's UID must not be enough to write into it.
  static Result<Attributed> Attribute(Transaction& tx, const std::string& study_uid,
                                      const Attribution& a, const std::string& institution_name) {
    auto pick = [&](std::string_view sql, auto bind) -> Result<Attributed> {
      Attributed found;
      auto stmt = tx.Prepare(sql);
      if (!stmt.ok())
        return stmt.error();
      bind(*stmt);
      DXHUB_TRY(stmt->ForEach([&](const Stmt& row) {
        found.id = row.Int("id");
        found.issuer = row.Text("issuer");
      }));
      return found;
    };
    auto study = pick(
        "SELECT n.id AS id, n.issuer AS issuer FROM studies s JOIN institutions n ON "
        "n.id = s.institution_pk WHERE s.study_uid = :study_uid",
        [&](Stmt& st) { st.Bind("study_uid", study_uid); });
    if (!study.ok())
      return study.error();
    Attributed sender;
    if (a.institution != 0) {
      auto found = pick("SELECT id, issuer FROM institutions WHERE id = :id",
                        [&](Stmt& st) { st.Bind("id", a.institution); });
      if (!found.ok())
        return found.error();
      sender = std::move(found.value());
    }
    if (sender.id == 0 && !a.calling_aet.empty()) {
      auto found = pick(
          "SELECT n.id AS id, n.issuer AS issuer FROM institution_senders x JOIN "
          "institutions n ON n.id = x.institution_pk WHERE x.aet = :aet AND "
          "(x.host = '' OR x.host = :ip) ORDER BY x.host DESC LIMIT 1",
          [&](Stmt& st) { st.Bind("aet", a.calling_aet).Bind("ip", a.peer_ip); });
      if (!found.ok())
        return found.error();
      sender = std::move(found.value());
    }
    if (study->id != 0) {
      if (sender.id != 0 && sender.id != study->id) {
        auto reads = tx.Prepare(
            "SELECT 1 AS one FROM institution_reads_for WHERE reader_pk = :reader AND "
            "served_pk = :served");
        if (!reads.ok())
          return reads.error();
        reads->Bind("reader", sender.id).Bind("served", study->id);
        bool allowed = false;
        DXHUB_TRY(reads->ForEach([&](const Stmt&) { allowed = true; }));
        if (!allowed) {
          return MakeError(
              ErrorCode::kForbidden,
              "study belongs to another institution (StudyInstanceUID " + study_uid + ")");
        }
      }
      return study;
    }
    if (sender.id != 0 || institution_name.empty())
      return sender;
    const std::string lower = AsciiLower(institution_name);
    return pick(
        "SELECT n.id AS id, n.issuer AS issuer FROM institution_names x JOIN "
        "institutions n ON n.id = x.institution_pk WHERE x.name = :name",
        [&](Stmt& st) { st.Bind("name", lower); });
  }

  // Writes one record inside a write transaction.
  Status WriteOne(Transaction& tx, const InstanceRecord& r) {
    const auto& i = r.info;
    // A series belongs to one study (PS3.3 C.7.3.1). An instance claiming a series that holds
    // another study's images is refused: taking the series over would move those images, perhaps
    // another patient's, into this study, and a C-MOVE of either would send the other's. A series
    // that holds only this instance (re-sent with a corrected study) may move. EXISTS, not a
    // count: a count would read the whole series for each of its images (quadratic for a
    // 2,000-slice CT).
    auto owner_of = tx.Prepare(
        "SELECT st.study_uid, CASE WHEN EXISTS (SELECT 1 FROM instances i WHERE i.series_pk = "
        "s.id AND i.sop_uid <> :sop_uid) THEN 1 ELSE 0 END AS others FROM series s JOIN studies "
        "st ON st.id = s.study_pk WHERE s.series_uid = :series_uid");
    if (!owner_of.ok())
      return owner_of.error();
    owner_of->Bind("series_uid", i.series_uid).Bind("sop_uid", i.sop_uid);
    std::string owner;
    int64_t others = 0;
    DXHUB_TRY(owner_of->ForEach([&](const Stmt& row) {
      owner = row.Text("study_uid");
      others = row.Int("others");
    }));
    if (!owner.empty() && owner != i.study_uid && others > 0) {
      // The reason first: a DICOM ErrorComment keeps only 64 characters.
      std::string why = "series already belongs to study ";
      why += owner;
      why += " (SeriesInstanceUID ";
      why += i.series_uid;
      why += "); a series cannot span two studies";
      return MakeError(ErrorCode::kInvalidArgument, why);
    }

    auto institution = Attribute(tx, i.study_uid, r.attribution, i.institution_name);
    if (!institution.ok())
      return institution.error();
    // The patient is (PatientID, IssuerOfPatientID): an institution's issuer stands in for the
    // one its sender left out, so two clinics' "P001" stay two patients.
    const std::string issuer =
        !i.issuer_of_patient_id.empty() ? i.issuer_of_patient_id : institution->issuer;
    auto patient = tx.Prepare(
        "INSERT INTO patients(patient_key, patient_id, patient_name, birth_date, sex, issuer) "
        "VALUES (:patient_key, :patient_id, :patient_name, :birth_date, :sex, :issuer) "
        "ON CONFLICT(patient_key) DO UPDATE SET "
        "patient_name = CASE WHEN excluded.patient_name <> '' THEN excluded.patient_name "
        "ELSE patients.patient_name END, "
        "birth_date = CASE WHEN excluded.birth_date <> '' THEN excluded.birth_date "
        "ELSE patients.birth_date END, "
        "sex = CASE WHEN excluded.sex <> '' THEN excluded.sex ELSE patients.sex END "
        "RETURNING id, patient_name");
    if (!patient.ok())
      return patient.error();
    patient->Bind("patient_key", PatientKey(i.patient_id, i.patient_name, issuer))
        .Bind("issuer", issuer)
        .Bind("patient_id", i.patient_id)
        .Bind("patient_name", i.patient_name)
        .Bind("birth_date", i.patient_birth_date)
        .Bind("sex", i.patient_sex);
    std::optional<int64_t> patient_pk;
    std::string patient_name;
    DXHUB_TRY(patient->ForEach([&](const Stmt& row) {
      patient_pk = row.Int("id");
      patient_name = row.Text("patient_name");
    }));
    if (!patient_pk)
      return MakeError(ErrorCode::kDatabase, "patient upsert returned no row");
    if (!i.other_patient_ids.empty())
      DXHUB_TRY(RecordOtherIds(tx, *patient_pk, i.other_patient_ids));

    auto study = tx.Prepare(upsert_study_);
    if (!study.ok())
      return study.error();
    study->Bind("study_uid", i.study_uid)
        .Bind("patient_pk", *patient_pk)
        .Bind("patient_name", patient_name)
        .Bind("study_date", i.study_date)
        .Bind("study_time", i.study_time)
        .Bind("accession_number", i.accession_number)
        .Bind("study_description", i.study_description)
        .Bind("study_id", i.study_id)
        .Bind("referring_physician", i.referring_physician)
        .Bind("received_at", r.received_ms);
    if (institution->id == 0)
      study->BindNull("institution_pk");
    else
      study->Bind("institution_pk", institution->id);
    auto study_pk = ReturningId(*study);
    if (!study_pk.ok())
      return study_pk.error();
    if (!i.patient_name.empty()) {
      // The name may just have changed (a corrected re-send): the patient's other studies follow,
      // so a name search finds all of them. Equal copies are only read (studies_patient).
      auto others = tx.Prepare(
          "UPDATE studies SET patient_name = :patient_name WHERE patient_pk = :patient_pk AND "
          "patient_name <> :patient_name");
      if (!others.ok())
        return others.error();
      others->Bind("patient_name", patient_name).Bind("patient_pk", *patient_pk);
      DXHUB_TRY(others->Run());
    }

    auto series = tx.Prepare(
        "INSERT INTO series(series_uid, study_pk, modality, series_number, series_description, "
        "body_part, received_at) VALUES (:series_uid, :study_pk, :modality, :series_number, "
        ":series_description, :body_part, :received_at) ON CONFLICT(series_uid) DO UPDATE SET "
        "study_pk = excluded.study_pk, "
        "modality = CASE WHEN excluded.modality <> '' THEN excluded.modality "
        "ELSE series.modality END, "
        "series_description = CASE WHEN excluded.series_description <> '' THEN "
        "excluded.series_description ELSE series.series_description END, "
        "body_part = CASE WHEN excluded.body_part <> '' THEN excluded.body_part "
        "ELSE series.body_part END RETURNING id");
    if (!series.ok())
      return series.error();
    series->Bind("series_uid", i.series_uid)
        .Bind("study_pk", *study_pk)
        .Bind("modality", i.modality)
        .Bind("series_number", i.series_number)
        .Bind("series_description", i.series_description)
        .Bind("body_part", i.body_part)
        .Bind("received_at", r.received_ms);
    auto series_pk = ReturningId(*series);
    if (!series_pk.ok())
      return series_pk.error();

    auto instance = tx.Prepare(
        "INSERT INTO instances(sop_uid, series_pk, sop_class_uid, instance_number, "
        "transfer_syntax, rows, columns, frames, charset, blob_key, size, sha256, source, "
        "received_at, pending_area) VALUES (:sop_uid, :series_pk, :sop_class_uid, "
        ":instance_number, :transfer_syntax, :rows, :columns, :frames, :charset, :blob_key, "
        ":size, :sha256, :source, :received_at, :pending_area) ON CONFLICT(sop_uid) DO UPDATE SET "
        "series_pk = excluded.series_pk, sop_class_uid = excluded.sop_class_uid, "
        "instance_number = excluded.instance_number, transfer_syntax = excluded.transfer_syntax, "
        "rows = excluded.rows, columns = excluded.columns, frames = excluded.frames, "
        "charset = excluded.charset, blob_key = excluded.blob_key, size = excluded.size, "
        "sha256 = excluded.sha256, source = excluded.source, received_at = excluded.received_at, "
        "pending_area = excluded.pending_area RETURNING id");
    if (!instance.ok())
      return instance.error();
    instance->Bind("sop_uid", i.sop_uid)
        .Bind("series_pk", *series_pk)
        .Bind("sop_class_uid", i.sop_class_uid)
        .Bind("instance_number", i.instance_number)
        .Bind("transfer_syntax", i.transfer_syntax_uid)
        .Bind("rows", i.rows)
        .Bind("columns", i.columns)
        .Bind("frames", i.frames)
        .Bind("charset", i.specific_character_set)
        .Bind("blob_key", r.blob_key)
        .Bind("size", static_cast<int64_t>(r.size))
        .Bind("sha256", r.sha256)
        .Bind("source", r.source)
        .Bind("received_at", r.received_ms);
    if (r.pending_area.empty())
      instance->BindNull("pending_area");
    else
      instance->Bind("pending_area", r.pending_area);
    auto instance_pk = ReturningId(*instance);
    if (!instance_pk.ok())
      return instance_pk.error();
    return EnqueueAiJobs(tx, *instance_pk, *study_pk, r.ai_jobs, r.received_ms);
  }

  sql::DatabasePtr db_;
  std::string study_columns_;
  std::string upsert_study_;
  std::unique_ptr<AiStore> ai_;
  std::unique_ptr<UserStore> users_;
  std::unique_ptr<ReviewStore> reviews_;
  std::unique_ptr<ProcessingStore> processing_;
  std::unique_ptr<ClusterStore> cluster_;
  std::unique_ptr<PeerStore> peers_;
  std::unique_ptr<InstitutionStore> institutions_;
  std::unique_ptr<ReadingStore> reading_;
  std::unique_ptr<ShareStore> shares_;
  std::unique_ptr<DeidStore> deid_;
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

Result<StudyIndexPtr> OpenIndex(sql::DatabasePtr db, const JobLease& lease) {
  return StudyIndexPtr(std::make_unique<SqlStudyIndex>(std::move(db), lease));
}

Result<StudyIndexPtr> OpenSqliteIndex(const std::string& path, const JobLease& lease) {
  auto db = sql::OpenSqlite(path);
  if (!db.ok())
    return db.error();
  return OpenIndex(std::move(db.value()), lease);
}

Result<StudyIndexPtr> OpenPostgresIndex(const sql::PostgresOptions& options,
                                        const JobLease& lease) {
  auto db = sql::OpenPostgres(options);
  if (!db.ok())
    return db.error();
  spdlog::info("index: {} (schema {})", db.value()->Describe(), db.value()->SchemaVersion());
  return OpenIndex(std::move(db.value()), lease);
}

}  // namespace dxhub::store
