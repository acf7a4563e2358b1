#include "store/deid_export.h"

#include <zip.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "core/fs.h"
#include "core/hash.h"

namespace dxhub::store {
namespace {

// The files the ZIP is built from live until it is written (libzip reads them in zip_close).
struct TempFiles {
  std::vector<std::string> paths;
  ~TempFiles() {
    for (const auto& p : paths)
      fs::RemoveQuiet(p);
  }
};

}  // namespace

Result<std::string> PseudonymKey(StudyIndex& index) {
  return index.deid().Secret("pseudonym-key", RandomHex(32));
}

Result<DeidZipSummary> DeidentifyEach(Archive& archive, const Scope& scope,
                                      const std::vector<std::string>& study_uids,
                                      const dicom::DeidOptions& options,
                                      const dicom::Pseudonyms& pseudonyms, const DeidSink& sink,
                                      nlohmann::json& refused) {
  DeidZipSummary summary;
  for (const auto& uid : study_uids) {
    IndexQuery query;
    query.level = Level::kInstance;
    query.filters.push_back({Field::kStudyUid, Filter::Kind::kExact, {uid}});
    query.limit = 100000;
    auto rows = archive.index().Query(scope, query);
    if (!rows.ok())
      return rows.error();
    if (rows->empty())
      continue;
    ++summary.studies;
    for (const auto& row : *rows) {
      const std::string out = archive.NewTempPath();
      auto done = dicom::Deidentify(archive.blobs().PathOf(row.blob_key), out, options, pseudonyms);
      if (!done.ok()) {
        fs::RemoveQuiet(out);
        return done.error();
      }
      if (done->refused) {
        ++summary.refused;
        // Named by its pseudonym: the list itself carries no identifier.
        refused.push_back({{"study", pseudonyms.Uid(uid)},
                           {"sop_instance", pseudonyms.Uid(row.instance.sop_uid)},
                           {"modality", row.series.modality},
                           {"reason", done->reason}});
        continue;
      }
      DXHUB_TRY(sink(out, *done));
      ++summary.exported;
    }
  }
  if (summary.studies == 0)
    return MakeError(ErrorCode::kNotFound, "none of the studies is there");
  return summary;
}

Result<DeidZipSummary> WriteDeidZip(Archive& archive, const Scope& scope,
                                    const std::vector<std::string>& study_uids,
                                    const dicom::DeidOptions& options,
                                    const dicom::Pseudonyms& pseudonyms,
                                    const std::string& zip_path) {
  TempFiles temps;
  nlohmann::json manifest = {
      {"profile",
       "DICOM PS3.15 E.1 Basic Application Level "
       "Confidentiality Profile"},
      {"options",
       {{"retain_longitudinal_full_dates", options.retain_dates},
        {"retain_patient_characteristics", options.retain_patient_characteristics},
        {"clean_descriptors", options.clean_descriptors}}},
      {"method_codes", dicom::DeidMethodCodes(options)},
      {"studies", nlohmann::json::array()},
      {"refused", nlohmann::json::array()}};
  int error = 0;
  std::unique_ptr<zip_t, decltype(&zip_discard)> zip(
      zip_open(zip_path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error), &zip_discard);
  if (!zip)
    return MakeError(ErrorCode::kIo,
                     "cannot create the ZIP (libzip error " + std::to_string(error) + ")");
  std::set<std::string> studies;
  auto summary = DeidentifyEach(
      archive, scope, study_uids, options, pseudonyms,
      [&](const std::string& path, const dicom::DeidOutcome& done) -> Status {
        // libzip reads the file when the archive is written: it stays until then.
        temps.paths.push_back(path);
        studies.insert(done.study_uid);
        const std::string name =
            done.study_uid + "/" + done.series_uid + "/" + done.sop_uid + ".dcm";
        zip_source_t* source = zip_source_file(zip.get(), path.c_str(), 0, -1);
        if (source == nullptr || zip_file_add(zip.get(), name.c_str(), source,
                                              ZIP_FL_ENC_UTF_8 | ZIP_FL_OVERWRITE) < 0) {
          if (source != nullptr)
            zip_source_free(source);
          return MakeError(ErrorCode::kIo,
                           std::string("cannot add to the ZIP: ") + zip_strerror(zip.get()));
        }
        return Ok();
      },
      manifest["refused"]);
  if (!summary.ok())
    return summary.error();
  for (const auto& uid : studies)
    manifest["studies"].push_back(uid);
  manifest["instances"] = summary->exported;
  const std::string text = manifest.dump(2);
  zip_source_t* source = zip_source_buffer(zip.get(), text.data(), text.size(), 0);
  if (source == nullptr || zip_file_add(zip.get(), "manifest.json", source, ZIP_FL_ENC_UTF_8) < 0) {
    if (source != nullptr)
      zip_source_free(source);
    return MakeError(ErrorCode::kIo, "cannot add the manifest to the ZIP");
  }
  // zip_close reads the sources and writes the archive; on success it frees the handle.
  if (zip_close(zip.get()) != 0)
    return MakeError(ErrorCode::kIo,
                     std::string("cannot write the ZIP: ") + zip_strerror(zip.get()));
  (void)zip.release();
  return *summary;
}

}  // namespace dxhub::store
