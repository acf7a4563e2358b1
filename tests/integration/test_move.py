"""C-MOVE with DCMTK movescu, DCMTK storescp as the configured destination."""

import glob
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import pydicom

import harness
from harness import Server

CT_DIR = os.path.join(harness.SHARED, "ct-abdomen-20slices")


def movescu(server, destination, keys):
    args = ["movescu", "-v", "-S", "-aec", server.aet, "-aem", destination]
    for k in keys:
        args += ["-k", k]
    r = subprocess.run(args + ["127.0.0.1", str(server.dicom_port)], capture_output=True,
                       text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


class MoveTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dest_port = harness.free_port()
        cls.received = tempfile.mkdtemp(prefix="dxhub-move-dest-")
        cls.storescp = subprocess.Popen(
            ["storescp", "+xa", "-aet", "DEST", "-od", cls.received, str(cls.dest_port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cls.server = Server(extra_args=["--remote-ae", f"DEST@127.0.0.1:{cls.dest_port}"])
        cls.server.start()
        cls.server.stop()
        r = harness.run_dxhub("import", "--data", cls.server.var, "--no-progress", CT_DIR)
        assert r.returncode == 0, r.stdout + r.stderr
        cls.server.start()
        _, studies = cls.server.get("/api/studies")
        cls.study = studies["studies"][0]["study_instance_uid"]

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.storescp.terminate()
        cls.storescp.wait()
        shutil.rmtree(cls.received, ignore_errors=True)

    def setUp(self):
        for f in glob.glob(os.path.join(self.received, "*")):
            os.remove(f)

    def test_move_study_to_configured_destination(self):
        rc, out = movescu(self.server, "DEST",
                          ["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={self.study}"])
        self.assertEqual(rc, 0, out)
        self.assertIn("Final Move Response (Success)", out)
        deadline = time.time() + 10
        while len(os.listdir(self.received)) < 20 and time.time() < deadline:
            time.sleep(0.1)
        received = {}
        for f in os.listdir(self.received):
            ds = pydicom.dcmread(os.path.join(self.received, f))
            received[str(ds.SOPInstanceUID)] = ds
        self.assertEqual(len(received), 20)
        # The JPEG 2000 pixel data arrives as archived: same compressed bytes, same UIDs.
        detail = self.server.study(self.study)
        for inst in detail["series"][0]["instances"]:
            ds = received[inst["sop_instance_uid"]]
            self.assertEqual(ds.StudyInstanceUID, self.study)
            self.assertEqual(ds.file_meta.TransferSyntaxUID, "1.2.840.10008.1.2.4.90")
        originals = {}
        for f in os.listdir(CT_DIR):
            ds = pydicom.dcmread(os.path.join(CT_DIR, f))
            originals[str(ds.file_meta.MediaStorageSOPInstanceUID)] = ds.PixelData
        for uid, ds in received.items():
            self.assertEqual(ds.PixelData, originals[uid], uid)

    def test_series_and_image_level(self):
        series = self.server.study(self.study)["series"][0]
        sop = series["instances"][0]["sop_instance_uid"]
        rc, out = movescu(self.server, "DEST", [
            "QueryRetrieveLevel=IMAGE", f"StudyInstanceUID={self.study}",
            f"SeriesInstanceUID={series['series_instance_uid']}", f"SOPInstanceUID={sop}"])
        self.assertIn("Final Move Response (Success)", out)
        deadline = time.time() + 10
        while not os.listdir(self.received) and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(len(os.listdir(self.received)), 1)

    def test_unknown_destination_and_bad_identifiers(self):
        rc, out = movescu(self.server, "NOWHERE",
                          ["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={self.study}"])
        self.assertIn("Refused: MoveDestinationUnknown", out)
        rc, out = movescu(self.server, "DEST", ["QueryRetrieveLevel=STUDY", "StudyInstanceUID="])
        # An identifier that selects nothing would move the whole archive: refused (0xA900).
        self.assertIn("Final Move Response (Error: DataSetDoesNotMatchSOPClass)", out)
        rc, out = movescu(self.server, "DEST",
                          ["QueryRetrieveLevel=STUDY", "StudyInstanceUID=../../etc"])
        self.assertIn("Final Move Response (Failed: UnableToProcess)", out)  # 0xC000
        self.assertEqual(os.listdir(self.received), [])
        self.assertTrue(self.server.echo())


if __name__ == "__main__":
    unittest.main()
