#!/usr/bin/python3
"""Generate the index rows of bench/make_studies.py's N studies for a bulk load into dxhub's
PostgreSQL index (bench/query.sh, DXHUB_LOAD=bulk), without writing any DICOM file.

The studies are exactly make_studies.py's (the same study(n, N) function: same UIDs, patients,
dates, modalities, accession numbers), so OUT/manifest.tsv is identical to the one
make_studies.py writes for the same N, and the rows are what `dxhub import` of those files
writes (checked on a small N by bench/query.sh's verification, which compares every query's
answer with the manifest). Written in PostgreSQL's COPY text format, one file per table,
columns in the order of src/store/sql/postgresql/001_initial.sql and 002_ai.sql:

  patients.tsv   id patient_key patient_id patient_name birth_date sex num_studies
  studies.tsv    id study_uid patient_pk study_date study_time accession_number
                 study_description study_id referring_physician num_series num_instances
                 received_at updated_at stable_at patient_name (schema 9's copy)
  series.tsv     id series_uid study_pk modality series_number series_description body_part
                 num_instances received_at
  instances.tsv  id sop_uid series_pk sop_class_uid instance_number transfer_syntax rows
                 columns frames charset blob_key size sha256 source received_at

The counts the triggers would maintain are written as values (the load runs with triggers off),
every study is already stable (stable_at set, as it would be long after its last image), and
the instances have no blob (source 'bulk', a blob_key no file has): the index can answer QIDO,
not WADO. The manifest is written last (atomically), so its presence marks a complete set.
"""
import argparse
import hashlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_studies as ms  # noqa: E402  (the one definition of the studies)

EXPLICIT_LE = "1.2.840.10008.1.2.1"
SIZE = 1052  # bytes of one generated file (1048..1056 depending on the name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, required=True, help="number of studies")
    ap.add_argument("--out", required=True, help="output folder")
    a = ap.parse_args()
    if a.count < 1:
        sys.exit("--count must be >= 1")
    os.makedirs(a.out, exist_ok=True)
    n_studies = a.count
    # received over the last N seconds, one study per 1 ms before "now - N s"
    base_ms = int(time.time() * 1000) - n_studies - 86_400_000
    patient_pk = {}  # patient number -> id, in order of first study
    patient_rows = {}
    counts = {}
    files = {t: open(os.path.join(a.out, t + ".tsv.tmp"), "w", encoding="utf-8")
             for t in ("studies", "series", "instances")}
    manifest = open(os.path.join(a.out, "manifest.tsv.tmp"), "w", encoding="utf-8")
    manifest.write("n\tstudy_uid\tseries_uid\tsop_uid\tpatient_id\tpatient_name\tstudy_date"
                   "\tmodality\taccession\n")
    for n in range(n_studies):
        s = ms.study(n, n_studies)
        pid = s["patient_id"]
        pk = patient_pk.get(pid)
        if pk is None:
            pk = patient_pk[pid] = len(patient_pk) + 1
            patient_rows[pk] = (pid, s["patient_name"], s["birth"], s["sex"])
        counts[pk] = counts.get(pk, 0) + 1
        row_id = n + 1
        at = base_ms + n
        mod = s["modality"]
        desc = ms.DESCRIPTION[mod]
        files["studies"].write("\t".join(map(str, (
            row_id, s["study_uid"], pk, s["study_date"], s["study_time"], s["accession"], desc,
            n % 100000 + 1, "Referrer^Bench", 1, 1, at, at, at + 30_000,
            patient_rows[pk][1]))) + "\n")
        files["series"].write("\t".join(map(str, (
            row_id, s["series_uid"], row_id, mod, 1, desc, "", 1, at))) + "\n")
        digest = hashlib.sha256(s["sop_uid"].encode()).hexdigest()
        blob_key = hashlib.sha256(("bulk-" + s["sop_uid"]).encode()).hexdigest()
        files["instances"].write("\t".join(map(str, (
            row_id, s["sop_uid"], row_id, ms.SOP_CLASS[mod], 1, EXPLICIT_LE, 8, 8, 1,
            "ISO_IR 100", blob_key, SIZE, digest, "bulk", at))) + "\n")
        manifest.write("\t".join(str(s[f]) for f in (
            "n", "study_uid", "series_uid", "sop_uid", "patient_id", "patient_name",
            "study_date", "modality", "accession")) + "\n")
        if (n + 1) % 100000 == 0 or n + 1 == n_studies:
            print("make_index_rows: %d / %d" % (n + 1, n_studies), file=sys.stderr)
    with open(os.path.join(a.out, "patients.tsv.tmp"), "w", encoding="utf-8") as f:
        for pk in sorted(patient_rows):
            pid, name, birth, sex = patient_rows[pk]
            f.write("\t".join(map(str, (pk, pid, pid, name, birth, sex, counts[pk]))) + "\n")
    for t, f in files.items():
        f.close()
    for t in ("patients", "studies", "series", "instances"):
        os.replace(os.path.join(a.out, t + ".tsv.tmp"), os.path.join(a.out, t + ".tsv"))
    manifest.close()
    os.replace(os.path.join(a.out, "manifest.tsv.tmp"), os.path.join(a.out, "manifest.tsv"))


if __name__ == "__main__":
    main()
