"""The doctors' API behind the web app: the worklist after real C-STOREs and real AI results,
decisions on high-risk findings (roles, CSRF, validation, audit), statistics, and an expired
session. The browser tests (test_web.py) drive the same routes through the pages."""

import json
import os
import sqlite3
import tempfile
import unittest

import pydicom
from pydicom.uid import generate_uid

import harness
from harness import Server
from test_auth import call

CR = os.path.join(harness.SAMPLES, "cr-chest", "gdcm-CR-MONO1-10-chest.dcm")
MODELS = os.path.join(os.path.dirname(__file__), "..", "..", "models")


def cr_pair(directory):
    """The shared chest CR and a copy of it as a second image of the same study: the bundled
    reference model calls both high-risk, so one can be confirmed and the other rejected."""
    ds = pydicom.dcmread(CR)
    study = ds.StudyInstanceUID or generate_uid()
    series = ds.SeriesInstanceUID or generate_uid()
    paths = []
    for n in range(2):
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = n + 1
        ds.PatientName = "WANG^XIAOMING"
        ds.PatientID = "P-REVIEW-1"
        ds.StudyDescription = "Chest PA"
        paths.append(os.path.join(directory, f"cr{n}.dcm"))
        ds.save_as(paths[-1])
    return str(study), paths


class ReviewTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.server = Server(extra_args=["--model-dir", MODELS]).start()
        cls.study, files = cr_pair(cls.tmp.name)
        rc, out = harness.storescu(cls.server, files)
        assert rc == 0, out
        cls.ai = harness.wait_for_ai(cls.server, cls.study)
        cls.sops = sorted({i["sop_instance_uid"] for i in cls.ai["images"]})
        for name, role in [("viewer2", "viewer"), ("doctor2", "radiologist")]:
            harness.add_user(cls.server, name, role, f"{name} password!")

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.tmp.cleanup()

    def login(self, user):
        status, headers, body = call(
            self.server, "/api/login", "POST",
            json.dumps({"username": user, "password": f"{user} password!"}).encode(),
            {"Content-Type": "application/json"})
        self.assertEqual(status, 200, body)
        return {"Cookie": headers["Set-Cookie"].split(";")[0]}, json.loads(body)["csrf_token"]

    def decide(self, headers, body, study=None):
        status, _, answer = call(self.server, f"/api/studies/{study or self.study}/decisions",
                                 "POST", json.dumps(body).encode(),
                                 {"Content-Type": "application/json", **headers})
        return status, json.loads(answer)

    def test_1_worklist_shows_the_ai_counts_and_awaits_confirmation(self):
        self.assertEqual(self.ai["summary"]["high_risk"], 2, self.ai)
        status, page = self.server.get("/api/worklist?risk=high")
        self.assertEqual(status, 200, page)
        rows = [s for s in page["studies"] if s["study_instance_uid"] == self.study]
        self.assertEqual(len(rows), 1)
        row = rows[0]
        self.assertEqual((row["ai"]["images"], row["ai"]["high_risk"], row["ai"]["normal"],
                          row["ai"]["failed"], row["ai"]["pending"]), (2, 2, 0, 0, 0))
        self.assertEqual(row["review_status"], "awaiting")
        self.assertEqual(row["patient_name"], "WANG^XIAOMING")
        self.assertFalse(row["overdue"])
        self.assertEqual(page["wait_cap_minutes"], 120)
        # Text search, paging and bad filters.
        self.assertEqual(self.server.get("/api/worklist?q=xiaoming")[1]["total"], 1)
        self.assertEqual(self.server.get("/api/worklist?q=nobody")[1]["total"], 0)
        self.assertEqual(self.server.get("/api/worklist?modality=CR")[1]["total"], 1)
        self.assertEqual(self.server.get("/api/worklist?modality=CT")[1]["total"], 0)
        for bad in ["risk=purple", "status=maybe", "limit=0", "from=yesterday", "colour=red"]:
            status, body = self.server.get(f"/api/worklist?{bad}")
            self.assertEqual(status, 400, bad)
            self.assertTrue(body["message"], bad)
        # The stamp moves when something changes, and shows no patient data.
        status, stamp = self.server.get("/api/worklist/stamp")
        self.assertEqual(status, 200)
        self.assertEqual(set(stamp), {"stamp"})

    def test_2_decisions_need_a_radiologist_and_the_csrf_token(self):
        viewer, viewer_csrf = self.login("viewer2")
        doctor, csrf = self.login("doctor2")
        confirm = {"verdict": "confirm", "sop_instance_uid": self.sops[0],
                   "comment": "右肺上叶结节 — nodule, right upper lobe"}
        self.assertEqual(self.decide({**viewer, "X-CSRF-Token": viewer_csrf}, confirm)[0], 403)
        self.assertEqual(self.decide(doctor, confirm)[0], 403)  # no CSRF token
        self.assertEqual(self.decide({**doctor, "X-CSRF-Token": "0" * 64}, confirm)[0], 403)
        with_csrf = {**doctor, "X-CSRF-Token": csrf}
        for bad, status in [({"verdict": "maybe"}, 400), ({}, 400),
                            ({"verdict": "confirm", "sop_instance_uid": "../../etc"}, 400),
                            ({"verdict": "confirm", "sop_instance_uid": "1.2.3.4"}, 404),
                            ({"verdict": "confirm", "comment": 7}, 400)]:
            answer = self.decide(with_csrf, bad)
            self.assertEqual(answer[0], status, (bad, answer))
            self.assertIn("message", answer[1])
        self.assertEqual(self.decide(with_csrf, confirm, study="../../etc")[0], 404)
        self.assertEqual(self.decide(with_csrf, confirm, study="1.2.3.999")[0], 404)

        status, answer = self.decide(with_csrf, confirm)
        self.assertEqual((status, answer["review_status"]), (201, "partial"), answer)
        status, answer = self.decide(with_csrf, {"verdict": "reject",
                                                 "sop_instance_uid": self.sops[1]})
        self.assertEqual((status, answer["review_status"]), (201, "confirmed"), answer)

        status, review = self.server.get(f"/api/studies/{self.study}/review")
        self.assertEqual(status, 200)
        self.assertEqual(review["review_status"], "confirmed")
        self.assertEqual(review["reviewed_by"], "doctor2")
        verdicts = {d["sop_instance_uid"]: (d["verdict"], d["user"], d["comment"])
                    for d in review["decisions"]}
        self.assertEqual(verdicts[self.sops[0]], ("confirm", "doctor2", confirm["comment"]))
        self.assertEqual(verdicts[self.sops[1]][0], "reject")

        # Every decision is in the audit log with who, what and from where.
        _, audit = self.server.get("/api/audit?user=doctor2")
        decisions = [(e["action"], e["object"], e["detail"]) for e in audit["entries"]
                     if e["action"].startswith("decision.")]
        self.assertIn(("decision.confirm", self.sops[0], confirm["comment"]), decisions)
        self.assertIn(("decision.reject", self.sops[1], ""), decisions)
        self.assertTrue(all(e["remote"] == "127.0.0.1" for e in audit["entries"]))

        # Statistics per model version reflect both.
        status, stats = self.server.get("/api/stats")
        self.assertEqual(status, 200)
        model = [m for m in stats["models"] if m["model"] == "brightness-reference"][0]
        self.assertEqual((model["high_risk"], model["confirmed"], model["rejected"],
                          model["undecided"]), (2, 1, 1, 0))
        self.assertEqual(model["confirm_rate"], 0.5)
        self.assertGreaterEqual(model["turnaround_s"]["received_to_ai"]["p50"], 0)
        self.assertIsNotNone(model["turnaround_s"]["received_to_confirmed"]["p50"])
        self.assertEqual(self.server.get("/api/stats?from=20990101")[1]["models"], [])
        self.assertEqual(self.server.get("/api/stats?from=soon")[0], 400)

    def test_3_worklist_reads_are_audited_and_expired_sessions_refused(self):
        viewer, _ = self.login("viewer2")
        self.assertEqual(call(self.server, "/api/worklist", headers=viewer)[0], 200)
        _, audit = self.server.get("/api/audit?user=viewer2")
        self.assertIn(("read", "/api/worklist"),
                      [(e["action"], e["object"]) for e in audit["entries"]])
        # The session row's expiry is what the server checks, not the cookie's Max-Age.
        with sqlite3.connect(os.path.join(self.server.var, "index.sqlite")) as db:
            db.execute("UPDATE sessions SET expires_at = 1 WHERE user_pk = "
                       "(SELECT id FROM users WHERE username = 'viewer2')")
        status, _, body = call(self.server, "/api/worklist", headers=viewer)
        self.assertEqual(status, 401, body)
        self.assertEqual(call(self.server, "/api/me", headers=viewer)[0], 401)


if __name__ == "__main__":
    unittest.main()
