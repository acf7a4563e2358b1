"""C-MOVE with DCMTK movescu (DCMTK storescp as the configured destination), C-GET with DCMTK
getscu, and C-CANCEL of both from a raw DIMSE client."""

import glob
import os
import shutil
import subprocess
import struct
import tempfile
import time
import unittest

import pydicom

import harness
from harness import Server

CT_DIR = os.path.join(harness.SAMPLES, "ct-abdomen-20slices")


def movescu(server, destination, keys):
    args = ["movescu", "-v", "-S", "-aec", server.aet, "-aem", destination]
    for k in keys:
        args += ["-k", k]
    r = subprocess.run(args + ["127.0.0.1", str(server.dicom_port)], capture_output=True,
                       text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


def getscu(server, out_dir, keys, extra=()):
    args = ["getscu", "-v", "-S", "-aec", server.aet, "-od", out_dir, *extra]
    for k in keys:
        args += ["-k", k]
    r = subprocess.run(args + ["127.0.0.1", str(server.dicom_port)], capture_output=True,
                       text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


def original_pixels():
    """SOP Instance UID -> (encapsulated pixel data bytes, decoded pixel bytes) of the shared CT."""
    out = {}
    for f in os.listdir(CT_DIR):
        ds = pydicom.dcmread(os.path.join(CT_DIR, f))
        decoded = ds.pixel_array.astype(ds.pixel_array.dtype.newbyteorder("<")).tobytes()
        out[str(ds.file_meta.MediaStorageSOPInstanceUID)] = (ds.PixelData, decoded)
    return out


STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3"
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def study_identifier(study):
    """A STUDY-level identifier in implicit VR little endian."""
    return (harness._element(0x0008, 0x0052, b"STUDY ")
            + harness._element(0x0020, 0x000D, harness._uid(study)))


class MoveTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dest_port = harness.free_port()
        cls.received = tempfile.mkdtemp(prefix="dxhub-move-dest-")
        cls.storescp = subprocess.Popen(
            ["storescp", "+xa", "-aet", "DEST", "-od", cls.received, str(cls.dest_port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cls.server = Server(extra_args=["--remote-ae", f"DEST@127.0.0.1:{cls.dest_port}",
                                        *harness.QUERY_PEERS])
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


class GetTest(unittest.TestCase):
    """C-GET: the instances come back over the requestor's own association."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server(extra_args=harness.QUERY_PEERS)
        cls.server.start()
        cls.server.stop()
        r = harness.run_dxhub("import", "--data", cls.server.var, "--no-progress", CT_DIR)
        assert r.returncode == 0, r.stdout + r.stderr
        cls.server.start()
        _, studies = cls.server.get("/api/studies")
        cls.study = studies["studies"][0]["study_instance_uid"]
        cls.originals = original_pixels()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def received(self, out_dir):
        return {str(ds.SOPInstanceUID): ds for ds in
                (pydicom.dcmread(os.path.join(out_dir, f)) for f in os.listdir(out_dir))}

    def test_get_study_decoded_for_an_uncompressed_requestor(self):
        # getscu proposes only uncompressed storage contexts: the JPEG 2000 slices are decoded.
        with tempfile.TemporaryDirectory() as out:
            rc, log = getscu(self.server, out,
                             ["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={self.study}"])
            self.assertEqual(rc, 0, log)
            got = self.received(out)
        self.assertEqual(len(got), 20, log)
        for uid, ds in got.items():
            self.assertEqual(ds.file_meta.TransferSyntaxUID, "1.2.840.10008.1.2.1")
            self.assertEqual(ds.StudyInstanceUID, self.study)
            self.assertEqual(ds.PixelData, self.originals[uid][1], uid)

    def test_get_series_as_stored_when_the_requestor_takes_jpeg2000(self):
        series = self.server.study(self.study)["series"][0]["series_instance_uid"]
        with tempfile.TemporaryDirectory() as out:
            rc, log = getscu(self.server, out, [
                "QueryRetrieveLevel=SERIES", f"StudyInstanceUID={self.study}",
                f"SeriesInstanceUID={series}"], extra=["+xv"])
            self.assertEqual(rc, 0, log)
            got = self.received(out)
        self.assertEqual(len(got), 20, log)
        for uid, ds in got.items():
            self.assertEqual(ds.file_meta.TransferSyntaxUID, "1.2.840.10008.1.2.4.90")
            self.assertEqual(ds.PixelData, self.originals[uid][0], uid)

    def test_get_refusals(self):
        with tempfile.TemporaryDirectory() as out:
            rc, log = getscu(self.server, out,
                             ["QueryRetrieveLevel=STUDY", "StudyInstanceUID=../../etc"])
            self.assertIn("Failed: UnableToProcess", log)
            rc, log = getscu(self.server, out, ["QueryRetrieveLevel=STUDY", "StudyInstanceUID="])
            self.assertIn("DataSetDoesNotMatchSOPClass", log)
            self.assertEqual(os.listdir(out), [])

    def test_cancel_get(self):
        a = harness.RawAssociation(self.server.dicom_port, self.server.aet, STUDY_ROOT_GET,
                                   ts=harness.IMPLICIT_LE, extra_contexts=[CT_STORAGE],
                                   scp_roles=[CT_STORAGE])
        self.assertEqual(a.accepted_type, 2)
        a.send_command([(0x0002, harness._uid(STUDY_ROOT_GET)), (0x0100, harness.us(0x0010)),
                        (0x0110, harness.us(7)), (0x0700, harness.us(0)),
                        (0x0800, harness.us(0))])
        a.send_dataset(study_identifier(self.study))
        stored, final = 0, None
        while final is None:
            context, fields, dataset = a.read_message()
            command = struct.unpack("<H", fields[0x0100])[0]
            if command == 0x0001:  # C-STORE-RQ sub-operation
                self.assertEqual(context, 3)
                self.assertTrue(dataset)
                if stored == 0:  # cancel while the first sub-operation waits for its answer
                    a.send_command([(0x0100, harness.us(0x0FFF)), (0x0120, harness.us(7)),
                                    (0x0800, harness.us(0x0101))])
                stored += 1
                a.send_command([(0x0002, fields[0x0002]), (0x0100, harness.us(0x8001)),
                                (0x0120, fields[0x0110]), (0x0800, harness.us(0x0101)),
                                (0x0900, harness.us(0)), (0x1000, fields[0x1000])],
                               context_id=context)
            elif command == 0x8010:  # C-GET-RSP
                status = struct.unpack("<H", fields[0x0900])[0]
                if status != 0xFF00:
                    final = (status, struct.unpack("<H", fields[0x1020])[0],
                             struct.unpack("<H", fields[0x1021])[0])
        a.release()
        status, remaining, completed = final
        self.assertEqual(status, 0xFE00)
        self.assertEqual(completed, stored)
        self.assertEqual(remaining, 20 - stored)
        self.assertLess(stored, 20)

    def test_cancel_move(self):
        dest_port = harness.free_port()
        with tempfile.TemporaryDirectory() as received:
            server = Server(extra_args=["--remote-ae", f"DEST@127.0.0.1:{dest_port}",
                                        *harness.QUERY_PEERS])
            storescp = subprocess.Popen(["storescp", "-aet", "DEST", "-od", received,
                                         str(dest_port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                server.start()
                server.stop()
                r = harness.run_dxhub("import", "--data", server.var, "--no-progress", CT_DIR)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                server.start()
                a = harness.RawAssociation(server.dicom_port, server.aet, STUDY_ROOT_MOVE,
                                           ts=harness.IMPLICIT_LE)
                a.send_command([(0x0002, harness._uid(STUDY_ROOT_MOVE)),
                                (0x0100, harness.us(0x0021)), (0x0110, harness.us(9)),
                                (0x0600, b"DEST".ljust(16, b" ")), (0x0700, harness.us(0)),
                                (0x0800, harness.us(0))])
                a.send_dataset(study_identifier(self.study))
                # Cancel at once: the SCP sees it after its first sub-operation.
                a.send_command([(0x0100, harness.us(0x0FFF)), (0x0120, harness.us(9)),
                                (0x0800, harness.us(0x0101))])
                while True:
                    _, fields, _ = a.read_message()
                    status = struct.unpack("<H", fields[0x0900])[0]
                    if status != 0xFF00:
                        break
                a.release()
                self.assertEqual(status, 0xFE00)
                completed = struct.unpack("<H", fields[0x1021])[0]
                remaining = struct.unpack("<H", fields[0x1020])[0]
                self.assertGreaterEqual(completed, 1)
                self.assertEqual(completed + remaining, 20)
                self.assertLess(completed, 20)
                self.assertTrue(server.echo())
            finally:
                server.cleanup()
                storescp.terminate()
                storescp.wait()


if __name__ == "__main__":
    unittest.main()
