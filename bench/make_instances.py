#!/usr/bin/python3
"""Generate N distinct DICOM instances for bench/ingest.sh from the real sample files.

Run with Debian's /usr/bin/python3 (needs pydicom). The pixel data is copied
byte for byte: each source file is read once, only identifying elements are
rewritten, and the dataset is saved in its original transfer syntax (JPEG 2000
lossless CT slices stay encapsulated, the CR stays explicit VR little endian).

Layout: OUT/f0 .. OUT/f{F-1}, each with N/F files named i{index:06d}.dcm.
Folder k holds the contiguous index block [k*N/F, (k+1)*N/F), so one storescu
association per folder sends whole studies one after the other.

UIDs are deterministic (2.25.<uuid5 integer> of a fixed name), so a rerun
produces byte-identical files. Instances are grouped into studies of
--per-study instances (default 20: 2,000 instances -> 100 studies); within a
study each modality gets its own series.
"""

import argparse
import glob
import os
import sys
import uuid

import pydicom
from pydicom.uid import UID

NAMESPACE = uuid.UUID("6f1d3c2a-9b7e-4c1a-8d2f-5e0b7a9c4d31")

# The sample data ships in the repository (testdata/).
SAMPLES = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "testdata"))
DEFAULT_SOURCES = sorted(glob.glob(os.path.join(SAMPLES, "ct-abdomen-20slices", "*"))) + [
    os.path.join(SAMPLES, "cr-chest", "gdcm-CR-MONO1-10-chest.dcm")
]


def det_uid(kind: str, *parts) -> UID:
    name = "dxhub-bench/" + kind + "/" + "/".join(str(p) for p in parts)
    return UID("2.25." + str(uuid.uuid5(NAMESPACE, name).int))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", "-n", type=int, default=2000)
    ap.add_argument("--folders", type=int, default=8)
    ap.add_argument("--per-study", type=int, default=20)
    ap.add_argument("--out", required=True)
    ap.add_argument("sources", nargs="*", default=None,
                    help="source DICOM files (default: the 20 CT slices and the CR chest)")
    args = ap.parse_args()

    n, folders = args.count, args.folders
    if n <= 0 or folders <= 0 or n % folders != 0:
        print(f"make_instances: count ({n}) must be a positive multiple of folders ({folders})",
              file=sys.stderr)
        return 2
    per_folder = n // folders
    sources = args.sources or DEFAULT_SOURCES
    if not sources:
        print("make_instances: no source files", file=sys.stderr)
        return 2

    templates = []
    for path in sources:
        ds = pydicom.dcmread(path)
        ts = ds.file_meta.TransferSyntaxUID
        sop_class = ds.file_meta.MediaStorageSOPClassUID
        if not sop_class:
            sop_class = ds.get("SOPClassUID", "")
        if not sop_class:
            print(f"make_instances: {path}: no SOP Class UID", file=sys.stderr)
            return 2
        # Touch PixelData once so each copy carries the raw bytes, not a lazy reader.
        _ = ds.PixelData
        templates.append((path, ds, UID(sop_class), ts, ds.get("Modality", "OT") or "OT"))

    for k in range(folders):
        os.makedirs(os.path.join(args.out, f"f{k}"), exist_ok=True)

    for i in range(n):
        path, tmpl, sop_class, ts, modality = templates[i % len(templates)]
        study = i // args.per_study
        ds = tmpl  # every rewritten element is set below for each instance
        sop_instance = det_uid("instance", i)
        study_uid = det_uid("study", study)
        series_uid = det_uid("series", study, modality)

        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = sop_instance
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.PatientID = f"BENCH{study // 2:05d}"          # two studies per patient
        ds.PatientName = f"BENCH^PATIENT{study // 2:05d}"
        ds.AccessionNumber = f"BA{study:07d}"
        ds.StudyID = str(study)
        ds.SeriesNumber = 1 if modality == "CT" else 2
        ds.InstanceNumber = i % args.per_study + 1
        ds.StudyDate = "20240101"
        ds.StudyTime = "120000"

        ds.file_meta.MediaStorageSOPClassUID = sop_class
        ds.file_meta.MediaStorageSOPInstanceUID = sop_instance
        ds.file_meta.TransferSyntaxUID = ts

        dest = os.path.join(args.out, f"f{i // per_folder}", f"i{i:06d}.dcm")
        tmp = dest + ".tmp"
        ds.save_as(tmp, write_like_original=False)
        os.replace(tmp, dest)

    print(f"make_instances: wrote {n} instances ({(n + args.per_study - 1) // args.per_study} "
          f"studies) into {folders} folders under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
