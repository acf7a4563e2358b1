"""De-identified research exports, checked against DICOM PS3.15 Annex E as a reader of the
standard would: real CT slices (the shared abdominal CT, given a patient, staff, institution,
private tags and overlay comments) are exported into a project and downloaded by a researcher;
every attribute of table E.1-1 present in them is removed or replaced as the Basic Profile (or
the chosen option) says, pixel data is unchanged, the files pass dciodvfy, pseudonyms are stable
across two exports of one project and differ between projects, burned-in images are refused and
listed, and a researcher reaches nothing but the project's exports."""

import glob
import io
import json
import os
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request
import zipfile

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

import harness
from harness import Server

PASSWORD = "correct horse battery staple"
STUDY_A = "1.2.826.0.1.3680043.8.498.9201"
STUDY_B = "1.2.826.0.1.3680043.8.498.9202"  # the same patient, later

# DICOM PS3.15 (2024b), Annex E, Table E.1-1 "Application Level Confidentiality Profile
# Attributes": the rows whose attributes the test files carry, with the Basic Profile action and
# the option columns that change it (Rtn. Long. Full Dates "K", Rtn. Pat. Chars. "K", Clean Desc.
# "C"). X remove; Z zero length or dummy; D dummy; U replace UID consistently; X/Z and X/Z/D allow
# either. Written from the standard's table, independently of dxhub's own list.
E1_1 = {
    # keyword: (basic, dates, characteristics, descriptors)
    "InstanceCreationDate": ("X/D", "K", None, None),
    "InstanceCreationTime": ("X/Z/D", "K", None, None),
    "SOPInstanceUID": ("U", None, None, None),
    "StudyDate": ("Z", "K", None, None),
    "SeriesDate": ("X/D", "K", None, None),
    "AcquisitionDate": ("X/Z", "K", None, None),
    "ContentDate": ("Z/D", "K", None, None),
    "AcquisitionDateTime": ("X/D", "K", None, None),
    "StudyTime": ("Z", "K", None, None),
    "SeriesTime": ("X/D", "K", None, None),
    "AcquisitionTime": ("X/Z", "K", None, None),
    "ContentTime": ("Z/D", "K", None, None),
    "AccessionNumber": ("Z", None, None, None),
    "InstitutionName": ("X/Z/D", None, None, None),
    "InstitutionAddress": ("X", None, None, None),
    "ReferringPhysicianName": ("Z", None, None, None),
    "StationName": ("X/Z/D", None, None, None),
    "StudyDescription": ("X", None, None, "C"),
    "SeriesDescription": ("X", None, None, "C"),
    "PhysiciansOfRecord": ("X", None, None, None),
    "PerformingPhysicianName": ("X", None, None, None),
    "OperatorsName": ("X/Z/D", None, None, None),
    "ReferencedStudySequence": ("X/Z", None, None, None),
    "ReferencedPerformedProcedureStepSequence": ("X/Z/D", None, None, None),
    "IrradiationEventUID": ("U", None, None, None),
    "PatientName": ("Z", None, None, None),
    "PatientID": ("Z", None, None, None),
    "IssuerOfPatientID": ("X", None, None, None),
    "PatientBirthDate": ("Z", None, None, None),
    "PatientSex": ("Z", None, "K", None),
    "PatientAge": ("X", None, "K", None),
    "PatientWeight": ("X", None, "K", None),
    "PregnancyStatus": ("X", None, "K", None),
    "OtherPatientIDsSequence": ("X", None, None, None),
    "PatientAddress": ("X", None, None, None),
    "PatientTelephoneNumbers": ("X", None, None, None),
    "DeviceSerialNumber": ("X/Z/D", None, None, None),
    "ProtocolName": ("X/D", None, None, "C"),
    "StudyInstanceUID": ("U", None, None, None),
    "SeriesInstanceUID": ("U", None, None, None),
    "StudyID": ("Z", None, None, None),
    "FrameOfReferenceUID": ("U", None, None, None),
    "ImageComments": ("X", None, None, "C"),
    "RequestAttributesSequence": ("X", None, None, None),
    "PerformedProcedureStepStartDate": ("X", "K", None, None),
    "PerformedProcedureStepID": ("X", None, None, None),
}


def make_study(directory, study_uid, slices, extra=()):
    """The shared CT's slices as one study of an identifiable patient."""
    paths = []
    sources = sorted(glob.glob(os.path.join(harness.SAMPLES, "ct-abdomen-20slices", "*")))
    series_uid = study_uid + ".1"
    for n, src in enumerate(sources[:slices]):
        ds = pydicom.dcmread(src)
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.SOPInstanceUID = f"{series_uid}.{n + 1}"
        ds.FrameOfReferenceUID = study_uid + ".99"
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.InstanceNumber = n + 1
        ds.PatientName, ds.PatientID, ds.IssuerOfPatientID = "ZHANG^WEI", "P-DEID-7", "CLA"
        ds.PatientBirthDate, ds.PatientSex, ds.PatientAge = "19700312", "M", "056Y"
        ds.PatientWeight, ds.PatientAddress = "72", "12 Shennan Road"
        ds.PatientTelephoneNumbers = "0755-12345678"
        ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = "20261120"
        ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = "101500"
        ds.AcquisitionDateTime = "20261120101500"
        ds.InstanceCreationDate, ds.InstanceCreationTime = "20261120", "101600"
        ds.AccessionNumber, ds.StudyID = "ACC-77812", "S-4411"
        ds.InstitutionName, ds.InstitutionAddress = "Clinic A", "1 Clinic Street"
        ds.ReferringPhysicianName, ds.OperatorsName = "LI^NA", "WU^TECH"
        ds.PhysiciansOfRecord, ds.PerformingPhysicianName = "CHEN^DR", "ZHOU^DR"
        ds.StationName, ds.DeviceSerialNumber = "CT-ROOM-2", "SN-998877"
        ds.StudyDescription = "CT abdomen ZHANG follow-up"
        ds.SeriesDescription = "Abdomen 5mm"
        ds.ProtocolName = "ABDOMEN P-DEID-7"
        ds.ImageComments = "Patient ZHANG WEI, see prior"
        ds.Laterality = ""  # Type 2C in General Series: dciodvfy wants it present
        ds.IrradiationEventUID = study_uid + ".77"
        ds.PerformedProcedureStepStartDate, ds.PerformedProcedureStepID = "20261120", "PPS-1"
        ref = Dataset()
        ref.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
        ref.ReferencedSOPInstanceUID = study_uid + ".55"
        ds.ReferencedStudySequence = Sequence([ref])
        other = Dataset()
        other.PatientID, other.IssuerOfPatientID, other.TypeOfPatientID = "110101197003120011", "CN-ID", "TEXT"
        ds.OtherPatientIDsSequence = Sequence([other])
        req = Dataset()
        req.RequestedProcedureID, req.ScheduledProcedureStepID = "RP-1", "SPS-1"
        ds.RequestAttributesSequence = Sequence([req])
        ds.add_new(0x00090010, "LO", "ACME PRIVATE")
        ds.add_new(0x00091001, "LO", "ZHANG WEI private note")
        ds.add_new(0x60004000, "LT", "overlay comment naming ZHANG")
        for keyword, value in extra:
            setattr(ds, keyword, value)
        paths.append(os.path.join(directory, f"{study_uid}-{n}.dcm"))
        ds.save_as(paths[-1])
    return paths


def dciodvfy_errors(path):
    r = subprocess.run(["dciodvfy", path], capture_output=True, text=True)
    return [line for line in (r.stdout + r.stderr).splitlines() if line.startswith("Error")]


class DeidTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="dxhub-deid-")
        cls.server = Server(extra_args=["--no-ai"])
        cls.server.start()
        cls.server.stop()
        s = cls.server
        cls.tokens = {}
        for user, role in (("rad", "radiologist"), ("res", "researcher"), ("res2", "researcher")):
            r = harness.run_dxhub("user", "add", user, "--role", role, "--data", s.var,
                                  input=PASSWORD + "\n")
            assert r.returncode == 0, r.stdout + r.stderr
            r = harness.run_dxhub("user", "token", user, "--token-name", "t", "--data", s.var)
            cls.tokens[user] = r.stdout.strip().splitlines()[-1]
        s.start()
        cls.sources = {}
        files = make_study(cls.tmp, STUDY_A, 3)
        # Pictures that may show the patient's name: refused, not exported.
        files += make_study(cls.tmp, STUDY_A + ".7", 1,
                            [("StudyInstanceUID", STUDY_A), ("SeriesInstanceUID", STUDY_A + ".7"),
                             ("BurnedInAnnotation", "YES")])
        files += make_study(cls.tmp, STUDY_A + ".8", 1,
                            [("StudyInstanceUID", STUDY_A), ("SeriesInstanceUID", STUDY_A + ".8"),
                             ("Modality", "SC"), ("SOPClassUID", "1.2.840.10008.5.1.4.1.1.7")])
        files += make_study(cls.tmp, STUDY_B, 2)
        for path in files:
            ds = pydicom.dcmread(path)
            cls.sources[str(ds.SOPInstanceUID)] = ds
        rc, out = harness.storescu(s, files)
        assert rc == 0, out
        cls.source_errors = dciodvfy_errors(files[0])

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def call(self, user, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.server.http_port}{path}", data=data,
                                     method="GET" if body is None else "POST")
        if body is not None:
            req.add_header("Content-Type", "application/json")
        req.add_header("Authorization", "Bearer " + (self.server.token if user == "admin"
                                                     else self.tokens[user]))
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def project(self, name, **options):
        status, _, body = self.call("admin", "/api/deid/projects",
                                    {"name": name, "members": ["res"], **options})
        self.assertEqual(status, 201, body)

    def export(self, project, studies):
        status, _, body = self.call("rad", f"/api/deid/projects/{project}/exports",
                                    {"study_uids": studies})
        self.assertEqual(status, 201, body)
        status, headers, body = self.call("res", json.loads(body)["download"])
        self.assertEqual(status, 200, body[:300])
        self.assertEqual(headers["Content-Type"], "application/zip")
        archive = zipfile.ZipFile(io.BytesIO(body))
        manifest = json.loads(archive.read("manifest.json"))
        files = {}
        for name in archive.namelist():
            if name.endswith(".dcm"):
                path = os.path.join(self.tmp, project + "-" + os.path.basename(name))
                with open(path, "wb") as f:
                    f.write(archive.read(name))
                files[path] = pydicom.dcmread(path)
        return manifest, files

    def source_of(self, ds):
        """The source instance a de-identified one came from (same pixels, same number)."""
        for src in self.sources.values():
            if (src.PixelData == ds.PixelData and src.InstanceNumber == ds.InstanceNumber
                    and src.StudyInstanceUID in (STUDY_A, STUDY_B)):
                return src
        self.fail("no source has these pixels")

    def test_the_basic_profile_as_table_e1_1_says(self):
        self.project("lung-study")
        manifest, files = self.export("lung-study", [STUDY_A])
        self.assertEqual(len(files), 3)
        self.assertEqual(len(manifest["refused"]), 2)
        reasons = " ".join(r["reason"] for r in manifest["refused"])
        self.assertIn("BurnedInAnnotation is YES", reasons)
        self.assertIn("SC image without BurnedInAnnotation NO", reasons)
        self.assertNotIn(STUDY_A, json.dumps(manifest))

        study_uids, frames = set(), set()
        for path, ds in files.items():
            src = self.source_of(ds)
            checked = 0
            for keyword, (basic, _, _, _) in E1_1.items():
                if keyword not in src:
                    continue
                checked += 1
                value = ds.get(keyword)
                original = src.get(keyword)
                if basic == "U":
                    self.assertIsNotNone(value, keyword)
                    self.assertNotEqual(str(value), str(original), keyword)
                    self.assertTrue(str(value).startswith("2.25."), keyword)
                elif basic.startswith("X") and "Z" not in basic and "D" not in basic:
                    self.assertNotIn(keyword, ds, keyword)
                else:  # Z, Z/D, X/Z, X/D, X/Z/D: gone, empty, or a dummy, never the original
                    if keyword in ds and value not in (None, "") and str(value) != "":
                        self.assertNotEqual(str(value), str(original), keyword)
                        if keyword in ("PatientName", "PatientID"):
                            self.assertTrue(str(value).startswith("ANON-"), keyword)
            self.assertGreater(checked, 40, "the test files carry most of the table's rows")
            # Private attributes and overlay comments are gone; nothing names the patient.
            self.assertFalse([e for e in ds if e.tag.is_private], path)
            self.assertNotIn(0x60004000, ds)
            dump = str(ds)
            for identifier in ("ZHANG", "P-DEID-7", "110101197003120011", "ACC-77812",
                               "Clinic A", "LI^NA", "SN-998877", "12 Shennan"):
                self.assertNotIn(identifier, dump, f"{identifier} in {path}")
            # The profile is declared, and the pixels are the source's, byte for byte.
            self.assertEqual(ds.PatientIdentityRemoved, "YES")
            self.assertEqual([c.CodeValue for c in ds.DeidentificationMethodCodeSequence],
                             ["113100"])
            self.assertEqual(ds.PixelData, src.PixelData)
            self.assertEqual(ds.file_meta.TransferSyntaxUID, src.file_meta.TransferSyntaxUID)
            self.assertEqual(ds.file_meta.MediaStorageSOPInstanceUID, ds.SOPInstanceUID)
            study_uids.add(ds.StudyInstanceUID)
            frames.add(ds.FrameOfReferenceUID)
            self.assertEqual(dciodvfy_errors(path), [], path)
        # One study and frame of reference stay one: the replacement is consistent.
        self.assertEqual(len(study_uids), 1)
        self.assertEqual(len(frames), 1)
        self.assertEqual(self.source_errors, [], "the source files themselves are valid")

    def test_pseudonyms_are_stable_within_a_project_and_differ_between_projects(self):
        self.project("cohort-1")
        _, first = self.export("cohort-1", [STUDY_A])
        _, again = self.export("cohort-1", [STUDY_A, STUDY_B])
        uids = lambda files: sorted(str(d.SOPInstanceUID) for d in files.values())
        self.assertTrue(set(uids(first)) <= set(uids(again)))
        ids = {str(d.PatientID) for d in again.values()}
        self.assertEqual(len(ids), 1, "one patient, one pseudonym, in both studies")
        self.assertEqual(ids, {str(d.PatientID) for d in first.values()})
        self.project("cohort-2")
        _, other = self.export("cohort-2", [STUDY_A])
        self.assertFalse(set(uids(first)) & set(uids(other)))
        self.assertNotEqual({str(d.PatientID) for d in other.values()}, ids)

    def test_options_keep_dates_characteristics_and_clean_descriptors(self):
        self.project("longitudinal", retain_longitudinal_full_dates=True,
                     retain_patient_characteristics=True, clean_descriptors=True)
        _, files = self.export("longitudinal", [STUDY_A])
        for path, ds in files.items():
            self.assertEqual(ds.StudyDate, "20261120")
            self.assertEqual(ds.AcquisitionDateTime, "20261120101500")
            self.assertEqual((ds.PatientSex, ds.PatientAge, str(ds.PatientWeight)),
                             ("M", "056Y", "72"))
            self.assertNotIn("ZHANG", ds.StudyDescription)
            self.assertIn("CT abdomen", ds.StudyDescription)
            self.assertNotIn("P-DEID-7", ds.ProtocolName)
            self.assertEqual(ds.PatientBirthDate, "")  # no option keeps the birth date
            self.assertEqual(sorted(c.CodeValue for c in ds.DeidentificationMethodCodeSequence),
                             ["113100", "113105", "113106", "113108"])
            self.assertEqual(dciodvfy_errors(path), [], path)

    def test_a_researcher_reaches_only_the_projects_exports(self):
        self.project("teaching")
        status, _, body = self.call("rad", "/api/deid/projects/teaching/exports",
                                    {"query": {"patient_id": "P-DEID-7", "modality": "CT"}})
        self.assertEqual(status, 201, body)
        export = json.loads(body)
        self.assertEqual(export["studies"], 2)
        status, _, body = self.call("res", "/api/deid/projects")
        self.assertIn("teaching", [p["name"] for p in json.loads(body)["projects"]])
        status, _, body = self.call("res2", "/api/deid/projects")
        self.assertEqual(json.loads(body)["projects"], [])
        self.assertEqual(self.call("res2", export["download"])[0], 404)
        status, headers, body = self.call("res", export["download"])
        self.assertEqual(status, 200)
        self.assertEqual(headers["X-Dxhub-Exported"], "5")  # 3 + 2 CT slices; 2 refused
        self.assertEqual(headers["X-Dxhub-Refused"], "2")
        for path in ("/api/studies", "/api/worklist", "/dicom-web/studies",
                     f"/api/studies/{STUDY_A}", "/api/read-requests"):
            self.assertEqual(self.call("res", path)[0], 403, path)
        # A researcher cannot choose studies; an unknown project or study is refused.
        self.assertEqual(self.call("res", "/api/deid/projects/teaching/exports",
                                   {"study_uids": [STUDY_A]})[0], 403)
        self.assertEqual(self.call("rad", "/api/deid/projects/nope/exports",
                                   {"study_uids": [STUDY_A]})[0], 404)
        self.assertEqual(self.call("rad", "/api/deid/projects/teaching/exports",
                                   {"study_uids": ["1.2.3.999"]})[0], 404)
        self.assertEqual(self.call("rad", "/api/deid/projects", {"name": "x"})[0], 403)
        status, audit = self.server.get("/api/audit?limit=1000")
        self.assertIn(("res", "deid.download"),
                      {(e["user"], e["action"]) for e in audit["entries"]})

    def test_an_export_goes_to_a_research_archive_over_stow_rs(self):
        """The research PACS is another dxhub, reached over DICOMweb with its own token."""
        target = Server(extra_args=["--no-ai"])
        target.start()
        try:
            status, _, body = self.call("admin", "/api/peers", {
                "kind": "dicomweb", "name": "research-pacs",
                "url": f"http://127.0.0.1:{target.http_port}/dicom-web", "token": target.token})
            self.assertEqual(status, 201, body)
            self.project("registry")
            status, _, body = self.call("rad", "/api/deid/projects/registry/exports",
                                        {"study_uids": [STUDY_A]})
            self.assertEqual(status, 201, body)
            export = json.loads(body)["id"]
            # The directory refreshes every few seconds: wait for the peer to be known.
            deadline, answer = time.time() + 30, None
            while time.time() < deadline:
                status, _, answer = self.call("res", f"/api/deid/exports/{export}/send",
                                              {"peer": "research-pacs"})
                if status != 404 or b"no DICOMweb peer" not in answer:
                    break
                time.sleep(0.5)
            self.assertEqual(status, 200, answer)
            sent = json.loads(answer)
            self.assertEqual((sent["sent"], len(sent["refused"])), (3, 2))
            self.assertEqual(self.call("res2", f"/api/deid/exports/{export}/send",
                                       {"peer": "research-pacs"})[0], 404)
            studies = target.all_studies()
            self.assertEqual(len(studies), 1)
            self.assertTrue(studies[0]["study_instance_uid"].startswith("2.25."))
            self.assertTrue(studies[0]["patient_id"].startswith("ANON-"))
            self.assertNotIn("ZHANG", json.dumps(studies))
        finally:
            target.cleanup()


if __name__ == "__main__":
    unittest.main()
