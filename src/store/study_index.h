#pragma once
// The index of everything archived: patient / study / series / instance. One interface and one
// implementation (sql_study_index.cpp) over either engine: SQLite embedded, PostgreSQL shared by
// several dxhub nodes.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "dicom/instance.h"
#include "store/ai_store.h"
#include "store/cluster_store.h"
#include "store/deid_store.h"
#include "store/institution_store.h"
#include "store/job_lease.h"
#include "store/peer_store.h"
#include "store/processing_store.h"
#include "store/reading_store.h"
#include "store/review_store.h"
#include "store/scope.h"
#include "store/share_store.h"
#include "store/sql/postgres_database.h"
#include "store/user_store.h"

namespace dxhub::store {

/// One instance as the archive records it.
struct InstanceRecord {
  dicom::InstanceInfo info;
  std::string blob_key;  // where the bytes live in the BlobStore
  uint64_t size = 0;
  std::string sha256;  // of the stored bytes
  std::string source;  // calling AE title, "import", ...
  int64_t received_ms = 0;
  /// AI jobs to queue in the same transaction (the models that apply to this instance).
  std::vector<AiJobSpec> ai_jobs;
  /// Non-empty while the blob may not be durable yet: the temp area (of a live process) that
  /// holds its bytes. Recovery checks such rows when their area is dead (store/archive.h).
  std::string pending_area;
  /// Whom a new study is attributed to (store/institution_store.h); the study keeps the
  /// institution of its first instance.
  Attribution attribution;
};

/// The storage facts about an instance (what verify and duplicate handling need).
struct StoredInstance {
  std::string sop_uid;
  std::string blob_key;
  uint64_t size = 0;
  std::string sha256;
};

struct StudyQuery {
  std::string patient_id;    // exact, or with * / ? wildcards
  std::string patient_name;  // case-insensitive, * / ? wildcards
  std::string date_from;     // YYYYMMDD inclusive, empty = open
  std::string date_to;       // YYYYMMDD inclusive, empty = open
  std::string modality;      // any series with this modality
  std::string accession_number;
  int limit = 50;
  int offset = 0;
};

struct StudySummary {
  std::string study_uid;
  std::string patient_id;
  std::string patient_name;
  std::string patient_birth_date;
  std::string patient_sex;
  std::string study_date;
  std::string study_time;
  std::string accession_number;
  std::string study_description;
  std::string study_id;
  std::string referring_physician;
  std::vector<std::string> modalities;
  int num_series = 0;
  int num_instances = 0;
  int64_t received_ms = 0;
  int64_t updated_ms = 0;
  std::string issuer_of_patient_id;  // the patient's, as sent or given by the institution
  std::string institution;           // the name of the institution it belongs to; "": none
};

/// A patient as the region knows them: PatientID and the issuer of it (store/institution_store.h).
struct PatientRef {
  std::string patient_id;
  std::string issuer;
};

struct StudyPage {
  int64_t total = 0;  // matches before paging
  std::vector<StudySummary> studies;
};

struct InstanceSummary {
  std::string sop_uid;
  std::string sop_class_uid;
  int instance_number = 0;
  std::string transfer_syntax_uid;
  int rows = 0;
  int columns = 0;
  int frames = 0;
  uint64_t size = 0;
  int64_t received_ms = 0;
  std::string sha256;  // of the stored bytes; filled by Query (a key for caches of derived data)
};

struct SeriesDetail {
  std::string series_uid;
  std::string modality;
  int series_number = 0;
  std::string series_description;
  std::string body_part;
  int num_instances = 0;
  int64_t received_ms = 0;
  std::vector<InstanceSummary> instances;
};

struct StudyDetail {
  StudySummary study;
  std::vector<SeriesDetail> series;
};

/// The levels of the DICOM information model the index answers queries at.
enum class Level { kStudy, kSeries, kInstance };

/// The indexed attributes a query can match on (QIDO-RS and C-FIND keys).
enum class Field {
  kPatientId,
  kPatientName,
  kPatientBirthDate,
  kPatientSex,
  kStudyUid,
  kStudyDate,
  kStudyTime,
  kAccessionNumber,
  kStudyId,
  kStudyDescription,
  kReferringPhysician,
  kModalitiesInStudy,
  kSeriesUid,
  kModality,
  kSeriesNumber,
  kSeriesDescription,
  kBodyPart,
  kSopUid,
  kSopClassUid,
  kInstanceNumber,
};

/// The level an attribute belongs to (patient attributes count as study level).
Level LevelOf(Field field);

/// One matching condition, already parsed from the protocol's syntax.
struct Filter {
  enum class Kind {
    kExact,     // values[0]; person names compare case-insensitively
    kWildcard,  // values[0] with '*' and '?'
    kRange,     // values[0] = low, values[1] = high; either may be empty (open)
    kList,      // any of values (UID lists)
  };
  Field field = Field::kStudyUid;
  Kind kind = Kind::kExact;
  std::vector<std::string> values;
};

struct IndexQuery {
  Level level = Level::kStudy;
  std::vector<Filter> filters;  // all must match
  int limit = 1000;
  int offset = 0;
};

/// One match. `series` is filled for series and instance queries, `instance` and `blob_key` for
/// instance queries.
struct QueryRow {
  StudySummary study;
  SeriesDetail series;  // without its instance list
  InstanceSummary instance;
  std::string blob_key;
};

struct IndexCounts {
  int64_t patients = 0;
  int64_t studies = 0;
  int64_t series = 0;
  int64_t instances = 0;
};

/// Thread-safe. Writes are durable when PutInstance returns Ok.
class StudyIndex {
 public:
  virtual ~StudyIndex() = default;

  /// Looks an instance up by SOP Instance UID.
  virtual Result<std::optional<StoredInstance>> FindInstance(const std::string& sop_uid) = 0;

  /// Inserts the instance (creating its patient/study/series as needed) or replaces the row of
  /// the same SOP Instance UID. Durable (committed and synced) on Ok.
  virtual Status PutInstance(const InstanceRecord& record) = 0;

  /// Records that the blobs of these instances (indexed with this `area` as pending_area) are
  /// durable, so recovery no longer checks them. Rows of another area are left alone.
  virtual Status ClearPending(const std::string& area,
                              const std::vector<std::string>& sop_uids) = 0;
  /// Calls `fn(area, instance)` for every row still marked pending (for recovery).
  virtual Status ForEachPending(
      const std::function<void(const std::string& area, const StoredInstance&)>& fn) = 0;
  /// Deletes a row indexed as pending in `area` whose bytes never became durable (so it was
  /// never acknowledged), with its jobs, and its series, study and patient where it was their
  /// last. A row that is no longer pending in `area` is kept: Ok(false).
  virtual Result<bool> RemoveUnacknowledged(const std::string& sop_uid,
                                            const std::string& area) = 0;

  /// The reads of patient data take the caller's scope first: only studies in it are found.
  virtual Result<StudyPage> FindStudies(const Scope& scope, const StudyQuery& query) = 0;

  /// Matches at any level, in a stable order (studies newest first; series and instances by
  /// number). A filter on an attribute below the query level is an kInvalidArgument error.
  virtual Result<std::vector<QueryRow>> Query(const Scope& scope, const IndexQuery& query) = 0;
  virtual Result<std::optional<StudyDetail>> GetStudy(const Scope& scope,
                                                      const std::string& study_uid) = 0;

  /// The regional patient index: records that two patients (of any institutions) are one
  /// person; links are transitive (linking into a group joins the group). kNotFound if either
  /// patient is unknown.
  virtual Status LinkPatients(const PatientRef& a, const PatientRef& b) = 0;
  /// Takes a patient out of its person's group (a link made in error); kNotFound if unknown.
  virtual Status UnlinkPatient(const PatientRef& patient) = 0;
  /// The rule that links identities by themselves: patients whose OtherPatientIDsSequence
  /// carries the same identifier of `issuer` (a national ID) are one person, those stored
  /// already (linked now) and those to come (linked as they arrive). Returns how many patients
  /// were linked now.
  virtual Result<int> AddLinkIssuer(const std::string& issuer, int64_t now_ms) = 0;
  virtual Result<std::vector<std::string>> LinkIssuers() = 0;
  /// The studies of the person whose patient has `study_uid`, under every linked identity, that
  /// `scope` sees, newest first (the study itself included); empty when `scope` does not see
  /// `study_uid`.
  virtual Result<std::vector<StudySummary>> PersonHistory(const Scope& scope,
                                                          const std::string& study_uid) = 0;

  /// Calls `fn` for every indexed instance (for verify). Stops early if `fn` returns false.
  virtual Status ForEachInstance(const std::function<bool(const StoredInstance&)>& fn) = 0;

  /// Exact counts per level. Scans: for statistics pages, not for health probes.
  virtual Result<IndexCounts> Counts(const Scope& scope) = 0;
  /// Cheap liveness check of the backend (for /healthz).
  virtual Status Ping() = 0;
  virtual int SchemaVersion() const = 0;
  /// The engine and where it is, without credentials (logs, /healthz, the cluster page).
  virtual std::string Describe() const = 0;

  /// The AI job queue and results, in the same database.
  virtual AiStore& ai() = 0;
  /// Accounts, sessions, API tokens and the audit log, in the same database.
  virtual UserStore& users() = 0;
  /// The worklist, decisions on AI findings and review statistics, in the same database.
  virtual ReviewStore& reviews() = 0;
  /// The image-processing job queue and its results, in the same database.
  virtual ProcessingStore& processing() = 0;
  /// The nodes sharing this database.
  virtual ClusterStore& cluster() = 0;
  /// The peers administrators added at run time (store/peer_directory.h combines them with
  /// the config file's).
  virtual PeerStore& peers() = 0;
  /// The region's institutions, their senders and readers, in the same database.
  virtual InstitutionStore& institutions() = 0;
  /// Remote reading: read requests, claims and report versions, in the same database.
  virtual ReadingStore& reading() = 0;
  /// Share links and shares with other institutions, in the same database.
  virtual ShareStore& shares() = 0;
  /// De-identified research projects and their exports, in the same database.
  virtual DeidStore& deid() = 0;
};

using StudyIndexPtr = std::unique_ptr<StudyIndex>;

/// The index over an open database (either engine).
/// `lease` names this node on the jobs it claims.
Result<StudyIndexPtr> OpenIndex(sql::DatabasePtr db, const JobLease& lease = {});
/// Opens (creating and migrating as needed) a SQLite index at `path` in WAL mode.
Result<StudyIndexPtr> OpenSqliteIndex(const std::string& path, const JobLease& lease = {});
/// Connects to PostgreSQL (migrating under its advisory lock as needed).
Result<StudyIndexPtr> OpenPostgresIndex(const sql::PostgresOptions& options,
                                        const JobLease& lease = {});

}  // namespace dxhub::store
