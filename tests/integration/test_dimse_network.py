"""The DICOM port on a hospital network: idle, slow, foreign and flooding peers cannot stall it;
access follows the peer's address (never its DNS name); only configured query/retrieve peers,
from their own addresses, may C-FIND / C-GET / C-MOVE, and every query and retrieve is audited.
Driven with DCMTK's echoscu, storescu, findscu, movescu and getscu, and raw sockets for what no
well-behaved client does."""

import os
import socket
import subprocess
import tempfile
import time
import unittest

import harness
from harness import Server

CT_DIR = os.path.join(harness.SAMPLES, "ct-abdomen-20slices")


def echoscu(server, calling="ECHOSCU", acse_timeout=10):
    r = subprocess.run(["echoscu", "-ta", str(acse_timeout), "-to", str(acse_timeout),
                        "-aet", calling, "-aec", server.aet, "127.0.0.1",
                        str(server.dicom_port)],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


dcmtk = harness.dcmtk


def audit(server, action):
    status, body = server.get("/api/audit?limit=1000")
    assert status == 200, body
    return [e for e in body["entries"] if e["action"] == action]


def open_idle(port, n):
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        socks.append(s)
    return socks


class StallTest(unittest.TestCase):
    """Peers that connect and say nothing, or trickle, or speak another protocol."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server(extra_args=["--max-associations-per-host", "40",
                                        "--association-timeout", "10"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def test_idle_and_slow_sockets_do_not_delay_a_modality(self):
        # Before the listener accepted concurrently, one idle socket held every association for
        # the 30 s ACSE timeout and 5 made echoscu fail.
        idle = open_idle(self.server.dicom_port, 20)
        slow = open_idle(self.server.dicom_port, 5)
        for s in slow:  # an A-ASSOCIATE-RQ header announcing 200 bytes, then nothing more
            s.sendall(bytes([1, 0, 0, 0, 0, 200, 0, 1]))
        try:
            rc, out = echoscu(self.server)
            self.assertEqual(rc, 0, out)
            path = harness.write_instance(os.path.join(tempfile.mkdtemp(), "a.dcm"), "1.2.3.77")
            rc, out = harness.storescu(self.server, [path])
            self.assertEqual(rc, 0, out)
        finally:
            for s in idle + slow:
                s.close()

    def test_idle_socket_is_closed_after_the_association_timeout(self):
        # The server closes it (after --association-timeout, 10 s); a recv that waited longer
        # would raise TimeoutError rather than return the end of stream.
        s = socket.create_connection(("127.0.0.1", self.server.dicom_port), timeout=60)
        self.assertEqual(s.recv(1), b"", "the server closes a connection that sends nothing")
        s.close()

    def test_foreign_protocols_are_closed_cleanly(self):
        for first in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                      bytes([0x16, 3, 1, 0, 0x40]) + b"\0" * 64,  # a TLS ClientHello record
                      bytes([1, 0, 0x7f, 0xff, 0xff, 0xff])):  # a 2 GB association request
            s = socket.create_connection(("127.0.0.1", self.server.dicom_port), timeout=10)
            s.sendall(first)
            try:
                self.assertEqual(s.recv(64), b"")
            except ConnectionResetError:
                pass  # closed with our bytes unread: a reset, as it should be
            s.close()
        rc, out = echoscu(self.server)
        self.assertEqual(rc, 0, out)


class PerHostCapTest(unittest.TestCase):
    def test_one_host_cannot_take_every_connection(self):
        server = Server(extra_args=["--max-associations-per-host", "4"]).start()
        try:
            # Six connections from one address, none sending anything: at most four stay open
            # (the start-up echo may still hold a slot for a moment, so three or four).
            conns = open_idle(server.dicom_port, 6)
            for s in conns:
                s.setblocking(False)
            deadline = time.time() + 5  # well inside the 10 s association timeout
            closed = set()
            while time.time() < deadline and len(closed) < 2:
                for i, s in enumerate(conns):
                    try:
                        if s.recv(1) == b"":
                            closed.add(i)
                    except (BlockingIOError, TimeoutError):
                        pass  # still open
                    except ConnectionResetError:
                        closed.add(i)
                time.sleep(0.05)
            self.assertGreaterEqual(len(closed), 2, "connections over the cap are closed at once")
            self.assertLessEqual(len(closed), 3)
            for s in conns:
                s.close()
            deadline = time.time() + 10
            while time.time() < deadline:  # the slots free as the listener sees the closes
                rc, out = echoscu(server)
                if rc == 0:
                    break
            self.assertEqual(rc, 0, out)
        finally:
            server.cleanup()


class AllowedHostsTest(unittest.TestCase):
    """--allowed-hosts matches the peer's IP (and CIDR ranges), never a reverse-DNS name."""

    def check(self, hosts, accepted):
        server = Server(extra_args=["--allowed-hosts", *hosts])
        try:
            server.start(echo_ready=False)
            rc, out = echoscu(server)
            self.assertEqual(rc == 0, accepted, out)
        finally:
            server.cleanup()

    def test_ip_entry_matches(self):
        # 127.0.0.1 used to be refused: the peer was compared as "localhost".
        self.check(["127.0.0.1"], True)

    def test_cidr_entries(self):
        self.check(["10.0.0.0/8", "127.0.0.0/24"], True)
        self.check(["10.0.0.0/8"], False)

    def test_host_names_are_refused_at_start(self):
        r = harness.run_dxhub("serve", "--data", tempfile.mkdtemp(), "--allowed-hosts",
                              "localhost", "--http-port", "0", "--dicom-port", "0")
        self.assertEqual(r.returncode, 2)
        self.assertIn("not an IP address", r.stderr)


class QueryRetrieveAccessTest(unittest.TestCase):
    """Who may query and retrieve, and the audit of every attempt."""

    @classmethod
    def setUpClass(cls):
        cls.dest_port = harness.free_port()
        cls.received = tempfile.mkdtemp()
        cls.storescp = subprocess.Popen(
            ["storescp", "+xa", "-aet", "DEST", "-od", cls.received, str(cls.dest_port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cls.config = tempfile.mktemp(suffix=".toml")
        with open(cls.config, "w") as f:
            f.write(f'''remote-ae = ["DEST@127.0.0.1:{cls.dest_port}"]
[[query-ae]]
aet = "VIEWER"
host = "127.0.0.1"
port = 104
[[query-ae]]
aet = "FARAWAY"
host = "127.0.0.1"
port = 104
from = ["10.9.9.0/24"]
''')
        cls.server = Server(extra_args=["--config", cls.config])
        cls.server.start()
        cls.server.stop()
        r = harness.run_dxhub("import", "--data", cls.server.var, "--no-progress", CT_DIR)
        assert r.returncode == 0, r.stdout + r.stderr
        cls.server.start()
        studies = cls.server.all_studies()
        cls.study = studies[0]["study_instance_uid"]

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.storescp.terminate()
        cls.storescp.wait()

    def test_unconfigured_ae_cannot_query(self):
        rc, out = dcmtk("findscu", self.server, "NOBODY",
                        ["QueryRetrieveLevel=STUDY", "StudyInstanceUID"])
        self.assertRegex(out, r"0x0?124")  # Refused: Not Authorized
        self.assertNotIn(self.study, out)
        rows = [e for e in audit(self.server, "C-FIND") if e["user"] == "NOBODY"]
        self.assertTrue(rows)
        self.assertIn("refused", rows[-1]["detail"])
        self.assertEqual(rows[-1]["remote"], "127.0.0.1")

    def test_title_alone_is_not_enough(self):
        # FARAWAY is a query peer, but only from 10.9.9.0/24.
        rc, out = dcmtk("findscu", self.server, "FARAWAY",
                        ["QueryRetrieveLevel=STUDY", "StudyInstanceUID"])
        self.assertRegex(out, r"0x0?124")
        rc, out = dcmtk("getscu", self.server, "FARAWAY",
                        ["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={self.study}"],
                        extra=["-od", tempfile.mkdtemp()])
        self.assertRegex(out, r"0x0?124")
        self.assertIn("refused", [e for e in audit(self.server, "C-GET")
                                  if e["user"] == "FARAWAY"][-1]["detail"])

    def test_configured_peer_queries_and_is_audited(self):
        rc, out = dcmtk("findscu", self.server, "VIEWER",
                        ["QueryRetrieveLevel=STUDY", "PatientName=*", "StudyInstanceUID"])
        self.assertEqual(rc, 0, out)
        self.assertIn(self.study, out)
        row = [e for e in audit(self.server, "C-FIND") if e["user"] == "VIEWER"][-1]
        self.assertEqual(row["remote"], "127.0.0.1")
        self.assertIn("STUDY", row["object"])
        self.assertIn("PatientName=*", row["object"])
        self.assertIn("1 matches", row["detail"])
        self.assertIn(self.study, row["detail"])

    def test_get_and_move_are_audited_with_what_was_sent(self):
        with tempfile.TemporaryDirectory() as out_dir:
            rc, out = dcmtk("getscu", self.server, "VIEWER",
                            ["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={self.study}"],
                            extra=["-od", out_dir])
            self.assertEqual(rc, 0, out)
            self.assertEqual(len(os.listdir(out_dir)), 20)
        row = [e for e in audit(self.server, "C-GET") if e["user"] == "VIEWER"][-1]
        self.assertIn("20 instances of 1 studies", row["detail"])
        self.assertIn(self.study, row["detail"])

        rc, out = dcmtk("movescu", self.server, "NOBODY",
                        ["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={self.study}"],
                        extra=["-aem", "DEST"])
        self.assertRegex(out, r"0x0?124")
        rc, out = dcmtk("movescu", self.server, "VIEWER",
                        ["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={self.study}"],
                        extra=["-aem", "DEST"])
        self.assertEqual(rc, 0, out)
        rows = audit(self.server, "C-MOVE")
        self.assertIn("refused", [e for e in rows if e["user"] == "NOBODY"][-1]["detail"])
        sent = [e for e in rows if e["user"] == "VIEWER"][-1]
        self.assertIn("to DEST: 20 instances of 1 studies", sent["detail"])

    def test_store_needs_no_query_permission(self):
        # Modalities push; storing is governed by allowed-aets/allowed-hosts only.
        rc, out = echoscu(self.server, calling="MODALITY")
        self.assertEqual(rc, 0, out)


if __name__ == "__main__":
    unittest.main()
