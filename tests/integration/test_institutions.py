"""Institutions of a region on one archive: studies attributed by the sending AE title, the same
PatientID from two clinics kept as two patients, and every way to read patient data (the REST
API, QIDO-RS, WADO-RS, the worklist, C-FIND, C-GET) limited to the caller's institution and the
institutions it reads for. Driven with `dxhub institution`/`dxhub user`, storescu, findscu,
getscu and HTTP as each institution's users."""

import json
import os
import re
import tempfile
import unittest
import urllib.error
import urllib.request

import harness
from harness import Server

STUDY_A, STUDY_B, STUDY_H = ("1.2.826.0.1.3680043.8.498.7001", "1.2.826.0.1.3680043.8.498.7002",
                             "1.2.826.0.1.3680043.8.498.7003")


dcmtk = harness.dcmtk


def dxhub(server, *args, stdin=None):
    r = harness.run_dxhub(*args, "--data", server.var, input=stdin)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


class InstitutionsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="dxhub-inst-")
        config = os.path.join(cls.tmp, "dxhub.toml")
        with open(config, "w") as f:
            for aet in ("CLINIC_A", "CLINIC_B", "HOSP_PACS"):
                f.write(f'[[query-ae]]\naet = "{aet}"\nhost = "127.0.0.1"\nport = 104\n')
        cls.server = Server(extra_args=["--config", config, "--no-ai"])
        cls.server.start()
        cls.server.stop()
        s = cls.server
        dxhub(s, "institution", "add", "Main Hospital", "--issuer", "HOSP", "--aet", "HOSP_PACS")
        dxhub(s, "institution", "add", "Clinic A", "--issuer", "CLA", "--aet", "CLINIC_A")
        dxhub(s, "institution", "add", "Clinic B", "--issuer", "CLB", "--aet", "CLINIC_B@127.0.0.1")
        dxhub(s, "institution", "set", "Main Hospital", "--reads-for", "Clinic A", "--reads-for",
              "Clinic B")
        cls.tokens = {}
        for user, role, institution in (("doc_a", "clinician", "Clinic A"),
                                        ("doc_b", "clinician", "Clinic B"),
                                        ("rad_a", "radiologist", "Clinic A"),
                                        ("rad", "radiologist", "Main Hospital")):
            dxhub(s, "user", "add", user, "--role", role, "--institution", institution,
                  stdin="correct horse battery staple\n")
            out = dxhub(s, "user", "token", user, "--token-name", "tests")
            cls.tokens[user] = out.strip().splitlines()[-1]
        s.start()
        # The same PatientID at both clinics; the hospital's own patient.
        for study, pid, calling in ((STUDY_A, "P001", "CLINIC_A"), (STUDY_B, "P001", "CLINIC_B"),
                                    (STUDY_H, "H77", "HOSP_PACS")):
            path = harness.write_instance(os.path.join(cls.tmp, study + ".dcm"), study + ".1.1",
                                          study_uid=study, patient_id=pid)
            rc, out = harness.storescu(s, [path], calling=calling)
            assert rc == 0, out

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def get_as(self, user, path, accept=None, body=None, content_type="application/json",
               method=None):
        data = None if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.server.http_port}{path}", data=data,
                                     method=method or ("GET" if body is None else "POST"))
        if body is not None:
            req.add_header("Content-Type", content_type)
        token = self.server.token if user == "admin" else self.tokens[user]
        req.add_header("Authorization", "Bearer " + token)
        if accept:
            req.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                body = r.read()
                return r.status, body
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def studies_of(self, user):
        status, body = self.get_as(user, "/api/studies?limit=100")
        self.assertEqual(status, 200, body)
        return sorted(s["study_instance_uid"] for s in json.loads(body)["studies"])

    def test_studies_are_attributed_and_patients_kept_apart(self):
        by_uid = {s["study_instance_uid"]: s for s in self.server.all_studies()}
        self.assertEqual(by_uid[STUDY_A]["institution"], "Clinic A")
        self.assertEqual(by_uid[STUDY_B]["institution"], "Clinic B")
        self.assertEqual(by_uid[STUDY_H]["institution"], "Main Hospital")
        self.assertEqual(by_uid[STUDY_A]["issuer_of_patient_id"], "CLA")
        self.assertEqual(by_uid[STUDY_B]["issuer_of_patient_id"], "CLB")
        status, stats = self.server.get("/api/statistics")
        self.assertEqual(status, 200, stats)
        self.assertEqual(stats["patients"], 3)  # P001@CLA, P001@CLB, H77@HOSP
        listing = harness.run_dxhub("institution", "list", "--data", self.server.var).stdout
        self.assertRegex(listing, r"Main Hospital\s+HOSP\s+HOSP_PACS\s+Clinic A, Clinic B")
        self.assertRegex(listing, r"Clinic B\s+CLB\s+CLINIC_B@127.0.0.1")

    def test_each_user_sees_their_institution_and_those_it_reads_for(self):
        self.assertEqual(self.studies_of("doc_a"), [STUDY_A])
        self.assertEqual(self.studies_of("doc_b"), [STUDY_B])
        self.assertEqual(self.studies_of("rad"), sorted([STUDY_A, STUDY_B, STUDY_H]))
        status, me = self.get_as("doc_a", "/api/me")
        self.assertEqual(json.loads(me)["institution"], "Clinic A")

    def test_another_institutions_study_does_not_exist_for_a_clinic(self):
        paths = [f"/api/studies/{STUDY_B}", f"/api/studies/{STUDY_B}/ai",
                 f"/api/studies/{STUDY_B}/review", f"/api/instances/{STUDY_B}.1.1/ai",
                 f"/dicom-web/studies/{STUDY_B}/metadata",
                 f"/dicom-web/studies/{STUDY_B}/series/{STUDY_B}.1/instances/{STUDY_B}.1.1"]
        for path in paths:
            status, body = self.get_as("doc_a", path)
            self.assertEqual(status, 404, f"{path}: {body[:200]}")
            status, body = self.get_as("doc_b", path)
            self.assertEqual(status, 200, f"{path}: {body[:200]}")
        status, body = self.get_as("doc_a", "/dicom-web/studies", accept="application/dicom+json")
        self.assertEqual(status, 200, body)
        self.assertEqual([s["0020000D"]["Value"][0] for s in json.loads(body)], [STUDY_A])
        status, body = self.get_as("doc_a", f"/dicom-web/studies/{STUDY_B}/series",
                                   accept="application/dicom+json")
        self.assertIn(status, (200, 204))
        self.assertNotIn(STUDY_B, body.decode())
        status, body = self.get_as("doc_a", "/api/worklist")
        self.assertEqual(status, 200, body)
        self.assertEqual([r["study_instance_uid"] for r in json.loads(body)["studies"]], [STUDY_A])

    def test_institutions_and_counts_as_each_user_sees_them(self):
        def names(user):
            status, body = self.get_as(user, "/api/institutions")
            self.assertEqual(status, 200, body)
            return [i["name"] for i in json.loads(body)["institutions"]], json.loads(body)

        self.assertEqual(names("doc_a")[0], ["Clinic A"])
        self.assertNotIn("senders", names("doc_a")[1]["institutions"][0])
        self.assertEqual(names("rad")[0], ["Clinic A", "Clinic B", "Main Hospital"])
        listed, body = names("admin")
        self.assertIn("Main Hospital", listed)
        hospital = [i for i in body["institutions"] if i["name"] == "Main Hospital"][0]
        self.assertEqual(hospital["senders"], ["HOSP_PACS"])
        self.assertEqual(hospital["reads_for"], ["Clinic A", "Clinic B"])

        status, body = self.get_as("doc_a", "/api/statistics")
        self.assertEqual(status, 200, body)
        self.assertEqual((json.loads(body)["studies"], json.loads(body)["patients"]), (1, 1))

        clinic_c = {"name": "Clinic C", "issuer": "CLC", "senders": ["CLINIC_C@10.1.2.3"],
                    "aliases": ["Clinic C Health Centre"]}
        status, body = self.get_as("admin", "/api/institutions", body=clinic_c)
        self.assertEqual(status, 201, body)
        self.assertEqual(json.loads(body)["senders"], ["CLINIC_C@10.1.2.3"])
        status, body = self.get_as("admin", "/api/institutions", body=clinic_c)
        self.assertEqual(status, 409, body)
        status, body = self.get_as("admin", "/api/institutions",
                                   body={"name": "Clinic D", "senders": ["X@clinic-d.example"]})
        self.assertEqual(status, 400, body)
        status, body = self.get_as("doc_a", "/api/institutions", body={"name": "Mine"})
        self.assertEqual(status, 403, body)
        self.assertIn("institution.add", [e["action"] for e in self.server.get(
            "/api/audit?limit=1000")[1]["entries"]])

    def test_every_route_of_patient_data_keeps_to_the_scope(self):
        """The access matrix: every route the route table marks as patient data (read from
        /api/routes, so a new route fails here until it is added), called for clinic B's study by
        a radiologist of clinic A (answers as if it did not exist) and by the hospital's
        radiologist, who reads for clinic B (reaches it)."""
        status, body = self.server.get("/api/routes")
        self.assertEqual(status, 200, body)
        patient_routes = {(r["method"], r["pattern"]) for r in body["routes"] if r["patient_data"]}
        series_b, sop_b = STUDY_B + ".1", STUDY_B + ".1.1"
        lists = {  # listings: B's study is absent for the outsider, present for the insider
            ("GET", "/api/studies"), ("GET", "/api/worklist"), ("GET", "/api/read-requests"),
            ("GET", "/dicom-web/studies"),
            ("GET", "/dicom-web/series"), ("GET", "/dicom-web/instances"),
            ("GET", "/dicom-web/studies/([^/]+)/series"),
            ("GET", "/dicom-web/studies/([^/]+)/instances"),
            ("GET", "/dicom-web/studies/([^/]+)/series/([^/]+)/instances")}
        stow = {("POST", "/dicom-web/studies"), ("POST", "/dicom-web/studies/([^/]+)")}
        # Linking identities: administrators of the whole region only (tested on their own below).
        region = {("POST", "/api/patient-links"), ("POST", "/api/patient-links/remove"),
                  ("POST", "/api/patient-link-rules")}
        posts = {  # the body each POST (and PUT) route takes
            "/api/series/([^/]+)/process": {"operation": "mip"},
            "/api/studies/([^/]+)/read-requests": {"priority": "urgent"},
            "/api/read-requests/(\\d+)/claim": {},
            "/api/read-requests/(\\d+)/release": {},
            "/api/read-requests/(\\d+)/cancel": {},
            "/api/studies/([^/]+)/report/sign": {"version": 1},
            "/api/studies/([^/]+)/report": {"findings": "matrix", "impression": "matrix"},
            "/api/studies/([^/]+)/shares": {"kind": "link", "expires_hours": 1},
            "/api/shares/(\\d+)/revoke": {},
            "/api/deid/projects/([^/]+)/exports": {"study_uids": [STUDY_B]},
            "/api/studies/([^/]+)/viewed": {},
            "/api/studies/([^/]+)/decisions": {"verdict": "confirm", "comment": "matrix"},
            "/api/studies/([^/]+)/ai/rerun": {}}
        by_uid = {(m, p) for m, p in patient_routes if (m, p) not in lists | stow | region}
        # Every route is in exactly one group; the POSTs among the by-UID ones have a body.
        self.assertEqual({p for m, p in by_uid if m in ("POST", "PUT")}, set(posts))
        self.assertTrue(lists <= patient_routes and stow <= patient_routes and
                        region <= patient_routes)
        for method, pattern in sorted(region):
            for user in ("rad_a", "rad"):  # radiologists, not administrators
                status, answer = self.get_as(user, pattern, body={})
                self.assertEqual(status, 403, f"{pattern} as {user}: {answer[:200]}")

        # The insider queues a processing job on B's series first: its job routes need one.
        status, body = self.get_as("rad", f"/api/series/{series_b}/process",
                                   body=posts["/api/series/([^/]+)/process"])
        self.assertEqual(status, 202, body)
        job = str(json.loads(body)["id"])
        # And reads B's study for clinic B: a request and a signed report for the reading routes.
        status, body = self.get_as("rad", f"/api/studies/{STUDY_B}/read-requests", body={})
        self.assertEqual(status, 201, body)
        request = str(json.loads(body)["id"])
        for path, method, payload in (
                (f"/api/read-requests/{request}/claim", "POST", {}),
                (f"/api/studies/{STUDY_B}/report", "PUT", {"impression": "No acute findings."}),
                (f"/api/studies/{STUDY_B}/report/sign", "POST", {"version": 1})):
            status, body = self.get_as("rad", path, body=payload, method=method)
            self.assertEqual(status, 200, f"{path}: {body[:300]}")
        status, body = self.get_as("rad", f"/api/studies/{STUDY_B}/shares",
                                   body={"kind": "link"})
        self.assertEqual(status, 201, body)
        share = str(json.loads(body)["id"])
        status, body = self.get_as("admin", "/api/deid/projects", body={"name": "matrix"})
        self.assertEqual(status, 201, body)
        values = {"studies": STUDY_B, "series": series_b, "instances": sop_b,
                  "bulkdata": "7FE00010", "frames": "1", "processing": job, "files": "mip.png",
                  "read-requests": request, "reports": "1", "shares": share,
                  "projects": "matrix"}

        group = re.compile(r"\((?:\[[^\]]*\]|[^()\[])*\)")  # "([^/]+)", "(.+)", ...

        def fill(pattern):  # each group becomes the value its preceding path segment names
            while (m := group.search(pattern)):
                segment = pattern[:m.start()].rstrip("/").rsplit("/", 1)[-1]
                pattern = pattern[:m.start()] + values[segment] + pattern[m.end():]
            return pattern

        for method, pattern in sorted(by_uid):
            path = fill(pattern)
            body = posts.get(pattern) if method in ("POST", "PUT") else None
            status, answer = self.get_as("rad_a", path, accept="*/*", body=body, method=method)
            self.assertEqual(status, 404, f"{method} {path} as clinic A: {answer[:200]}")
            status, answer = self.get_as("rad", path, accept="*/*", body=body, method=method)
            if pattern.endswith("/files/([^/]+)") and status == 404:
                # The job may not have finished (or made that file): it still exists for them.
                self.assertNotIn(b"no such job", answer, path)
                continue
            self.assertNotIn(status, (401, 403, 404), f"{method} {path} as the hospital: "
                                                      f"{answer[:200]}")
        for method, pattern in sorted(lists):
            path = fill(pattern) + ("?limit=100" if pattern.startswith("/api") else "")
            accept = None if pattern.startswith("/api") else "application/dicom+json"
            status, answer = self.get_as("rad_a", path, accept=accept)
            self.assertIn(status, (200, 204), f"{path}: {answer[:200]}")
            self.assertNotIn(STUDY_B, answer.decode(), path)
            status, answer = self.get_as("rad", path, accept=accept)
            self.assertEqual(status, 200, f"{path}: {answer[:200]}")
            self.assertIn(STUDY_B, answer.decode(), path)

        # STOW into B's study: refused for clinic A (knowing the UID is not enough), stored for
        # the hospital that reads for clinic B.
        def part(sop):
            path = harness.write_instance(os.path.join(self.tmp, sop + ".dcm"), sop,
                                          study_uid=STUDY_B, patient_id="P001")
            with open(path, "rb") as f:
                return (b"--BOUNDARY\r\nContent-Type: application/dicom\r\n\r\n" + f.read() +
                        b"\r\n--BOUNDARY--\r\n")
        stow_type = 'multipart/related; type="application/dicom"; boundary=BOUNDARY'
        before = self.server.study(STUDY_B)["instance_count"]  # the image, the report's SR and PDF
        for path in ("/dicom-web/studies", f"/dicom-web/studies/{STUDY_B}"):
            status, answer = self.get_as("rad_a", path, accept="application/dicom+json",
                                         body=part(STUDY_B + ".1.7"), content_type=stow_type)
            self.assertEqual(status, 409, f"STOW {path} as clinic A: {answer[:300]}")
        self.assertEqual(self.server.study(STUDY_B)["instance_count"], before)
        status, answer = self.get_as("rad", f"/dicom-web/studies/{STUDY_B}",
                                     accept="application/dicom+json",
                                     body=part(STUDY_B + ".1.8"), content_type=stow_type)
        self.assertEqual(status, 200, answer[:300])
        self.assertEqual(self.server.study(STUDY_B)["instance_count"], before + 1)

    def test_linked_identities_show_one_persons_history(self):
        def history(user, study):
            status, body = self.get_as(user, f"/api/studies/{study}/history")
            if status == 404:
                return None
            self.assertEqual(status, 200, body)
            return sorted(s["study_instance_uid"] for s in json.loads(body)["studies"])

        a, h = {"patient_id": "P001", "issuer": "CLA"}, {"patient_id": "H77", "issuer": "HOSP"}
        self.assertEqual(history("rad", STUDY_H), [STUDY_H])
        status, body = self.get_as("admin", "/api/patient-links", body={"patients": [a, h]})
        self.assertEqual(status, 200, body)
        try:
            self.assertEqual(history("rad", STUDY_H), sorted([STUDY_A, STUDY_H]))
            self.assertEqual(history("rad", STUDY_A), sorted([STUDY_A, STUDY_H]))
            # Clinic A's doctor sees the clinic's own study, nothing of the hospital's.
            self.assertEqual(history("doc_a", STUDY_A), [STUDY_A])
            self.assertIsNone(history("doc_a", STUDY_H))
            # Clinic B's P001 is another person: not linked.
            self.assertEqual(history("rad", STUDY_B), [STUDY_B])
            status, body = self.get_as("admin", "/api/patient-links",
                                       body={"patients": [a, {"patient_id": "P001"}]})
            self.assertEqual(status, 404, body)  # P001 without an issuer is nobody here
            actions = [e["action"] for e in self.server.get("/api/audit?limit=1000")[1]["entries"]]
            self.assertIn("patient.link", actions)
        finally:
            status, body = self.get_as("admin", "/api/patient-links/remove", body=h)
            self.assertEqual(status, 200, body)
        self.assertEqual(history("rad", STUDY_A), [STUDY_A])

    def test_c_find_and_c_get_keep_to_the_calling_institution(self):
        def found(calling, keys):
            rc, out = dcmtk("findscu", self.server, calling, keys)
            self.assertEqual(rc, 0, out)
            return sorted(set(re.findall(r"1\.2\.826\.0\.1\.3680043\.8\.498\.700\d(?!\.)", out)))

        study_keys = ["QueryRetrieveLevel=STUDY", "StudyInstanceUID"]
        self.assertEqual(found("CLINIC_A", study_keys), [STUDY_A])
        self.assertEqual(found("CLINIC_B", study_keys), [STUDY_B])
        self.assertEqual(found("HOSP_PACS", study_keys), sorted([STUDY_A, STUDY_B, STUDY_H]))
        # Patient level: P001 is two patients, told apart by their issuers.
        rc, out = dcmtk("findscu", self.server, "HOSP_PACS",
                        ["QueryRetrieveLevel=PATIENT", "PatientID=P001"], extra=["-P"])
        self.assertEqual(rc, 0, out)
        self.assertEqual(len(re.findall(r"Find Response: \d+ \(Pending\)", out)), 2, out)

        # Nor may clinic A's modality store into clinic B's study: refused, not authorized.
        path = harness.write_instance(os.path.join(self.tmp, "into-b.dcm"), STUDY_B + ".1.9",
                                      study_uid=STUDY_B, patient_id="P001")
        rc, out = harness.storescu(self.server, [path], calling="CLINIC_A")
        self.assertRegex(out, r"0x0?124|Refused: Not Authorized", out)
        status, body = self.server.get(f"/dicom-web/studies/{STUDY_B}/series/{STUDY_B}.1/"
                                       f"instances/{STUDY_B}.1.9/metadata")
        self.assertEqual(status, 404, body)

        with tempfile.TemporaryDirectory() as out_dir:
            rc, out = dcmtk("getscu", self.server, "CLINIC_A",
                            ["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={STUDY_B}"],
                            extra=["-od", out_dir])
            self.assertEqual(os.listdir(out_dir), [], out)
            rc, out = dcmtk("getscu", self.server, "CLINIC_B",
                            ["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={STUDY_B}"],
                            extra=["-od", out_dir])
            self.assertEqual(len(os.listdir(out_dir)), 1, out)


if __name__ == "__main__":
    unittest.main()
