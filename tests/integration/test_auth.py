"""Access control on the HTTP API: no patient-data route answers anonymously, roles are
enforced, browser sessions need their CSRF token for changes, and reads are audited."""

import json
import os
import unittest
import urllib.error
import urllib.request

import pydicom

import harness
from harness import Server

CT_SMALL = os.path.join(harness.PYDICOM_FILES, "CT_small.dcm")


def call(server, path, method="GET", data=None, headers=None):
    req = urllib.request.Request(f"http://127.0.0.1:{server.http_port}{path}", data=data,
                                 method=method)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class AuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server().start()
        rc, out = harness.storescu(cls.server, [CT_SMALL])
        assert rc == 0, out
        ds = pydicom.dcmread(CT_SMALL, stop_before_pixels=True)
        cls.study, cls.series, cls.sop = (ds.StudyInstanceUID, ds.SeriesInstanceUID,
                                          ds.SOPInstanceUID)
        for name, role in [("viewer1", "viewer"), ("doctor1", "radiologist")]:
            harness.add_user(cls.server, name, role, f"{name} password!")

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def data_routes(self):
        s, se, i = self.study, self.series, self.sop
        inst = f"/dicom-web/studies/{s}/series/{se}/instances/{i}"
        return [("GET", p) for p in [
            "/api/statistics", "/api/studies", f"/api/studies/{s}", f"/api/studies/{s}/ai",
            f"/api/instances/{i}/ai", "/api/models", "/api/peers", "/api/audit", "/api/me",
            "/dicom-web/studies", "/dicom-web/series", "/dicom-web/instances",
            f"/dicom-web/studies/{s}", f"/dicom-web/studies/{s}/metadata",
            f"/dicom-web/studies/{s}/series", f"/dicom-web/studies/{s}/thumbnail",
            f"{inst}", f"{inst}/metadata", f"{inst}/frames/1", f"{inst}/rendered",
            f"{inst}/thumbnail", f"{inst}/bulkdata/7FE00010", "/api/worklist",
            "/api/worklist/stamp", f"/api/studies/{s}/review", "/api/stats"]] + [
            ("POST", "/dicom-web/studies"), ("POST", f"/api/studies/{s}/ai/rerun"),
            ("POST", "/api/peers/x/echo"), ("POST", f"/api/studies/{s}/decisions")]

    def test_no_data_route_answers_anonymously(self):
        for method, path in self.data_routes():
            for headers in [{}, {"Authorization": "Bearer " + "0" * 64},
                            {"Cookie": "dxhub_session=" + "f" * 64}]:
                status, _, body = call(self.server, path, method,
                                       b"" if method == "POST" else None, headers)
                self.assertEqual(status, 401, (method, path, headers))
                self.assertIn("authentication required", json.loads(body)["message"])
        for open_path in ["/healthz", "/metrics"]:
            self.assertEqual(call(self.server, open_path)[0], 200, open_path)

    def login(self, user, password):
        status, headers, body = call(self.server, "/api/login", "POST",
                                     json.dumps({"username": user, "password": password}).encode(),
                                     {"Content-Type": "application/json"})
        return status, headers, json.loads(body)

    def test_login_roles_csrf_logout_and_audit(self):
        status, _, body = self.login("viewer1", "wrong password")
        self.assertEqual(status, 401)
        self.assertEqual(body["message"], "wrong username or password")
        status, headers, body = self.login("viewer1", "viewer1 password!")
        self.assertEqual(status, 200, body)
        cookie = headers["Set-Cookie"].split(";")[0]
        for attribute in ["HttpOnly", "SameSite=Strict", "Max-Age="]:
            self.assertIn(attribute, headers["Set-Cookie"])
        # A viewer reads, but may not rerun AI or see the audit log.
        self.assertEqual(call(self.server, f"/api/studies/{self.study}",
                              headers={"Cookie": cookie})[0], 200)
        status, _, _ = call(self.server, f"/api/studies/{self.study}/ai/rerun", "POST", b"",
                            {"Cookie": cookie, "X-CSRF-Token": body["csrf_token"]})
        self.assertEqual(status, 403)
        self.assertEqual(call(self.server, "/api/audit", headers={"Cookie": cookie})[0], 403)

        # A radiologist may rerun, but a browser session needs its CSRF token to change things.
        status, headers, body = self.login("doctor1", "doctor1 password!")
        cookie = headers["Set-Cookie"].split(";")[0]
        path = f"/api/studies/{self.study}/ai/rerun"
        self.assertEqual(call(self.server, path, "POST", b"", {"Cookie": cookie})[0], 403)
        self.assertEqual(call(self.server, path, "POST", b"",
                              {"Cookie": cookie, "X-CSRF-Token": "0" * 64})[0], 403)
        self.assertEqual(call(self.server, path, "POST", b"",
                              {"Cookie": cookie, "X-CSRF-Token": body["csrf_token"]})[0], 202)
        # Logout ends the session.
        self.assertEqual(call(self.server, "/api/logout", "POST", b"",
                              {"Cookie": cookie, "X-CSRF-Token": body["csrf_token"]})[0], 200)
        self.assertEqual(call(self.server, "/api/me", headers={"Cookie": cookie})[0], 401)

        # The reads above are in the audit log, with who and what.
        _, audit = self.server.get("/api/audit?user=viewer1")
        reads = [(e["action"], e["object"]) for e in audit["entries"]]
        self.assertIn(("read", f"/api/studies/{self.study}"), reads)
        self.assertIn(("login.failed", ""), reads)
        self.assertTrue(all(e["remote"] for e in audit["entries"]))
        _, audit = self.server.get("/api/audit?user=doctor1")
        self.assertIn(("POST", path), [(e["action"], e["object"]) for e in audit["entries"]])

        # Export for a privacy officer: CSV of a day range; a future range is empty.
        status, headers, body = call(self.server, "/api/audit?user=viewer1&format=csv&from=20200101",
                                     headers=self.server.headers())
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/csv"))
        lines = body.decode().splitlines()
        self.assertEqual(lines[0], "at,user,action,object,remote,detail")
        self.assertIn(f'"viewer1","read","/api/studies/{self.study}"', body.decode())
        _, future = self.server.get("/api/audit?from=20990101")
        self.assertEqual(future["entries"], [])
        self.assertEqual(self.server.get("/api/audit?from=yesterday")[0], 400)
        self.assertEqual(self.server.get("/api/audit?format=xml")[0], 400)


if __name__ == "__main__":
    unittest.main()
