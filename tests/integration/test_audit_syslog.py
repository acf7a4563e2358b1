"""Audit export: every audit event reaches a real syslog collector (Debian's rsyslog, started here
on loopback) as a DICOM PS3.15 A.5 audit message, over UDP and over TLS (RFC 5425); with the
collector down, events are kept and delivered when it returns."""

import os
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.error
import xml.etree.ElementTree as ET

import harness
from harness import Server

RSYSLOGD = "/usr/sbin/rsyslogd"


class Rsyslog:
    """rsyslogd in the foreground with a config of its own: UDP and TLS inputs, every message's
    text appended to one file."""

    def __init__(self, directory, ca, cert, key):
        self.dir = directory
        self.udp_port = harness.free_port()
        self.tls_port = harness.free_port()
        self.out = os.path.join(directory, "audit.log")
        self.conf = os.path.join(directory, "rsyslog.conf")
        with open(self.conf, "w") as f:
            f.write(f'''global(workDirectory="{directory}" maxMessageSize="64k"
       DefaultNetstreamDriverCAFile="{ca}" DefaultNetstreamDriverCertFile="{cert}"
       DefaultNetstreamDriverKeyFile="{key}")
module(load="imudp")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1"
       StreamDriver.AuthMode="anon")
input(type="imudp" address="127.0.0.1" port="{self.udp_port}")
input(type="imtcp" address="127.0.0.1" port="{self.tls_port}")
template(name="msgonly" type="string" string="%msg%\\n")
action(type="omfile" file="{self.out}" template="msgonly")
''')
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([RSYSLOGD, "-n", "-f", self.conf, "-i",
                                      os.path.join(self.dir, "rsyslogd.pid")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:  # the TLS listener is up when it accepts a connection
            try:
                import socket
                socket.create_connection(("127.0.0.1", self.tls_port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("rsyslogd did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)

    def messages(self):
        if not os.path.exists(self.out):
            return []
        out = []
        with open(self.out, encoding="utf-8", errors="replace") as f:
            for line in f:
                start = line.find("<?xml")
                if start >= 0:
                    out.append(ET.fromstring(line[start:].strip().encode()))
        return out

    def wait_for(self, predicate, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = [m for m in self.messages() if predicate(m)]
            if found:
                return found
            time.sleep(0.2)
        return []


def user_of(message):
    p = message.find("ActiveParticipant[@UserIsRequestor='true']")
    return p.get("UserID") if p is not None else None


def failed_login(server, name):
    req = server.request("/api/login", data=b'{"username": "%s", "password": "x"}' %
                         name.encode(), method="POST",
                         headers={"Content-Type": "application/json", "Authorization": ""})
    try:
        harness.urllib.request.urlopen(req, timeout=30)
    except urllib.error.HTTPError:
        pass


class AuditSyslogTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="dxhub-syslog-")
        cls.ca, cert, key = harness.make_test_ca(cls.tmp)
        cls.rsyslog = Rsyslog(cls.tmp, cls.ca, cert, key).start()

    @classmethod
    def tearDownClass(cls):
        cls.rsyslog.stop()

    def test_udp_messages_have_the_ps3_15_structure(self):
        server = Server(extra_args=["--no-ai", "--audit-syslog",
                                    f"udp://127.0.0.1:{self.rsyslog.udp_port}",
                                    *harness.QUERY_PEERS]).start()
        try:
            status, _ = server.get("/api/worklist")
            self.assertEqual(status, 200)
            subprocess.run(["findscu", "-S", "-aec", server.aet, "-k", "QueryRetrieveLevel=STUDY",
                            "-k", "PatientName=ZHANG*", "127.0.0.1", str(server.dicom_port)],
                           capture_output=True, timeout=60)
            reads = self.rsyslog.wait_for(lambda m: m.find(
                "EventIdentification/EventID").get("csd-code") == "110103")
            self.assertTrue(reads, "an HTTP read of patient data arrives")
            m = reads[-1]
            self.assertEqual(m.tag, "AuditMessage")
            ev = m.find("EventIdentification")
            self.assertEqual(ev.get("EventActionCode"), "R")
            self.assertEqual(ev.get("EventOutcomeIndicator"), "0")
            self.assertEqual(ev.find("EventID").get("codeSystemName"), "DCM")
            participants = m.findall("ActiveParticipant")
            self.assertEqual(len(participants), 2)
            requestor = [p for p in participants if p.get("UserIsRequestor") == "true"][0]
            self.assertEqual(requestor.get("UserID"), "admin")
            self.assertEqual(requestor.get("NetworkAccessPointID"), "127.0.0.1")
            self.assertTrue(m.find("AuditSourceIdentification").get("AuditSourceID"))
            self.assertEqual(m.find("ParticipantObjectIdentification").get(
                "ParticipantObjectID"), "/api/worklist")
            queries = self.rsyslog.wait_for(lambda m: m.find(
                "EventIdentification/EventID").get("csd-code") == "110112")
            self.assertTrue(queries, "a C-FIND arrives as a Query event")
            q = queries[-1]
            self.assertEqual(user_of(q), "FINDSCU")
            self.assertIsNotNone(q.find("ParticipantObjectIdentification/ParticipantObjectQuery"))
        finally:
            server.cleanup()

    def test_tls_collector_down_then_up_loses_nothing(self):
        server = Server(extra_args=["--no-ai", "--audit-syslog",
                                    f"tls://127.0.0.1:{self.rsyslog.tls_port}",
                                    "--audit-syslog-ca", self.ca]).start()
        try:
            failed_login(server, "before-outage")
            self.assertTrue(self.rsyslog.wait_for(lambda m: user_of(m) == "before-outage"))
            self.rsyslog.stop()
            names = [f"during-outage-{i}" for i in range(5)]
            for name in names:
                failed_login(server, name)
            time.sleep(1)  # let the sender notice the collector is gone (it keeps the events)
            self.rsyslog.start()
            for name in names:
                found = self.rsyslog.wait_for(lambda m, n=name: user_of(m) == n, timeout=60)
                self.assertTrue(found, f"{name} was lost")
                ev = found[0].find("EventIdentification")
                self.assertEqual(ev.find("EventID").get("csd-code"), "110114")
                self.assertEqual(ev.get("EventOutcomeIndicator"), "4")
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main()
