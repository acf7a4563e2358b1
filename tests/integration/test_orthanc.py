"""dxhub beside a real PACS: Orthanc (Debian package) C-STOREs a study into dxhub through its
REST API, and dxhub C-MOVEs it back to Orthanc; the pixel data must come back byte for byte."""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.request

import pydicom

import harness
from harness import Server

ORTHANC = "/usr/sbin/Orthanc"
MR_SMALL = os.path.join(harness.PYDICOM_FILES, "MR_small.dcm")
CT_SMALL = os.path.join(harness.PYDICOM_FILES, "CT_small.dcm")


@unittest.skipUnless(os.path.exists(ORTHANC), "Debian package orthanc is not installed")
class OrthancRoundTrip(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="dxhub-orthanc-")
        self.orthanc_dicom = harness.free_port()
        self.orthanc_http = harness.free_port()
        self.server = Server(extra_args=["--remote-ae", f"ORTHANC@127.0.0.1:{self.orthanc_dicom}",
                                         *harness.QUERY_PEERS]).start()
        config = {
            "Name": "dxhub-test", "StorageDirectory": os.path.join(self.tmp, "db"),
            "IndexDirectory": os.path.join(self.tmp, "db"), "DicomAet": "ORTHANC",
            "DicomPort": self.orthanc_dicom, "HttpPort": self.orthanc_http,
            "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "Plugins": [],
            "DicomModalities": {"dxhub": ["DXHUB", "127.0.0.1", self.server.dicom_port]},
        }
        with open(os.path.join(self.tmp, "orthanc.json"), "w") as f:
            json.dump(config, f)
        self.orthanc = subprocess.Popen([ORTHANC, os.path.join(self.tmp, "orthanc.json")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                self.rest("GET", "/system")
                return
            except OSError:
                time.sleep(0.2)
        self.fail("Orthanc did not start")

    def tearDown(self):
        self.orthanc.terminate()
        self.orthanc.wait()
        self.server.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def rest(self, method, path, data=None, content_type="application/json"):
        req = urllib.request.Request(f"http://127.0.0.1:{self.orthanc_http}{path}", data=data,
                                     method=method, headers={"Content-Type": content_type})
        with urllib.request.urlopen(req, timeout=60) as r:
            body = r.read()
            return json.loads(body) if r.headers.get_content_type() == "application/json" else body

    def test_orthanc_stores_into_dxhub_and_dxhub_moves_back(self):
        files = [CT_SMALL, MR_SMALL]
        originals = {}
        orthanc_ids = []
        for path in files:
            with open(path, "rb") as f:
                answer = self.rest("POST", "/instances", f.read(), "application/dicom")
            orthanc_ids.append(answer["ID"])
            ds = pydicom.dcmread(path)
            originals[str(ds.SOPInstanceUID)] = (str(ds.StudyInstanceUID), ds.PixelData)
        # Orthanc pushes to dxhub like a PACS forwarding finished exams.
        job = self.rest("POST", "/modalities/dxhub/store", json.dumps(orthanc_ids).encode())
        self.assertEqual(job.get("FailedInstancesCount", 0), 0, job)
        _, stats = self.server.get("/api/statistics")
        self.assertEqual(stats["instances"], 2)
        # Empty Orthanc, then ask dxhub to move the studies back to it.
        for oid in orthanc_ids:
            self.rest("DELETE", f"/instances/{oid}")
        for study_uid in {s for s, _ in originals.values()}:
            r = subprocess.run(["movescu", "-v", "-S", "-aec", "DXHUB", "-aem", "ORTHANC",
                                "-k", "QueryRetrieveLevel=STUDY",
                                "-k", f"StudyInstanceUID={study_uid}",
                                "127.0.0.1", str(self.server.dicom_port)],
                               capture_output=True, text=True, timeout=60)
            self.assertIn("Final Move Response (Success)", r.stdout + r.stderr)
        back = self.rest("GET", "/instances")
        self.assertEqual(len(back), 2)
        for oid in back:
            raw = self.rest("GET", f"/instances/{oid}/file", content_type="application/dicom")
            ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(raw))
            study, pixels = originals[str(ds.SOPInstanceUID)]
            self.assertEqual(ds.StudyInstanceUID, study)
            self.assertEqual(ds.PixelData, pixels)


if __name__ == "__main__":
    unittest.main()
