"""Hostile and broken input over the network: each gets a clear failure, leaves no partial file
and no index row, and the server keeps serving."""

import glob
import hashlib
import os
import subprocess
import tempfile
import time
import unittest

import harness
from harness import RawAssociation, Server

CT = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"


class HostileTest(unittest.TestCase):
    def setUp(self):
        self.server = Server().start()
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        self.server.cleanup()

    def assert_nothing_stored(self):
        # Temp files are removed before the response is sent, but the truncated-transfer case has
        # no response to wait for: give the worker a moment to notice the dead connection.
        deadline = time.time() + 10
        while self.server.temp_files() and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.server.temp_files(), [])
        status, health = self.server.get("/api/statistics")
        self.assertEqual((status, health["instances"]), (200, 0))
        self.assertEqual(glob.glob(os.path.join(self.server.var, "blobs", "*", "*")), [])
        self.assertTrue(self.server.echo(), "server must keep serving")

    def store_raw(self, command_uid, dataset, sop_class=CT):
        assoc = RawAssociation(self.server.dicom_port, self.server.aet, sop_class)
        self.assertEqual(assoc.accepted_type, 2, "association should be accepted")
        assoc.send_store_command(sop_class, command_uid)
        assoc.send_pdv(dataset, command=False, last=True)
        status, comment = assoc.read_status()
        assoc.release()
        return status, comment

    def test_garbage_dataset_is_refused(self):
        status, comment = self.store_raw("1.2.3.4", bytes(range(256)) * 8)
        self.assertEqual(status, 0xC000)
        self.assertTrue(comment, "an ErrorComment explains the failure")
        self.assert_nothing_stored()

    def test_dataset_truncated_inside_an_element_is_refused(self):
        path = harness.write_instance(os.path.join(self.tmp, "a.dcm"), "1.2.3.5", rows=64, cols=64)
        data = harness.dataset_bytes(path)
        status, _ = self.store_raw("1.2.3.5", data[:len(data) - 1000])
        self.assertEqual(status, 0xC000)
        self.assert_nothing_stored()

    def test_transfer_cut_mid_dataset_leaves_nothing(self):
        path = harness.write_instance(os.path.join(self.tmp, "a.dcm"), "1.2.3.6", rows=256, cols=256)
        data = harness.dataset_bytes(path)
        assoc = RawAssociation(self.server.dicom_port, self.server.aet, CT)
        assoc.send_store_command(CT, "1.2.3.6")
        assoc.send_pdv(data[:len(data) // 2], command=False, last=False)
        time.sleep(0.3)
        assoc.close_abruptly()
        self.assert_nothing_stored()

    def test_a_series_claimed_by_another_study_is_refused(self):
        first = harness.write_instance(os.path.join(self.tmp, "a.dcm"), "1.2.3.91",
                                       study_uid="1.2.3.90", series_uid="1.2.3.90.1",
                                       patient_id="PA", patient_name="FIRST^PATIENT")
        status, _ = self.store_raw("1.2.3.91", harness.dataset_bytes(first))
        self.assertEqual(status, 0)
        # Another patient's study naming the same series: taking the series over would move the
        # first patient's image into this study (and a C-MOVE of either would send both).
        other = harness.write_instance(os.path.join(self.tmp, "b.dcm"), "1.2.3.96",
                                       study_uid="1.2.3.95", series_uid="1.2.3.90.1",
                                       patient_id="PB", patient_name="OTHER^PATIENT")
        status, comment = self.store_raw("1.2.3.96", harness.dataset_bytes(other))
        self.assertEqual(status, 0xC000)
        self.assertIn("already belongs to study", comment)
        status, found = self.server.get("/dicom-web/studies/1.2.3.90/instances")
        self.assertEqual(status, 200)
        self.assertEqual([i["00080018"]["Value"][0] for i in found], ["1.2.3.91"])
        status, stats = self.server.get("/api/statistics")
        self.assertEqual((stats["studies"], stats["instances"]), (1, 1))

    def test_hostile_uid_is_refused(self):
        for uid in ["../../etc/passwd", "1.2.3/../../x", "1.2.3.4 5"]:
            path = harness.write_instance(os.path.join(self.tmp, "h.dcm"), uid)
            status, comment = self.store_raw(uid, harness.dataset_bytes(path))
            self.assertEqual(status, 0xC000, uid)
            self.assertIn("SOPInstanceUID", comment)
        # A UID longer than the command set allows is a protocol violation: DCMTK cannot parse
        # the C-STORE request at all, so the association is aborted.
        uid = "1.2.3.4" + "5" * 70
        path = harness.write_instance(os.path.join(self.tmp, "h.dcm"), uid)
        with self.assertRaises(ConnectionError):
            self.store_raw(uid, harness.dataset_bytes(path))
        self.assertFalse(os.path.exists(os.path.join(self.server.var, "..", "etc")))
        self.assert_nothing_stored()

    def test_hostile_uid_via_storescu(self):
        path = harness.write_instance(os.path.join(self.tmp, "h.dcm"), "../../etc/passwd")
        rc, out = harness.storescu(self.server, [path])
        self.assertIn("Store Response (Error", out + f" rc={rc}")
        self.assert_nothing_stored()

    def test_missing_study_uid_over_the_network_is_refused(self):
        path = harness.write_instance(os.path.join(self.tmp, "m.dcm"), "1.2.3.7", study_uid="")
        status, comment = self.store_raw("1.2.3.7", harness.dataset_bytes(path))
        self.assertEqual(status, 0xA900)
        self.assertIn("StudyInstanceUID", comment)
        self.assert_nothing_stored()

    def test_dataset_that_does_not_match_the_request_is_refused(self):
        path = harness.write_instance(os.path.join(self.tmp, "a.dcm"), "1.2.3.8")
        status, comment = self.store_raw("1.2.3.9", harness.dataset_bytes(path))
        self.assertEqual(status, 0xA900)
        self.assertIn("differs", comment)
        self.assert_nothing_stored()

    def test_unknown_sop_class_is_not_negotiated(self):
        assoc = RawAssociation(self.server.dicom_port, self.server.aet, "1.2.3.4.5.6.7.8")
        # Either rejected outright (type 3) or accepted with no usable context.
        self.assertIn(assoc.accepted_type, (2, 3))
        assoc.close_abruptly()
        self.assert_nothing_stored()

    def test_full_disk_refuses_with_out_of_resources_and_loses_nothing(self):
        small = tempfile.mkdtemp(prefix="dxhub-small-")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", small],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest("cannot mount a small tmpfs here: " + r.stderr.strip())
        server = None
        try:
            server = Server(data_dir=small).start()
            # The admin token is a row too: issued before the disk is full, not after.
            self.assertTrue(server.token)
            files = [harness.write_instance(os.path.join(self.tmp, f"{i}.dcm"), f"1.2.5.{i}",
                                            rows=256, cols=256, fill=i) for i in range(60)]
            rc, out = harness.storescu(server, files)
            self.assertIn("Refused: OutOfResources", out)  # 0xA700: the sender keeps it, retries
            acked = harness.storescu_acknowledged(out)
            self.assertGreater(len(acked), 0)
            self.assertLess(len(acked), len(files))
            self.assertEqual(server.temp_files(), [])
            self.assertTrue(server.echo(), "server must keep serving")
            _, stats = server.get("/api/statistics")
            self.assertEqual(stats["instances"], len(acked))
            server.stop()
            r = harness.verify(server.var)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        finally:
            if server:
                server.stop()
            subprocess.run(["umount", small])
            os.rmdir(small)

    def test_excess_associations_are_rejected_not_queued(self):
        self.server.stop()
        server = Server(data_dir=self.server.data_dir,
                        extra_args=["--max-associations", "2"]).start()
        try:
            # The start-up echo's worker may not be idle yet (it is still closing that
            # association): take both workers once both are free.
            deadline = time.time() + 20
            while True:
                held = [RawAssociation(server.dicom_port, server.aet, CT) for _ in range(2)]
                if [a.accepted_type for a in held] == [2, 2] or time.time() > deadline:
                    break
                for a in held:
                    a.close_abruptly()
                time.sleep(0.1)
            self.assertEqual([a.accepted_type for a in held], [2, 2])
            r = subprocess.run(["echoscu", "-aec", server.aet, "127.0.0.1", str(server.dicom_port)],
                               capture_output=True, text=True, timeout=30)
            self.assertNotEqual(r.returncode, 0)
            # An A-ASSOCIATE-RJ: answered at once. A queued request would have ended in
            # echoscu's own timeout instead, with no rejection to report.
            self.assertIn("Rejected", r.stdout + r.stderr)
            for a in held:
                a.release()
            deadline = time.time() + 10
            while not server.echo() and time.time() < deadline:
                time.sleep(0.1)
            self.assertTrue(server.echo())
        finally:
            server.stop()


if __name__ == "__main__":
    unittest.main()
