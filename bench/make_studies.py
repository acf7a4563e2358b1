#!/usr/bin/python3
"""Generate N synthetic single-instance studies for bench/query.sh.

Every study has one series with one instance: generated patient/study metadata and a
tiny 8x8 16-bit MONOCHROME2 image, Explicit VR Little Endian. Everything is derived
from the study number with fixed seeds, so the same N always gives the same files.

  s<n>.dcm files go to OUT/d<k>/ (PER_FOLDER files per folder), and OUT/manifest.tsv
  lists every study (one line each, tab-separated, header first):
  n study_uid series_uid sop_uid patient_id patient_name study_date modality accession

The manifest is written last (atomically), so its presence with N lines marks a
complete set. Run with Debian's /usr/bin/python3 (pydicom 2.x).
"""
import argparse
import datetime
import os
import random
import sys
import uuid
from concurrent.futures import ProcessPoolExecutor

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

PER_FOLDER = 1000
NS = uuid.UUID("6f2b0c44-2d1e-4a59-9c1b-5a0d3e7b8c11")  # fixed namespace for the UIDs

SURNAMES = [
    # Chinese (pinyin)
    "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou",
    "Xu", "Sun", "Ma", "Zhu", "Hu", "Guo", "He", "Gao", "Lin", "Luo",
    "Zheng", "Liang", "Xie", "Song", "Tang", "Han", "Feng", "Deng", "Cao", "Peng",
    # Latin / European
    "Smith", "Garcia", "Martinez", "Rossi", "Muller", "Schmidt", "Dubois", "Moreau",
    "Silva", "Santos", "Fernandez", "Lopez", "Gonzalez", "Bianchi", "Romano", "Novak",
    "Kowalski", "Jansen", "Johnson", "Brown", "Williams", "Taylor", "Martin", "Bernard",
    "Ferrari", "Costa", "Lambert", "Weber", "Fischer", "Hoffmann",
]
GIVEN = [
    "Wei", "Fang", "Min", "Jing", "Lei", "Yan", "Jun", "Hui", "Qiang", "Xiu Ying",
    "Li Na", "Hao", "Yu", "Ming", "Tao", "Ling", "Chao", "Xin", "Ping", "Bo",
    "Maria", "Jose", "Anna", "Luca", "Sofia", "Pierre", "Marie", "Hans", "Eva", "Jan",
    "Carlos", "Elena", "Marco", "Giulia", "Thomas", "Sarah", "David", "Laura", "Paul", "Julia",
]
MODALITIES = ["CT", "MR", "CR", "DX", "US"]
SOP_CLASS = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "CR": "1.2.840.10008.5.1.4.1.1.1",
    "DX": "1.2.840.10008.5.1.4.1.1.1.1",
    "US": "1.2.840.10008.5.1.4.1.1.6.1",
}
DESCRIPTION = {"CT": "CT CHEST", "MR": "MR BRAIN", "CR": "CR CHEST PA", "DX": "DX HAND", "US": "US ABDOMEN"}
FIRST_DAY = datetime.date(2015, 1, 1)
DAYS = (datetime.date(2024, 12, 31) - FIRST_DAY).days + 1  # 10 years


def uid(kind, n):
    return "2.25.%d" % uuid.uuid5(NS, "%s-%d" % (kind, n)).int


def patient_count(n_studies):
    return max(1, n_studies // 4)  # ~4 studies per patient


def patient(p):
    r = random.Random(1_000_003 * p + 17)
    name = "%s^%s" % (r.choice(SURNAMES), r.choice(GIVEN))
    birth = datetime.date(1930, 1, 1) + datetime.timedelta(days=r.randrange(365 * 85))
    return "P%07d" % p, name, birth.strftime("%Y%m%d"), r.choice("MF")


def study(n, n_studies):
    r = random.Random(7_919 * n + 3)
    pid, name, birth, sex = patient(r.randrange(patient_count(n_studies)))
    date = FIRST_DAY + datetime.timedelta(days=r.randrange(DAYS))
    tm = "%02d%02d%02d" % (r.randrange(7, 20), r.randrange(60), r.randrange(60))
    modality = r.choice(MODALITIES)
    return {
        "n": n, "study_uid": uid("study", n), "series_uid": uid("series", n),
        "sop_uid": uid("sop", n), "patient_id": pid, "patient_name": name,
        "birth": birth, "sex": sex, "study_date": date.strftime("%Y%m%d"), "study_time": tm,
        "modality": modality, "accession": "A%09d" % (n + 1), "pixel_seed": r.randrange(1 << 30),
    }


def dataset(s):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SOP_CLASS[s["modality"]]
    meta.MediaStorageSOPInstanceUID = s["sop_uid"]
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = "2.25.171429711839766411478536150302546226017"
    meta.ImplementationVersionName = "DXHUB_BENCH"
    ds = Dataset()
    ds.file_meta = meta
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = SOP_CLASS[s["modality"]]
    ds.SOPInstanceUID = s["sop_uid"]
    ds.StudyDate = s["study_date"]
    ds.SeriesDate = s["study_date"]
    ds.StudyTime = s["study_time"]
    ds.AccessionNumber = s["accession"]
    ds.Modality = s["modality"]
    ds.Manufacturer = "DXHUB BENCH"
    ds.ReferringPhysicianName = "Referrer^Bench"
    ds.StudyDescription = DESCRIPTION[s["modality"]]
    ds.SeriesDescription = DESCRIPTION[s["modality"]]
    ds.PatientName = s["patient_name"]
    ds.PatientID = s["patient_id"]
    ds.PatientBirthDate = s["birth"]
    ds.PatientSex = s["sex"]
    ds.StudyInstanceUID = s["study_uid"]
    ds.SeriesInstanceUID = s["series_uid"]
    ds.StudyID = str(s["n"] % 100000 + 1)
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = 8
    ds.Columns = 8
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.WindowCenter = 2048
    ds.WindowWidth = 4096
    r = random.Random(s["pixel_seed"])
    ds.PixelData = b"".join(r.randrange(4096).to_bytes(2, "little") for _ in range(64))
    return ds


def write_folder(args):
    out, k, lo, hi, n_studies = args
    folder = os.path.join(out, "d%03d" % k)
    os.makedirs(folder, exist_ok=True)
    lines = []
    for n in range(lo, hi):
        s = study(n, n_studies)
        pydicom.dcmwrite(os.path.join(folder, "s%07d.dcm" % n), dataset(s), write_like_original=False)
        lines.append("\t".join(str(s[f]) for f in (
            "n", "study_uid", "series_uid", "sop_uid", "patient_id", "patient_name",
            "study_date", "modality", "accession")))
    return k, lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, required=True, help="number of studies")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    if a.count < 1:
        sys.exit("--count must be >= 1")
    os.makedirs(a.out, exist_ok=True)
    tasks = [(a.out, k, lo, min(lo + PER_FOLDER, a.count), a.count)
             for k, lo in enumerate(range(0, a.count, PER_FOLDER))]
    parts = {}
    with ProcessPoolExecutor(max_workers=max(1, a.jobs)) as ex:
        for k, lines in ex.map(write_folder, tasks):
            parts[k] = lines
            done = sum(len(v) for v in parts.values())
            if k % 10 == 0 or done == a.count:
                print("make_studies: %d / %d" % (done, a.count), file=sys.stderr)
    tmp = os.path.join(a.out, "manifest.tsv.tmp")
    with open(tmp, "w") as f:
        f.write("n\tstudy_uid\tseries_uid\tsop_uid\tpatient_id\tpatient_name\tstudy_date\tmodality\taccession\n")
        for k in sorted(parts):
            for line in parts[k]:
                f.write(line + "\n")
    os.replace(tmp, os.path.join(a.out, "manifest.tsv"))


if __name__ == "__main__":
    main()
