"""kill -9 while four storescu processes send: every instance whose C-STORE was answered Success
must be present and readable after a restart, and `dxhub verify` must find no difference."""

import hashlib
import os
import random
import shutil
import subprocess
import tempfile
import time
import unittest

import pydicom

import harness
from harness import Server

SENDERS = 4
PER_SENDER = 120


class CrashTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.inputs = tempfile.mkdtemp(prefix="dxhub-crash-in-")
        cls.folders = []
        for s in range(SENDERS):
            folder = os.path.join(cls.inputs, f"sender{s}")
            os.makedirs(folder)
            for i in range(PER_SENDER):
                harness.write_instance(
                    os.path.join(folder, f"{i:04d}.dcm"), f"1.2.826.0.1.3680043.8.498.7.{s}.{i}",
                    study_uid=f"1.2.826.0.1.3680043.8.498.7.{s}",
                    series_uid=f"1.2.826.0.1.3680043.8.498.7.{s}.0",
                    rows=128, cols=128, fill=i, patient_id=f"CRASH{s}")
            cls.folders.append(folder)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.inputs, ignore_errors=True)

    def send_all(self, server):
        procs = []
        for folder in self.folders:
            files = sorted(os.path.join(folder, f) for f in os.listdir(folder))
            procs.append(subprocess.Popen(
                ["storescu", "-v", "-xs", "-aec", server.aet, "127.0.0.1",
                 str(server.dicom_port)] + files,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        return procs

    def test_kill9_during_ingest_loses_nothing_acknowledged(self):
        data_dir = tempfile.mkdtemp(prefix="dxhub-crash-")
        acked = set()
        rng = random.Random(1234)
        try:
            for round_no in range(3):
                server = Server(data_dir=data_dir).start()
                _, health = server.get("/api/statistics")
                before = health["instances"]
                procs = self.send_all(server)
                # Kill while instances are arriving: after a random share of the rest has landed.
                target = before + rng.randint(20, 120)
                deadline = time.time() + 60
                while time.time() < deadline:
                    _, health = server.get("/api/statistics")
                    if health["instances"] >= target:
                        break
                    time.sleep(0.005)
                server.kill9()
                for p in procs:
                    out, _ = p.communicate(timeout=120)
                    acked |= harness.storescu_acknowledged(out)
                self.assertGreater(len(acked), 0, f"round {round_no}: nothing acknowledged")

            server = Server(data_dir=data_dir).start()
            try:
                rows = {}
                for s in server.all_studies():
                    for se in server.study(s["study_instance_uid"])["series"]:
                        for i in se["instances"]:
                            rows[i["sop_instance_uid"]] = i
                for path in sorted(acked):
                    original = pydicom.dcmread(path)
                    uid = str(original.SOPInstanceUID)
                    self.assertIn(uid, rows, f"acknowledged {path} is not indexed")
                    key = hashlib.sha256(uid.encode()).hexdigest()
                    blob = os.path.join(server.var, "blobs", key[:3], key)
                    stored = pydicom.dcmread(blob)
                    self.assertEqual(stored.SOPInstanceUID, original.SOPInstanceUID)
                    self.assertEqual(stored.PixelData, original.PixelData, path)
            finally:
                server.stop()
            r = harness.verify(os.path.join(data_dir, "var"))
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("no differences", r.stdout)
            print(f"\n{len(acked)} acknowledged instances across 3 kill -9 rounds, all present")
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
