"""Remote reading across institutions, driven as its users drive it: clinic A's clinician
requests a read of a study its modality sent; the hospital's radiologists see it in their queue,
one claims it (a second cannot), writes a draft (nobody else sees it) and signs it; the signed
report is in the study as a Basic Text SR and an Encapsulated PDF that pass dciodvfy, reach the
clinic over WADO-RS and C-FIND, and are invisible to clinic B. An addendum is a new version
with its own objects; a clinic's standing rule requests complete studies by itself; turnaround
is reported per clinic."""

import email.parser
import email.policy
import json
import os
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import harness
from harness import Server
from test_review import MODELS, cr_pair

E2E = os.path.join(os.path.dirname(__file__), "..", "e2e")
SCREENSHOTS = os.environ.get("DXHUB_SCREENSHOTS",
                             os.path.join(harness.TESTDATA, "..", "screenshots"))

STUDY_A = "1.2.826.0.1.3680043.8.498.8101"  # clinic A's CT
STUDY_B = "1.2.826.0.1.3680043.8.498.8102"  # clinic B's CT
STUDY_DX = "1.2.826.0.1.3680043.8.498.8103"  # clinic B's, requested by its rule
PASSWORD = "correct horse battery staple"


def dxhub(server, *args, stdin=None):
    r = harness.run_dxhub(*args, "--data", server.var, input=stdin)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


class ReadingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="dxhub-reading-")
        config = os.path.join(cls.tmp, "dxhub.toml")
        with open(config, "w") as f:
            # Studies complete one second after their last image; clinic A's AE may query.
            f.write('stable-after = 1\nread-turnaround-urgent = 30\n'
                    '[[query-ae]]\naet = "CLINIC_A"\nhost = "127.0.0.1"\nport = 104\n')
        cls.server = Server(extra_args=["--config", config, "--model-dir", MODELS])
        cls.server.start()
        cls.server.stop()
        s = cls.server
        dxhub(s, "institution", "add", "Main Hospital", "--issuer", "HOSP")
        dxhub(s, "institution", "add", "Clinic A", "--issuer", "CLA", "--aet", "CLINIC_A")
        dxhub(s, "institution", "add", "Clinic B", "--issuer", "CLB", "--aet", "CLINIC_B",
              "--read-rule", "DX:urgent")
        dxhub(s, "institution", "set", "Main Hospital", "--reads-for", "Clinic A", "--reads-for",
              "Clinic B")
        cls.tokens = {}
        for user, role, institution in (("doc_a", "clinician", "Clinic A"),
                                        ("doc_b", "clinician", "Clinic B"),
                                        ("rad_a", "radiologist", "Clinic A"),
                                        ("rad1", "radiologist", "Main Hospital"),
                                        ("rad2", "radiologist", "Main Hospital")):
            dxhub(s, "user", "add", user, "--role", role, "--institution", institution,
                  stdin=PASSWORD + "\n")
            cls.tokens[user] = dxhub(s, "user", "token", user, "--token-name",
                                     "tests").strip().splitlines()[-1]
        s.start()
        for study, calling, modality in ((STUDY_A, "CLINIC_A", "CT"), (STUDY_B, "CLINIC_B", "CT"),
                                         (STUDY_DX, "CLINIC_B", "DX")):
            path = harness.write_instance(os.path.join(cls.tmp, study + ".dcm"), study + ".1.1",
                                          study_uid=study, patient_id="P001",
                                          patient_name="Wang^Xiaoming")
            if modality != "CT":
                subprocess.run(["dcmodify", "-nb", "-m", f"(0008,0060)={modality}", path],
                               check=True, capture_output=True)
            rc, out = harness.storescu(s, [path], calling=calling)
            assert rc == 0, out

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def call(self, user, path, body=None, method=None, accept=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.server.http_port}{path}", data=data,
                                     method=method or ("GET" if body is None else "POST"))
        if body is not None:
            req.add_header("Content-Type", "application/json")
        if accept:
            req.add_header("Accept", accept)
        req.add_header("Authorization", "Bearer " + (self.server.token if user == "admin"
                                                     else self.tokens[user]))
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def json_of(self, user, path, body=None, method=None, expect=200):
        status, _, answer = self.call(user, path, body, method)
        self.assertEqual(status, expect, f"{method or 'GET/POST'} {path} as {user}: {answer[:300]}")
        return json.loads(answer)

    def queue(self, user, query=""):
        return self.json_of(user, "/api/read-requests" + query)["requests"]

    def wado_instance(self, user, study, series, sop):
        status, headers, body = self.call(
            user, f"/dicom-web/studies/{study}/series/{series}/instances/{sop}",
            accept='multipart/related; type="application/dicom"')
        self.assertEqual(status, 200, body[:300])
        raw = f"Content-Type: {headers['Content-Type']}\r\n\r\n".encode() + body
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
        parts = [p.get_payload(decode=True) for p in msg.iter_parts()]
        self.assertEqual(len(parts), 1)
        path = os.path.join(self.tmp, sop + ".dcm")
        with open(path, "wb") as f:
            f.write(parts[0])
        return path

    def assert_valid(self, path):
        r = subprocess.run(["dciodvfy", path], capture_output=True, text=True)
        errors = [line for line in (r.stdout + r.stderr).splitlines() if line.startswith("Error")]
        self.assertEqual(errors, [], r.stdout + r.stderr)

    def test_a_clinic_request_is_claimed_reported_signed_and_seen_by_the_clinic_only(self):
        # Clinic A asks; clinic B cannot even name the study.
        self.json_of("doc_b", f"/api/studies/{STUDY_A}/read-requests", {}, expect=404)
        request = self.json_of("doc_a", f"/api/studies/{STUDY_A}/read-requests",
                               {"priority": "urgent", "reason": "Cough for 3 weeks"}, expect=201)
        self.assertEqual((request["status"], request["institution"], request["priority"]),
                         ("requested", "Clinic A", "urgent"))
        self.json_of("doc_a", f"/api/studies/{STUDY_A}/read-requests", {}, expect=409)
        rid = request["id"]

        # The hospital's queue shows it with the clinic, the reason and the due time; clinic B's
        # queue does not; clinic A's own radiologist may not claim what A asked others to read.
        row = next(r for r in self.queue("rad1") if r["id"] == rid)
        self.assertEqual((row["institution"], row["reason"], row["can_claim"]),
                         ("Clinic A", "Cough for 3 weeks", True))
        self.assertNotIn(rid, [r["id"] for r in self.queue("doc_b")])
        self.assertFalse(next(r for r in self.queue("rad_a") if r["id"] == rid)["can_claim"])
        self.json_of("rad_a", f"/api/read-requests/{rid}/claim", {}, expect=403)
        self.json_of("doc_a", f"/api/read-requests/{rid}/claim", {}, expect=403)  # a clinician

        # One reader claims; the second learns who holds it and cannot write the report.
        claimed = self.json_of("rad1", f"/api/read-requests/{rid}/claim", {})
        self.assertEqual((claimed["status"], claimed["claimed_by"]), ("claimed", "rad1"))
        status, _, answer = self.call("rad2", f"/api/read-requests/{rid}/claim", {})
        self.assertEqual(status, 409)
        self.assertIn("claimed by rad1", json.loads(answer)["message"])
        self.json_of("rad2", f"/api/studies/{STUDY_A}/report", {"impression": "x"}, method="PUT",
                     expect=409)
        self.assertEqual([r["id"] for r in self.queue("rad1", "?mine=1")], [rid])

        # The draft is the author's alone.
        draft = self.json_of("rad1", f"/api/studies/{STUDY_A}/report",
                             {"findings": "右下肺斑片影。Right lower lobe opacity.",
                              "impression": "Pneumonia."}, method="PUT")
        self.assertEqual((draft["version"], draft["status"]), (1, "draft"))
        for user in ("doc_a", "rad2"):
            seen = self.json_of(user, f"/api/studies/{STUDY_A}/reports")
            self.assertEqual((seen["reports"], seen["draft"]), ([], None), user)
        mine = self.json_of("rad1", f"/api/studies/{STUDY_A}/reports")
        self.assertEqual(mine["draft"]["impression"], "Pneumonia.")
        self.assertTrue(mine["can_write"])

        signed = self.json_of("rad1", f"/api/studies/{STUDY_A}/report/sign", {"version": 1})
        self.assertEqual(signed["status"], "signed")
        self.json_of("rad1", f"/api/studies/{STUDY_A}/report/sign", {"version": 1}, expect=409)
        self.assertEqual(self.json_of("doc_a", f"/api/read-requests/{rid}")["status"], "signed")

        # The clinic sees the signed report, its PDF and its DICOM objects; clinic B sees nothing.
        seen = self.json_of("doc_a", f"/api/studies/{STUDY_A}/reports")
        self.assertEqual(len(seen["reports"]), 1)
        report = seen["reports"][0]
        self.assertEqual((report["author"], report["findings"]),
                         ("rad1", "右下肺斑片影。Right lower lobe opacity."))
        status, headers, pdf = self.call("doc_a", report["pdf"])
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/pdf")
        self.assertTrue(pdf.startswith(b"%PDF-"))
        for path in (f"/api/studies/{STUDY_A}/reports", report["pdf"]):
            self.assertEqual(self.call("doc_b", path)[0], 404, path)

        detail = self.json_of("doc_a", f"/api/studies/{STUDY_A}")
        by_modality = {s["modality"]: s for s in detail["series"]}
        self.assertIn("SR", by_modality)
        self.assertIn("DOC", by_modality)
        sr = self.wado_instance("doc_a", STUDY_A, by_modality["SR"]["series_instance_uid"],
                                report["sr_sop_instance_uid"])
        self.assert_valid(sr)
        dump = subprocess.run(["dsrdump", "+Pl", sr], capture_output=True, text=True).stdout
        for text in ("VERIFIED", "Pneumonia.", "右下肺斑片影", "Main Hospital"):
            self.assertIn(text, dump)
        # The report is not an image: the study's AI summary still counts one.
        self.assertEqual(self.json_of("doc_a", f"/api/studies/{STUDY_A}/ai")["summary"]["images"], 1)
        doc = self.wado_instance("doc_a", STUDY_A, by_modality["DOC"]["series_instance_uid"],
                                 report["pdf_sop_instance_uid"])
        self.assert_valid(doc)

        # The clinic's PACS finds the report over C-FIND too.
        rc, out = harness.dcmtk("findscu", self.server, "CLINIC_A",
                                ["QueryRetrieveLevel=SERIES", f"StudyInstanceUID={STUDY_A}",
                                 "Modality=SR", "SeriesInstanceUID"])
        self.assertEqual(rc, 0, out)
        self.assertIn(by_modality["SR"]["series_instance_uid"], out)

        # An addendum is a new version with its own objects; the first stays as signed.
        self.json_of("rad2", f"/api/studies/{STUDY_A}/report",
                     {"impression": "Addendum: compare with the prior film."}, method="PUT")
        self.json_of("rad2", f"/api/studies/{STUDY_A}/report/sign", {"version": 2})
        reports = self.json_of("doc_a", f"/api/studies/{STUDY_A}/reports")["reports"]
        self.assertEqual([(r["version"], r["author"], r["addendum"]) for r in reports],
                         [(1, "rad1", False), (2, "rad2", True)])
        self.assertEqual(reports[0]["impression"], "Pneumonia.")
        self.assertNotEqual(reports[0]["sr_sop_instance_uid"], reports[1]["sr_sop_instance_uid"])
        sr2 = self.wado_instance("doc_a", STUDY_A, by_modality["SR"]["series_instance_uid"],
                                 reports[1]["sr_sop_instance_uid"])
        self.assert_valid(sr2)
        header = subprocess.run(["dcmdump", sr2], capture_output=True, text=True).stdout
        self.assertIn("PredecessorDocumentsSequence", header)
        self.assertIn(reports[0]["sr_sop_instance_uid"], header)

        # Every step is in the audit log.
        status, audit = self.server.get("/api/audit?limit=1000")
        actions = {(e["user"], e["action"], e["object"]) for e in audit["entries"]}
        self.assertIn(("rad1", "POST", f"/api/read-requests/{rid}/claim"), actions)
        self.assertIn(("rad1", "POST", f"/api/studies/{STUDY_A}/report/sign"), actions)

    def test_a_clinics_rule_requests_its_complete_studies_and_turnaround_is_per_clinic(self):
        deadline = time.time() + 90
        mine = []
        while time.time() < deadline:
            mine = [r for r in self.queue("doc_b") if r["study_instance_uid"] == STUDY_DX]
            if mine:
                break
            time.sleep(0.5)
        self.assertEqual(len(mine), 1, "the DX rule of clinic B opened no request")
        self.assertEqual((mine[0]["priority"], mine[0]["requested_by"], mine[0]["institution"]),
                         ("urgent", "rule", "Clinic B"))
        # Clinic B's CT has no rule; clinic A never sees B's request.
        self.assertEqual([r for r in self.queue("doc_b") if r["study_instance_uid"] == STUDY_B],
                         [])
        self.assertNotIn(STUDY_DX, [r["study_instance_uid"] for r in self.queue("doc_a")])
        # The clinic withdraws a request nobody has claimed (its readers may not); the rule does
        # not reopen it.
        self.json_of("rad1", f"/api/read-requests/{mine[0]['id']}/cancel", {}, expect=403)
        self.json_of("doc_b", f"/api/read-requests/{mine[0]['id']}/cancel", {})
        self.assertEqual(self.json_of("rad1", f"/api/read-requests/{mine[0]['id']}")["status"],
                         "cancelled")

        stats = self.json_of("rad1", "/api/reading/turnaround")
        self.assertEqual(stats["targets_minutes"]["urgent"], 30)
        by_clinic = {i["institution"]: i for i in stats["institutions"]}
        self.assertIn("Clinic B", by_clinic)
        self.assertGreaterEqual(by_clinic["Clinic B"]["requested"], 1)
        own = self.json_of("doc_b", "/api/reading/turnaround")["institutions"]
        self.assertEqual([i["institution"] for i in own], ["Clinic B"])

    def anonymous(self, path, body=None, cookie=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.server.http_port}{path}", data=data,
                                     method="GET" if body is None else "POST")
        if body is not None:
            req.add_header("Content-Type", "application/json")
        if cookie:
            req.add_header("Cookie", cookie)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def test_a_share_link_opens_without_an_account_until_revoked_or_expired(self):
        self.json_of("doc_b", f"/api/studies/{STUDY_A}/shares", {"kind": "link"}, expect=404)
        share = self.json_of("doc_a", f"/api/studies/{STUDY_A}/shares",
                             {"kind": "link", "expires_hours": 24, "access_code": "4711",
                              "recipient": "the patient"}, expect=201)
        self.assertTrue(share["access_code"])
        token, url = share["token"], share["url"]
        self.assertEqual(url, f"/share/{token}")
        # Only the hash is kept: the list never shows the token again.
        listed = self.json_of("doc_a", f"/api/studies/{STUDY_A}/shares")["shares"]
        self.assertNotIn(token, json.dumps(listed))

        status, headers, page = self.anonymous(url)
        self.assertEqual(status, 200)
        self.assertIn(b"/js/share.js", page)
        self.assertEqual(self.anonymous(url + "/open", {})[0], 401)  # the code is needed
        status, _, answer = self.anonymous(url + "/open", {"access_code": "1234"})
        self.assertEqual(status, 403, answer)
        status, headers, answer = self.anonymous(url + "/open", {"access_code": "4711"})
        self.assertEqual(status, 200, answer)
        study = json.loads(answer)
        self.assertEqual(study["patient_name"], "Wang^Xiaoming")
        self.assertEqual([s["modality"] for s in study["series"]], ["CT"])
        cookie = headers["Set-Cookie"].split(";")[0]
        self.assertIn(f"Path=/share/{token}", headers["Set-Cookie"])
        self.assertIn("HttpOnly", headers["Set-Cookie"])
        sop = study["series"][0]["instances"][0]["sop_instance_uid"]
        image = f"{url}/instances/{sop}/rendered"
        status, headers, body = self.anonymous(image, cookie=cookie)
        self.assertEqual((status, headers["Content-Type"]), (200, "image/jpeg"))
        self.assertEqual(self.anonymous(image)[0], 401)  # not opened in this browser
        # The link opens its own study's images only, and an unknown token nothing.
        status, _, _ = self.anonymous(f"{url}/instances/{STUDY_B}.1.1/rendered", cookie=cookie)
        self.assertEqual(status, 404)
        self.assertEqual(self.anonymous("/share/" + "0" * 64 + "/open", {})[0], 404)
        self.assertEqual(self.anonymous("/share/not-a-token")[0], 404)

        opened = self.json_of("doc_a", f"/api/studies/{STUDY_A}/shares")["shares"][0]
        self.assertEqual(opened["opened"], 1)
        status, audit = self.server.get("/api/audit?limit=1000")
        entries = [(e["user"], e["action"], e["object"]) for e in audit["entries"]]
        self.assertIn((f"share:{share['id']}", "share.open", STUDY_A), entries)
        self.assertIn((f"share:{share['id']}", "share.refused", STUDY_A), entries)

        # Revoked: the link and its opened grant end at once.
        self.json_of("doc_b", f"/api/shares/{share['id']}/revoke", {}, expect=404)
        self.json_of("doc_a", f"/api/shares/{share['id']}/revoke", {})
        self.assertEqual(self.anonymous(url + "/open", {"access_code": "4711"})[0], 410)
        self.assertEqual(self.anonymous(image, cookie=cookie)[0], 410)

        # Expired: another link whose time ran out (set in the index, as a day passing would).
        other = self.json_of("doc_a", f"/api/studies/{STUDY_A}/shares",
                             {"kind": "link", "expires_hours": 1}, expect=201)
        self.assertEqual(self.anonymous(other["url"] + "/open", {})[0], 200)
        subprocess.run(["sqlite3", os.path.join(self.server.var, "index.sqlite"),
                        f"UPDATE shares SET expires_at = 1 WHERE id = {other['id']}"], check=True)
        status, _, answer = self.anonymous(other["url"] + "/open", {})
        self.assertEqual(status, 410)
        self.assertIn("expired", json.loads(answer)["message"])

    def test_a_study_shared_with_another_institution_is_visible_there_until_revoked(self):
        self.assertEqual(self.call("doc_b", f"/api/studies/{STUDY_A}")[0], 404)
        share = self.json_of("doc_a", f"/api/studies/{STUDY_A}/shares",
                             {"kind": "institution", "institution": "Clinic B"}, expect=201)
        self.assertEqual(self.call("doc_b", f"/api/studies/{STUDY_A}")[0], 200)
        status, _, body = self.call("doc_b", "/dicom-web/studies", accept="application/dicom+json")
        self.assertIn(STUDY_A, body.decode())
        self.json_of("doc_a", f"/api/shares/{share['id']}/revoke", {})
        self.assertEqual(self.call("doc_b", f"/api/studies/{STUDY_A}")[0], 404)

    def test_a_national_id_rule_links_one_persons_records_across_clinics(self):
        import pydicom
        from pydicom.dataset import Dataset
        from pydicom.sequence import Sequence
        studies = {"1.2.826.0.1.3680043.8.498.8111": ("P-NAT-1", "CLINIC_A"),
                   "1.2.826.0.1.3680043.8.498.8112": ("P-NAT-2", "CLINIC_B")}
        for study, (pid, calling) in studies.items():
            path = harness.write_instance(os.path.join(self.tmp, study + ".dcm"), study + ".1.1",
                                          study_uid=study, patient_id=pid)
            ds = pydicom.dcmread(path)
            other = Dataset()
            other.PatientID, other.IssuerOfPatientID = "110101197003120011", "CN-ID"
            other.TypeOfPatientID = "TEXT"
            ds.OtherPatientIDsSequence = Sequence([other])
            ds.save_as(path)
            rc, out = harness.storescu(self.server, [path], calling=calling)
            self.assertEqual(rc, 0, out)
        a, b = studies
        history = lambda user, uid: sorted(s["study_instance_uid"] for s in self.json_of(
            user, f"/api/studies/{uid}/history")["studies"])
        self.assertEqual(history("rad1", a), [a])
        # Only an administrator of the whole region sets the rule; it links what is stored.
        self.json_of("rad1", "/api/patient-link-rules", {"issuer": "CN-ID"}, expect=403)
        answer = self.json_of("admin", "/api/patient-link-rules", {"issuer": "CN-ID"})
        self.assertGreaterEqual(answer["linked"], 1)
        self.assertEqual(self.json_of("admin", "/api/patient-link-rules")["issuers"], ["CN-ID"])
        self.assertEqual(history("rad1", a), sorted([a, b]))
        # Each clinic still sees only its own part of the person's history.
        self.assertEqual(history("doc_a", a), [a])

    def test_bad_requests_get_clear_errors(self):
        for path, body, method in (
                (f"/api/studies/{STUDY_A}/read-requests", {"priority": "whenever"}, "POST"),
                (f"/api/studies/{STUDY_A}/read-requests", {"reason": 7}, "POST"),
                ("/api/studies/not..a..uid/read-requests", {}, "POST"),
                (f"/api/studies/{STUDY_A}/report/sign", {"version": "one"}, "POST"),
                (f"/api/studies/{STUDY_A}/report", ["findings"], "PUT"),
                ("/api/read-requests?status=everything", None, "GET"),
                ("/api/read-requests/99999999999/claim", {}, "POST")):
            status, _, answer = self.call("rad1", path, body, method)
            self.assertEqual(status, 400, f"{method} {path}: {answer[:200]}")
            self.assertIn("error", json.loads(answer))
        self.assertEqual(self.call("rad1", "/api/read-requests/424242")[0], 404)
        # A viewer cannot request; a clinician cannot write reports.
        self.assertEqual(self.call("doc_a", f"/api/studies/{STUDY_A}/report",
                                   {"impression": "x"}, "PUT")[0], 403)

    def test_the_reading_workflow_in_chromium(self):
        node_modules = os.path.join(harness.TESTDATA, "e2e", "node_modules")
        self.assertTrue(os.path.isdir(os.path.join(node_modules, "playwright-core")),
                        "run scripts/fetch-test-data.sh (make testdata) first")
        # The chest CR pair from clinic A: the reference model calls both images high-risk.
        cr_study, files = cr_pair(self.tmp)
        rc, out = harness.storescu(self.server, files, calling="CLINIC_A")
        self.assertEqual(rc, 0, out)
        ai = harness.wait_for_ai(self.server, cr_study)
        screenshots = os.path.abspath(SCREENSHOTS)
        os.makedirs(screenshots, exist_ok=True)
        config = {"url": f"http://127.0.0.1:{self.server.http_port}", "study": cr_study,
                  "sop": sorted(i["sop_instance_uid"] for i in ai["images"])[0],
                  "password": PASSWORD, "clinicA": "doc_a", "clinicB": "doc_b", "reader": "rad1",
                  "screenshots": screenshots}
        r = subprocess.run(["node", os.path.join(E2E, "reading.test.js")],
                           env=dict(os.environ, NODE_PATH=node_modules,
                                    DXHUB_E2E=json.dumps(config)),
                           capture_output=True, text=True, timeout=300)
        print(r.stdout)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + self.server.read_log()[-3000:])


if __name__ == "__main__":
    unittest.main()
