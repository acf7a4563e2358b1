"""HTTPS in dxhub: TLS 1.2 and 1.3 only, Secure cookies and HSTS, certificate reload on SIGHUP,
binding beyond loopback only with TLS or a declared proxy, and X-Forwarded-For believed from
trusted proxies only (the audit records the real client). Clients: curl, openssl s_client and
Python's ssl, against a CA the test makes."""

import json
import os
import signal
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.request

import harness
from harness import Server


def curl(server, *args, path="/healthz"):
    r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{ssl_verify_result}",
                        "--cacert", server.ca, *args,
                        f"https://127.0.0.1:{server.http_port}{path}"],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def served_serial(port, ca, extra):
    """The serial number of the certificate a TLS server on `port` presents."""
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", ca,
                        *extra], input="", capture_output=True, text=True, timeout=60)
    pem = r.stdout[r.stdout.index("-----BEGIN CERTIFICATE-----"):
                   r.stdout.index("-----END CERTIFICATE-----") + 25]
    return subprocess.run(["openssl", "x509", "-noout", "-serial"], input=pem,
                          capture_output=True, text=True).stdout.strip()


def renew_and_reload(test, server, tmp, port, extra):
    """Writes a new certificate from the same CA over the configured files, sends SIGHUP and
    waits until `port` presents it."""
    ca = os.path.join(tmp, "ca.pem")
    before = served_serial(port, ca, extra)
    subprocess.run(["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey",
                    "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2",
                    "-extfile", "server.ext"], cwd=tmp, check=True, capture_output=True)
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 20
    while time.time() < deadline and served_serial(port, ca, extra) == before:
        time.sleep(0.2)
    test.assertNotEqual(served_serial(port, ca, extra), before)


class HttpsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="dxhub-tls-")
        ca, cert, key = harness.make_test_ca(cls.tmp)
        cls.server = Server(extra_args=["--no-ai", "--tls-cert", cert, "--tls-key", key])
        cls.server.scheme = "https"
        cls.server.ssl_context = ssl.create_default_context(cafile=ca)
        cls.server.ca = ca
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def test_tls_versions(self):
        for version in ("--tlsv1.2", "--tlsv1.3"):
            rc, out = curl(self.server, version, "--tls-max", version[-3:])
            self.assertEqual((rc, out.split()[0]), (0, "200"), out)
        # TLS 1.1 and 1.0: refused by the server (the client is allowed them at level 0).
        for old in ("-tls1_1", "-tls1"):
            r = subprocess.run(["openssl", "s_client", old, "-cipher", "DEFAULT@SECLEVEL=0",
                                "-connect", f"127.0.0.1:{self.server.http_port}"],
                               input="", capture_output=True, text=True, timeout=60)
            self.assertNotEqual(r.returncode, 0, r.stdout)
            self.assertIn("Cipher is (NONE)", r.stdout)  # no session was established

    def test_plain_http_to_the_tls_port_fails_cleanly(self):
        r = subprocess.run(["curl", "-sS", f"http://127.0.0.1:{self.server.http_port}/healthz"],
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        rc, out = curl(self.server)  # and the server goes on serving
        self.assertEqual(out.split()[0], "200", out)

    def test_cookie_is_secure_and_hsts_is_sent(self):
        harness.add_user(self.server, "tls.user", "viewer", "tls user password")
        req = urllib.request.Request(
            f"https://127.0.0.1:{self.server.http_port}/api/login",
            data=json.dumps({"username": "tls.user", "password": "tls user password"}).encode(),
            headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, context=self.server.ssl_context, timeout=30) as r:
            cookie = r.headers["Set-Cookie"]
            hsts = r.headers["Strict-Transport-Security"]
        self.assertIn("; Secure", cookie)
        self.assertIn("HttpOnly", cookie)
        self.assertTrue(hsts and hsts.startswith("max-age="))

    def test_certificate_reloads_on_sighup(self):
        renew_and_reload(self, self.server, self.tmp, self.server.http_port, [])
        rc, out = curl(self.server)
        self.assertEqual(out.split()[0], "200", out)


class BindTest(unittest.TestCase):
    def test_network_bind_needs_tls_or_a_proxy(self):
        data = tempfile.mkdtemp()
        r = harness.run_dxhub("serve", "--data", data, "--bind", "0.0.0.0", "--http-port", "0",
                              "--dicom-port", "0")
        self.assertEqual(r.returncode, 2)
        self.assertIn("needs TLS", r.stdout + r.stderr)
        r = harness.run_dxhub("serve", "--data", data, "--bind", "0.0.0.0", "--behind-proxy")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--trusted-proxies", r.stderr)


class ForwardedForTest(unittest.TestCase):
    def test_audit_records_the_client_only_through_a_trusted_proxy(self):
        server = Server(extra_args=["--no-ai", "--behind-proxy", "--trusted-proxies",
                                    "127.0.0.1"]).start()
        other = Server(extra_args=["--no-ai"]).start()
        try:
            for s, expected in ((server, "10.20.30.40"), (other, "127.0.0.1")):
                req = s.request("/api/worklist",
                                headers={"X-Forwarded-For": "6.6.6.6, 10.20.30.40"})
                with urllib.request.urlopen(req, timeout=30) as r:
                    self.assertEqual(r.status, 200)
                status, audit = s.get("/api/audit?limit=20")
                rows = [e for e in audit["entries"] if e["object"] == "/api/worklist"]
                self.assertEqual(rows[0]["remote"], expected)
        finally:
            server.cleanup()
            other.cleanup()


def dcmtk_tls(tool, port, tls_args, *rest):
    r = subprocess.run([tool, "-v", *tls_args, "-aec", "DXHUB", "127.0.0.1", str(port), *rest],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


class DicomTlsTest(unittest.TestCase):
    """DICOM TLS (dcmtls) with DCMTK's echoscu/storescu: client certificates required and
    checked against a CA folder, plain DICOM to the TLS port refused cleanly."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="dxhub-dtls-")
        cls.ca, cert, key = harness.make_test_ca(cls.tmp)
        cas = os.path.join(cls.tmp, "trusted")
        os.mkdir(cas)
        os.link(cls.ca, os.path.join(cas, "ca.pem"))
        cls.tls_port = harness.free_port()
        # A C-MOVE destination reached over DICOM TLS: DCMTK storescp demanding dxhub's
        # client certificate.
        cls.dest_port = harness.free_port()
        cls.received = os.path.join(cls.tmp, "received")
        os.mkdir(cls.received)
        cls.storescp = subprocess.Popen(
            ["storescp", "+tls", key, cert, "+cf", cls.ca, "-rc", "-aet", "TLSDEST", "-od",
             cls.received, str(cls.dest_port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        config = os.path.join(cls.tmp, "dxhub.toml")
        with open(config, "w") as f:
            f.write(f"""[[remote-ae]]
aet = "TLSDEST"
host = "127.0.0.1"
port = {cls.dest_port}
tls = true
ca = "{cls.ca}"
[[query-ae]]
aet = "MOVESCU"
host = "127.0.0.1"
port = 104
""")
        cls.server = Server(extra_args=["--no-ai", "--tls-cert", cert, "--tls-key", key,
                                        "--dicom-tls-port", str(cls.tls_port),
                                        "--dicom-tls-ca", cas, "--config", config])
        cls.server.scheme = "https"
        cls.server.ssl_context = ssl.create_default_context(cafile=cls.ca)
        cls.server.start()
        cls.client = ["+tls", os.path.join(cls.tmp, "client.key"),
                      os.path.join(cls.tmp, "client.pem"), "+cf", cls.ca]

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.storescp.terminate()
        cls.storescp.wait()

    def test_move_to_a_tls_destination(self):
        path = harness.write_instance(os.path.join(self.tmp, "move.dcm"), "1.2.3.4.4343",
                                      study_uid="1.2.3.4.4300", series_uid="1.2.3.4.4300.1")
        rc, out = harness.storescu(self.server, [path])
        self.assertEqual(rc, 0, out)
        r = subprocess.run(["movescu", "-v", "-S", "-aec", "DXHUB", "-aem", "TLSDEST", "-k",
                            "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID=1.2.3.4.4300",
                            "127.0.0.1", str(self.server.dicom_port)],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("Failed", r.stdout + r.stderr)
        deadline = time.time() + 10
        while time.time() < deadline and not os.listdir(self.received):
            time.sleep(0.1)
        self.assertEqual(len(os.listdir(self.received)), 1, os.listdir(self.received))

    def test_echo_and_store_with_a_client_certificate(self):
        rc, out = dcmtk_tls("echoscu", self.tls_port, self.client)
        self.assertEqual(rc, 0, out)
        path = harness.write_instance(os.path.join(self.tmp, "tls.dcm"), "1.2.3.4.4242",
                                      study_uid="1.2.3.4.4200", series_uid="1.2.3.4.4200.1")
        rc, out = dcmtk_tls("storescu", self.tls_port, self.client, path)
        self.assertEqual(rc, 0, out)
        status, stats = self.server.get("/api/statistics")
        self.assertGreaterEqual(stats["instances"], 1)

    def test_without_a_client_certificate_refused(self):
        rc, out = dcmtk_tls("echoscu", self.tls_port, ["+tla", "+cf", self.ca])
        self.assertNotEqual(rc, 0, out)
        # A certificate from another CA is refused too.
        other = tempfile.mkdtemp()
        harness.make_test_ca(other)
        rc, out = dcmtk_tls("echoscu", self.tls_port,
                            ["+tls", os.path.join(other, "client.key"),
                             os.path.join(other, "client.pem"), "+cf", self.ca])
        self.assertNotEqual(rc, 0, out)
        rc, out = dcmtk_tls("echoscu", self.tls_port, self.client)  # still serving
        self.assertEqual(rc, 0, out)

    def test_certificate_reloads_on_sighup(self):
        # The DICOM TLS port demands a client certificate.
        renew_and_reload(self, self.server, self.tmp, self.tls_port,
                         ["-cert", os.path.join(self.tmp, "client.pem"),
                          "-key", os.path.join(self.tmp, "client.key")])
        rc, out = dcmtk_tls("echoscu", self.tls_port, self.client)
        self.assertEqual(rc, 0, out)

    def test_plain_dicom_to_the_tls_port_fails_cleanly(self):
        r = subprocess.run(["echoscu", "-to", "10", "-ta", "10", "-aec", "DXHUB", "127.0.0.1",
                            str(self.tls_port)], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertTrue(self.server.echo())  # the plain port serves on
        rc, out = dcmtk_tls("echoscu", self.tls_port, self.client)
        self.assertEqual(rc, 0, out)


if __name__ == "__main__":
    unittest.main()
