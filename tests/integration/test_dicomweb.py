"""DICOMweb (QIDO-RS search, WADO-RS retrieve and metadata) against files sent with storescu."""

import email.parser
import email.policy
import hashlib
import json
import os
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import pydicom

import harness
from harness import Server

CT_SMALL = os.path.join(harness.PYDICOM_FILES, "CT_small.dcm")
MR_SMALL = os.path.join(harness.PYDICOM_FILES, "MR_small.dcm")
RLE = os.path.join(harness.PYDICOM_FILES, "MR_small_RLE.dcm")  # same UIDs as MR_small
JPEG2K = os.path.join(harness.PYDICOM_FILES, "JPEG2000.dcm")


def fetch(server, path, accept=None):
    req = server.request(path)
    if accept:
        req.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def multipart_parts(headers, body):
    """Splits a multipart/related body with the standard library's MIME parser."""
    raw = f"Content-Type: {headers['Content-Type']}\r\n\r\n".encode() + body
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    return [(p.get_content_type(), p.get_payload(decode=True)) for p in msg.iter_parts()]


def value(obj, tag):
    return obj[tag].get("Value", [None])[0]


class LoadedServer(unittest.TestCase):
    """A dxhub holding CT_small, MR_small, JPEG2000 and a GB18030-named instance, sent by
    storescu; shared by the DICOMweb and C-FIND tests."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server(extra_args=harness.QUERY_PEERS).start()
        cls.tmp = tempfile.mkdtemp()
        cls.gb = harness.write_instance(os.path.join(cls.tmp, "gb.dcm"), "1.2.3.4.5.1",
                                        study_uid="1.2.3.4.5", series_uid="1.2.3.4.5.9",
                                        charset="GB18030", patient_name="王^小东",
                                        patient_id="GB1")
        rc, out = harness.storescu(cls.server, [CT_SMALL, MR_SMALL, JPEG2K, cls.gb])
        assert rc == 0, out

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()


class DicomWebTest(LoadedServer):

    def qido(self, path):
        status, headers, body = fetch(self.server, path, "application/dicom+json")
        self.assertEqual(status, 200, body)
        self.assertIn("application/dicom+json", headers["Content-Type"])
        return json.loads(body)

    def test_search_studies_with_matching(self):
        ct = pydicom.dcmread(CT_SMALL, stop_before_pixels=True)
        all_studies = self.qido("/dicom-web/studies")
        self.assertEqual(len(all_studies), 4)
        found = self.qido(f"/dicom-web/studies?PatientID={ct.PatientID}")
        self.assertEqual([value(s, "0020000D") for s in found], [ct.StudyInstanceUID])
        self.assertEqual(value(found[0], "00100010")["Alphabetic"], str(ct.PatientName))
        self.assertEqual(value(found[0], "00201208"), 1)
        # Wildcards, tags instead of keywords, date ranges, UID lists, ModalitiesInStudy.
        sent = [pydicom.dcmread(f, stop_before_pixels=True) for f in (CT_SMALL, MR_SMALL, JPEG2K)]
        compressed = {str(d.StudyInstanceUID) for d in sent
                      if str(d.PatientName).lower().startswith("compressed")}
        found = self.qido("/dicom-web/studies?PatientName=compressed*")  # names match any case
        self.assertEqual({value(s, "0020000D") for s in found}, compressed)
        self.assertEqual(len(self.qido("/dicom-web/studies?00100020=" + ct.PatientID)), 1)
        self.assertEqual(len(self.qido(f"/dicom-web/studies?StudyDate={ct.StudyDate}-")), 
                         len([s for s in all_studies if value(s, "00080020") and
                              value(s, "00080020") >= ct.StudyDate]))
        self.assertEqual(len(self.qido(
            f"/dicom-web/studies?StudyInstanceUID={ct.StudyInstanceUID},1.2.3.4.5")), 2)
        self.assertEqual(len(self.qido("/dicom-web/studies?ModalitiesInStudy=MR")), 1)
        page = self.qido("/dicom-web/studies?limit=2&offset=1&includefield=all")
        self.assertEqual(len(page), 2)
        status, headers, _ = fetch(self.server, "/dicom-web/studies?fuzzymatching=true")
        self.assertEqual(status, 200)
        self.assertIn("fuzzymatching", headers.get("Warning", ""))

    def test_chinese_names_in_qido_and_metadata(self):
        found = self.qido("/dicom-web/studies?PatientName=" + urllib.parse.quote("王*"))
        self.assertEqual(len(found), 1)
        self.assertEqual(value(found[0], "00100010")["Alphabetic"], "王^小东")
        meta = self.qido("/dicom-web/studies/1.2.3.4.5/metadata")
        self.assertEqual(value(meta[0], "00100010")["Alphabetic"], "王^小东")
        self.assertEqual(value(meta[0], "00080005"), "ISO_IR 192")

    def test_series_and_instances(self):
        mr = pydicom.dcmread(MR_SMALL, stop_before_pixels=True)
        series = self.qido(f"/dicom-web/studies/{mr.StudyInstanceUID}/series")
        self.assertEqual([value(s, "0020000E") for s in series], [mr.SeriesInstanceUID])
        self.assertEqual(value(series[0], "00080060"), "MR")
        instances = self.qido(f"/dicom-web/studies/{mr.StudyInstanceUID}/series/"
                              f"{mr.SeriesInstanceUID}/instances")
        self.assertEqual([value(i, "00080018") for i in instances], [mr.SOPInstanceUID])
        self.assertEqual(value(instances[0], "00280010"), mr.Rows)
        self.assertTrue(value(instances[0], "00081190").endswith(mr.SOPInstanceUID))
        ct_series = {str(pydicom.dcmread(f, stop_before_pixels=True).SeriesInstanceUID)
                     for f in (CT_SMALL, MR_SMALL, JPEG2K, self.gb)
                     if pydicom.dcmread(f, stop_before_pixels=True).Modality == "CT"}
        found = self.qido("/dicom-web/series?Modality=CT")
        self.assertEqual({value(s, "0020000E") for s in found}, ct_series)
        self.assertEqual(len(self.qido(f"/dicom-web/instances?SOPInstanceUID={mr.SOPInstanceUID}")), 1)

    def test_retrieve_instance_series_and_study(self):
        for path in (CT_SMALL, JPEG2K):
            ds = pydicom.dcmread(path)
            url = (f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
                   f"/instances/{ds.SOPInstanceUID}")
            status, headers, body = fetch(self.server, url,
                                          'multipart/related; type="application/dicom"')
            self.assertEqual(status, 200, body)
            parts = multipart_parts(headers, body)
            self.assertEqual([p[0] for p in parts], ["application/dicom"])
            # The archived bytes, byte for byte, and the same dataset as was sent.
            key = hashlib.sha256(str(ds.SOPInstanceUID).encode()).hexdigest()
            with open(os.path.join(self.server.var, "blobs", key[:3], key), "rb") as f:
                self.assertEqual(parts[0][1], f.read())
            got = pydicom.dcmread(pydicom.filebase.DicomBytesIO(parts[0][1]))
            self.assertEqual(got.SOPInstanceUID, ds.SOPInstanceUID)
            self.assertEqual(got.PixelData, ds.PixelData)
            for level_url in (url.rsplit("/instances/", 1)[0], url.split("/series/")[0]):
                status, headers, body = fetch(self.server, level_url, "*/*")
                self.assertEqual(status, 200)
                self.assertEqual(len(multipart_parts(headers, body)), 1)

    def test_metadata_has_bulk_data_uri(self):
        ds = pydicom.dcmread(CT_SMALL)
        meta = self.qido(f"/dicom-web/studies/{ds.StudyInstanceUID}/series/"
                         f"{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}/metadata")
        self.assertEqual(len(meta), 1)
        self.assertEqual(value(meta[0], "00080018"), ds.SOPInstanceUID)
        self.assertEqual(value(meta[0], "00280010"), ds.Rows)
        self.assertIn("BulkDataURI", meta[0]["7FE00010"])
        self.assertNotIn("Value", meta[0]["7FE00010"])
        # The BulkDataURI resolves to the pixel bytes (native pixel data).
        uri = meta[0]["7FE00010"]["BulkDataURI"]
        path = uri.split(f":{self.server.http_port}", 1)[1]
        status, headers, body = fetch(self.server, path,
                                      'multipart/related; type="application/octet-stream"')
        self.assertEqual(status, 200, body)
        parts = multipart_parts(headers, body)
        self.assertEqual(parts[0][0], "application/octet-stream")
        self.assertEqual(parts[0][1], ds.PixelData)
        # Compressed pixel data is not bulk data: it is served per frame.
        j2k = pydicom.dcmread(JPEG2K, stop_before_pixels=True)
        status, _, body = fetch(self.server, f"/dicom-web/studies/{j2k.StudyInstanceUID}/series/"
                                f"{j2k.SeriesInstanceUID}/instances/{j2k.SOPInstanceUID}"
                                "/bulkdata/7FE00010")
        self.assertEqual(status, 406, body)

    def test_bad_requests_are_4xx_with_json_reasons(self):
        ct = pydicom.dcmread(CT_SMALL, stop_before_pixels=True)
        cases = [
            ("/dicom-web/studies?StudyDate=2004", 400),
            ("/dicom-web/studies?StudyDate=20040101-2005", 400),
            ("/dicom-web/studies?StudyInstanceUID=1.2.abc", 400),
            ("/dicom-web/studies?limit=-1", 400),
            ("/dicom-web/studies?NoSuchAttribute=1", 400),
            ("/dicom-web/studies?Modality=CT", 400),  # a series key in a study query
            ("/dicom-web/studies?includefield=Bad-Name", 400),
            ("/dicom-web/studies/1.2.3.4.999/metadata", 404),
            ("/dicom-web/studies/1.2.3.4.999", 404),
            ("/dicom-web/studies/1.2.a/series", 400),
            (f"/dicom-web/studies/{ct.StudyInstanceUID}/series/1.2.3/instances/1.2.4", 404),
        ]
        for path, expected in cases:
            status, headers, body = fetch(self.server, path)
            self.assertEqual(status, expected, path)
            reason = json.loads(body)
            self.assertIn("message", reason, path)
        status, _, body = fetch(self.server, f"/dicom-web/studies/{ct.StudyInstanceUID}",
                                "application/json")
        self.assertEqual(status, 406)
        status, _, body = fetch(
            self.server, f"/dicom-web/studies/{ct.StudyInstanceUID}",
            'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50')
        self.assertEqual(status, 406)
        self.assertIn("transcoding", json.loads(body)["message"])


def post(server, path, body, content_type):
    req = server.request(path, data=body, method="POST",
                         headers={"Content-Type": content_type,
                                  "Accept": "application/dicom+json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def multipart_body(parts, boundary="dxhub-test-boundary"):
    out = b""
    for content_type, data in parts:
        out += f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), \
        f'multipart/related; type="application/dicom"; boundary={boundary}'


class DicomWebClientTest(unittest.TestCase):
    """The npm client on a server of its own: its STOW-RS adds a study."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server().start()
        rc, out = harness.storescu(cls.server, [CT_SMALL, JPEG2K])
        assert rc == 0, out

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def qido(self, path):
        status, _, body = fetch(self.server, path, "application/dicom+json")
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def test_real_dicomweb_client(self):
        """npm dicomweb-client (what OHIF uses): search, metadata, retrieve, frames, store."""
        ds = pydicom.dcmread(CT_SMALL)
        j2k = pydicom.dcmread(JPEG2K)
        to_store = harness.write_instance(os.path.join(self.server.var, "..", "stow.dcm"), "1.2.3.4.7.1",
                                          study_uid="1.2.3.4.7", series_uid="1.2.3.4.7.9",
                                          patient_id="STOWJS")
        node_modules = os.path.join(harness.TESTDATA, "node", "node_modules")
        script = os.path.join(os.path.dirname(__file__), "node", "dicomweb_client_test.js")
        args = {
            "url": f"http://127.0.0.1:{self.server.http_port}/dicom-web",
            "token": self.server.token,
            "study": ds.StudyInstanceUID, "series": ds.SeriesInstanceUID,
            "sop": ds.SOPInstanceUID,
            "j2k": {"study": j2k.StudyInstanceUID, "series": j2k.SeriesInstanceUID,
                    "sop": j2k.SOPInstanceUID, "syntax": j2k.file_meta.TransferSyntaxUID},
            "store": to_store,
        }
        r = subprocess.run(["node", script, json.dumps(args)], capture_output=True, text=True,
                           timeout=60, env=dict(os.environ, NODE_PATH=node_modules))
        self.assertEqual(r.returncode, 0, r.stderr)
        seen = json.loads(r.stdout.strip().splitlines()[-1])
        self.assertEqual(seen["studies"], [ds.StudyInstanceUID])
        self.assertEqual(seen["series"], [ds.SeriesInstanceUID])
        self.assertEqual(seen["instances"], [ds.SOPInstanceUID])
        self.assertEqual(seen["metadata_sop"], ds.SOPInstanceUID)
        self.assertTrue(seen["metadata_pixel_bulk"])
        self.assertEqual(seen["instance_magic"], "DICM")
        key = hashlib.sha256(str(ds.SOPInstanceUID).encode()).hexdigest()
        self.assertEqual(seen["instance_bytes"],
                         os.path.getsize(os.path.join(self.server.var, "blobs", key[:3], key)))
        # Frames as the client decoded the multipart answers: the native pixels, and the stored
        # JPEG 2000 bitstream (pydicom's view of the one-fragment frame, padding removed).
        self.assertEqual(seen["native_frames"], [
            {"bytes": len(ds.PixelData), "sha256": hashlib.sha256(ds.PixelData).hexdigest()}])
        fragment = next(pydicom.encaps.generate_pixel_data_frame(j2k.PixelData))
        got = seen["j2k_frames"][0]
        self.assertIn(got["bytes"], (len(fragment), len(fragment.rstrip(b"\0"))))
        self.assertEqual(got["sha256"], hashlib.sha256(fragment[:got["bytes"]]).hexdigest())
        # Store: the instance is archived and searchable.
        self.assertEqual(seen["store_response"]["00081199"]["Value"][0]["00081155"]["Value"],
                         ["1.2.3.4.7.1"])
        found = self.qido("/dicom-web/instances?PatientID=STOWJS")
        self.assertEqual([value(i, "00080018") for i in found], ["1.2.3.4.7.1"])


class StowTest(unittest.TestCase):
    """STOW-RS: same durability and refusal rules as C-STORE."""

    def setUp(self):
        self.server = Server().start()
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        self.server.cleanup()

    def instance(self, n, **kw):
        return harness.write_instance(os.path.join(self.tmp, f"{n}.dcm"), f"1.2.7.{n}",
                                      study_uid="1.2.7", series_uid="1.2.7.0", **kw)

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def test_store_mixed_batch_reports_each_part(self):
        gb = self.instance(1, charset="GB18030", patient_name="王^小东")
        body, ctype = multipart_body([("application/dicom", self.read(CT_SMALL)),
                                      ("application/dicom", self.read(gb)),
                                      ("application/dicom", b"\0" * 128 + b"DICM" + b"junk" * 50),
                                      ("text/plain", b"hello")])
        status, raw = post(self.server, "/dicom-web/studies", body, ctype)
        self.assertEqual(status, 202, raw)
        answer = json.loads(raw)
        stored = [value(i, "00081155") for i in answer["00081199"]["Value"]]
        ct = pydicom.dcmread(CT_SMALL, stop_before_pixels=True)
        self.assertEqual(stored, [ct.SOPInstanceUID, "1.2.7.1"])
        reasons = [value(i, "00081197") for i in answer["00081198"]["Value"]]
        self.assertEqual(reasons, [0xC000, 0xC000])
        # Stored means indexed and retrievable, with the name in UTF-8.
        found = json.loads(fetch(self.server, "/dicom-web/studies/1.2.7/series/1.2.7.0/instances",
                                 "application/dicom+json")[2])
        self.assertEqual([value(i, "00080018") for i in found], ["1.2.7.1"])
        meta = json.loads(fetch(self.server, "/dicom-web/studies/1.2.7/metadata")[2])
        self.assertEqual(value(meta[0], "00100010")["Alphabetic"], "王^小东")
        self.assertEqual(self.server.temp_files(), [])
        self.server.stop()
        r = harness.verify(self.server.var)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("2 indexed instances, 2 blobs", r.stdout)

    def test_study_in_url_must_match(self):
        body, ctype = multipart_body([("application/dicom", self.read(self.instance(2)))])
        status, raw = post(self.server, "/dicom-web/studies/1.2.999", body, ctype)
        self.assertEqual(status, 409, raw)
        self.assertEqual(value(json.loads(raw)["00081198"]["Value"][0], "00081197"), 0xA900)
        status, raw = post(self.server, "/dicom-web/studies/1.2.7", body, ctype)
        self.assertEqual(status, 200, raw)

    def test_large_upload_is_spooled_not_held_in_memory(self):
        # 72 MiB of pixel data: more than the old in-memory limit of 64 MiB.
        big = self.instance(5, rows=6000, cols=6000)
        body, ctype = multipart_body([("application/dicom", self.read(big)),
                                      ("application/dicom", self.read(self.instance(6)))])
        status, raw = post(self.server, "/dicom-web/studies", body, ctype)
        self.assertEqual(status, 200, raw[:300])
        self.assertEqual(len(json.loads(raw)["00081199"]["Value"]), 2)
        key = hashlib.sha256(b"1.2.7.5").hexdigest()
        self.assertEqual(os.path.getsize(os.path.join(self.server.var, "blobs", key[:3], key)),
                         os.path.getsize(big))
        self.assertEqual(self.server.temp_files(), [])

    def test_upload_cut_mid_body_and_over_limit(self):
        body, ctype = multipart_body([("application/dicom", self.read(self.instance(7)))])
        # The client dies half way through its Content-Length: nothing stored, nothing left.
        with socket.create_connection(("127.0.0.1", self.server.http_port), timeout=30) as s:
            s.sendall((f"POST /dicom-web/studies HTTP/1.1\r\nHost: x\r\n"
                       f"Authorization: Bearer {self.server.token}\r\n"
                       f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
                      + body[:len(body) // 2])
            s.shutdown(socket.SHUT_WR)
            # The server answers (or just closes) once its handler has given up on the body;
            # the spool file is removed before that.
            while s.recv(65536):
                pass
        self.assertEqual(self.server.temp_files(), [])
        _, stats = self.server.get("/api/statistics")
        self.assertEqual(stats["instances"], 0)
        self.server.stop()
        self.server.extra_args = ["--max-upload-mb", "1"]
        self.server.start()
        big, ctype = multipart_body([("application/dicom",
                                      self.read(self.instance(8, rows=1024, cols=1024)))])
        status, raw = post(self.server, "/dicom-web/studies", big, ctype)
        self.assertEqual(status, 413, raw[:300])
        _, stats = self.server.get("/api/statistics")
        self.assertEqual(stats["instances"], 0)
        self.assertEqual(self.server.temp_files(), [])

    def test_bad_uploads_store_nothing(self):
        good = self.read(self.instance(3))
        body, ctype = multipart_body([("application/dicom", good), ("application/dicom", good)])
        hostile_body, _ = multipart_body([("application/dicom", self.read(
            harness.write_instance(os.path.join(self.tmp, "h.dcm"), "../../etc/passwd")))])
        cases = [
            (body, ctype.replace("dxhub-test-boundary", "wrong-boundary"), 400),
            (body[: len(body) // 2], ctype, 400),  # truncated upload
            (body[:-len("--dxhub-test-boundary--\r\n")], ctype, 400),  # no close delimiter
            (body, "application/dicom", 415),
            (body, 'multipart/related; type="application/json"; boundary=x', 415),
        ]
        for data, content_type, expected in cases:
            status, raw = post(self.server, "/dicom-web/studies", data, content_type)
            self.assertEqual(status, expected, (content_type, raw[:200]))
            self.assertIn("message", json.loads(raw))
        status, raw = post(self.server, "/dicom-web/studies", hostile_body, ctype)
        self.assertEqual(status, 409, raw)
        self.assertEqual(value(json.loads(raw)["00081198"]["Value"][0], "00081197"), 0xC000)
        status, raw = post(self.server, "/dicom-web/studies/..%2F..%2Fetc", body, ctype)
        self.assertIn(status, (400, 404))
        _, stats = self.server.get("/api/statistics")
        self.assertEqual(stats["instances"], 0)
        self.assertEqual(self.server.temp_files(), [])


def findscu(server, level, keys, model="-S"):
    """Runs DCMTK findscu and returns the answers as pydicom datasets (via -X files)."""
    out_dir = tempfile.mkdtemp()
    args = ["findscu", "-v", model, "-aec", server.aet, "-X", "-k",
            f"QueryRetrieveLevel={level}"]
    for k in keys:
        args += ["-k", k]
    r = subprocess.run(args + ["127.0.0.1", str(server.dicom_port)], cwd=out_dir,
                       capture_output=True, text=True, timeout=60)
    answers = [pydicom.dcmread(os.path.join(out_dir, f))
               for f in sorted(os.listdir(out_dir)) if f.startswith("rsp")]
    return r.returncode, r.stdout + r.stderr, answers


class CFindTest(LoadedServer):
    """C-FIND with DCMTK's findscu against the same index QIDO-RS uses."""

    def test_study_level_with_wildcard_and_return_keys(self):
        ct = pydicom.dcmread(CT_SMALL, stop_before_pixels=True)
        rc, out, answers = findscu(self.server, "STUDY", [
            f"PatientID={ct.PatientID}", "StudyInstanceUID", "PatientName",
            "NumberOfStudyRelatedInstances", "ModalitiesInStudy", "StudyDate"])
        self.assertEqual(rc, 0, out)
        self.assertIn("Final Find Response (Success)", out)
        self.assertEqual(len(answers), 1, out)
        self.assertEqual(answers[0].StudyInstanceUID, ct.StudyInstanceUID)
        self.assertEqual(str(answers[0].PatientName), str(ct.PatientName))
        self.assertEqual(int(answers[0].NumberOfStudyRelatedInstances), 1)
        self.assertEqual(answers[0].StudyDate, ct.StudyDate)
        rc, out, answers = findscu(self.server, "STUDY", ["PatientName=王*", "StudyInstanceUID"])
        self.assertEqual([a.StudyInstanceUID for a in answers], ["1.2.3.4.5"])
        self.assertEqual(str(answers[0].PatientName), "王^小东")

    def test_series_and_image_levels_patient_root(self):
        mr = pydicom.dcmread(MR_SMALL, stop_before_pixels=True)
        rc, out, answers = findscu(self.server, "SERIES", [
            f"StudyInstanceUID={mr.StudyInstanceUID}", "SeriesInstanceUID", "Modality"])
        self.assertEqual(rc, 0, out)
        self.assertEqual([(a.SeriesInstanceUID, a.Modality) for a in answers],
                         [(mr.SeriesInstanceUID, "MR")])
        rc, out, answers = findscu(self.server, "IMAGE", [
            f"SeriesInstanceUID={mr.SeriesInstanceUID}", "SOPInstanceUID", "InstanceNumber"],
            model="-P")
        self.assertEqual(rc, 0, out)
        self.assertEqual([a.SOPInstanceUID for a in answers], [mr.SOPInstanceUID])

    def test_patient_level_answers_once_per_patient(self):
        rc, out, answers = findscu(self.server, "PATIENT", ["PatientID", "PatientName"],
                                   model="-P")
        self.assertEqual(rc, 0, out)
        ids = [a.PatientID for a in answers]
        self.assertEqual(len(ids), len(set(ids)))
        self.assertIn("GB1", ids)

    def test_malformed_keys_are_refused(self):
        rc, out, answers = findscu(self.server, "STUDY", ["StudyDate=2004", "StudyInstanceUID"])
        self.assertEqual(answers, [])
        self.assertIn("Final Find Response (Failed: UnableToProcess)", out)  # 0xC000
        rc, out, answers = findscu(self.server, "NONSENSE", ["StudyInstanceUID"])
        self.assertEqual(answers, [])
        self.assertIn("Final Find Response (Error: DataSetDoesNotMatchSOPClass)", out)  # 0xA900
        self.assertTrue(self.server.echo())


class PeersTest(unittest.TestCase):
    """Configured remote nodes and their connection tests (C-ECHO, QIDO-RS)."""

    def test_list_and_echo(self):
        dead_port = harness.free_port()
        server = Server()
        server.dicom_port, server.http_port = harness.free_port(), harness.free_port()
        # dxhub needs credentials from its DICOMweb peers too: here it is its own peer.
        harness.add_user(server, "peer", "admin", "peer password 123")
        token = harness.run_dxhub("user", "token", "--data", server.var, "peer").stdout.split()[-1]
        server._token = token  # no first-start admin: an account already exists
        config = tempfile.mktemp(suffix=".toml")
        with open(config, "w") as f:
            f.write(f'''remote-ae = [{{ name = "self", aet = "DXHUB", host = "127.0.0.1", port = {server.dicom_port} }},
             "WRONG@127.0.0.1:{server.dicom_port}"]
dicomweb-peer = [{{ name = "me", url = "http://127.0.0.1:{server.http_port}/dicom-web/", token = "{token}" }},
                 {{ name = "dead", url = "http://127.0.0.1:{dead_port}/dicom-web" }}]
''')
        server.extra_args = ["--config", config]
        try:
            server.start(keep_ports=True)
            _, peers = server.get("/api/peers")
            self.assertEqual([(p["name"], p["kind"]) for p in peers["peers"]],
                             [("self", "dicom"), ("WRONG", "dicom"), ("me", "dicomweb"),
                              ("dead", "dicomweb")])
            self.assertEqual(peers["peers"][2]["url"], f"http://127.0.0.1:{server.http_port}/dicom-web")

            def echo(name):
                req = server.request(f"/api/peers/{name}/echo", data=b"", method="POST")
                try:
                    with urllib.request.urlopen(req, timeout=30) as r:
                        return r.status, json.loads(r.read())
                except urllib.error.HTTPError as e:
                    return e.code, json.loads(e.read())

            self.assertEqual(echo("self")[1]["ok"], True)
            status, answer = echo("WRONG")  # dxhub refuses a called AE that is not its own
            self.assertEqual((status, answer["ok"]), (200, False))
            self.assertIn("Rejected", answer["message"])
            self.assertEqual(echo("me")[1]["ok"], True)
            status, answer = echo("dead")
            self.assertEqual((status, answer["ok"]), (200, False))
            self.assertEqual(echo("nobody")[0], 404)
        finally:
            server.cleanup()
            os.remove(config)

    def test_bad_peer_configuration_is_refused(self):
        for flags in (["--dicomweb-peer", "x=ftp://h"], ["--dicomweb-peer", "a=http://h",
                                                         "--remote-ae", "a@h:104"]):
            r = harness.run_dxhub("serve", "--data", tempfile.mkdtemp(), *flags)
            self.assertEqual(r.returncode, 2, flags)
            self.assertIn("dxhub:", r.stderr)


if __name__ == "__main__":
    unittest.main()
