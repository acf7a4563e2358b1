#!/usr/bin/python3
"""bench/scoped.py: the price of institution scoping on QIDO-RS study search and the worklist.

N synthetic single-instance studies (bench/make_studies.py, reused from bench/out/query-studies
when complete) are imported into one dxhub (SQLite index) as the studies of 10 clinics: folder k
of the generator (1,000 studies each) goes to clinic k mod 10 (`dxhub import --institution`).
A hospital reads for all ten. In one run, against one server, three callers:
  unscoped   the first admin (a user of no institution: Scope::Everything, no SQL condition)
  hospital   a radiologist of the hospital (a scope of 10 institutions: IN (10 ids))
  clinic     a clinician of clinic 3 (one institution, a tenth of the studies)
each send the same sequential requests on one keep-alive connection: QUERIES QIDO-RS study
searches cycling over a fixed mix (PatientName prefix, StudyDate month and year, modality +
quarter, PatientID, accession, with and without offset; limit=25, fixed seed) and WORKLIST
/api/worklist pages (all studies, by date, by modality; limit=50). Before timing, every answer a
scoped caller gets is checked to hold only studies its scope allows. p50 / p95 per caller and
the ratios scoped / unscoped go to bench/RESULTS.md, section "## Institution scoping
(bench/scoped.py)".

Usage:  bench/scoped.py                  # N=100000
        N=2000 bench/scoped.py           # quick check
Environment: N, QUERIES=400, WORKLIST=150, DXHUB=build/bin/dxhub, RESULTS=bench/RESULTS.md
(RESULTS=- prints only), IMPORT_THREADS=2.
"""
import calendar
import http.client
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = int(os.environ.get("N", "100000"))
QUERIES = int(os.environ.get("QUERIES", "400"))
WORKLIST = int(os.environ.get("WORKLIST", "150"))
DXHUB = os.environ.get("DXHUB", os.path.join(ROOT, "build", "bin", "dxhub"))
RESULTS = os.environ.get("RESULTS", os.path.join(ROOT, "bench", "RESULTS.md"))
THREADS = os.environ.get("IMPORT_THREADS", "2")
STUDIES = os.path.join(ROOT, "bench", "out", "query-studies")
CLINICS = 10
PASSWORD = "bench pass phrase 1"


def log(msg):
    print(f"scoped.py: {msg}", file=sys.stderr, flush=True)


def dxhub(data, *args, stdin=None):
    r = subprocess.run([DXHUB, *args, "--data", data], input=stdin, capture_output=True,
                       text=True)
    if r.returncode != 0:
        sys.exit(f"dxhub {' '.join(args)} failed: {r.stdout}{r.stderr}")
    return r.stdout


def manifest_rows():
    path = os.path.join(STUDIES, "manifest.tsv")
    if not os.path.exists(path) or sum(1 for _ in open(path)) != N + 1:
        log(f"generating {N} studies into {STUDIES}")
        shutil.rmtree(STUDIES, ignore_errors=True)
        subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "make_studies.py"),
                        "--count", str(N), "--out", STUDIES], check=True)
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        return [dict(zip(header, line.rstrip("\n").split("\t"))) for line in f]


def clinic_of(row):
    return (int(row["n"]) // 1000) % CLINICS


def query_mix(rows):
    rng = random.Random(20261208)
    pick = lambda: rng.choice(rows)
    mix = []
    for _ in range(5):
        fam = pick()["patient_name"].split("^")[0]
        mix.append({"PatientName": fam[:3].lower() + "*"})
    for _ in range(5):
        d = pick()["study_date"]
        y, m = int(d[:4]), int(d[4:6])
        mix.append({"StudyDate": "%04d%02d01-%04d%02d%02d" % (y, m, y, m,
                                                               calendar.monthrange(y, m)[1])})
    for _ in range(5):
        r = pick()
        y, m = int(r["study_date"][:4]), int(r["study_date"][4:6])
        m0 = (m - 1) // 3 * 3 + 1
        mix.append({"StudyDate": "%04d%02d01-%04d%02d%02d" % (y, m0, y, m0 + 2, calendar.monthrange(y, m0 + 2)[1]),
                    "ModalitiesInStudy": r["modality"]})
    for _ in range(5):
        mix.append({"PatientID": pick()["patient_id"]})
    for _ in range(5):
        mix.append({"AccessionNumber": pick()["accession"]})
    for i in range(5):
        y = pick()["study_date"][:4]
        mix.append({"StudyDate": y + "0101-" + y + "1231", "offset": str(100 * (i + 1))})
    for q in mix:
        q["limit"] = "25"
    return mix


def worklist_mix(rows):
    rng = random.Random(20261209)
    mix = [{"limit": "50"}, {"limit": "50", "offset": "100"}]
    for _ in range(3):
        d = rng.choice(rows)["study_date"]
        mix.append({"limit": "50", "from": d[:6] + "01", "to": d[:6] + "28"})
    for _ in range(3):
        mix.append({"limit": "50", "modality": rng.choice(rows)["modality"]})
    return mix


class Client:
    def __init__(self, port, token):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.token = token

    def get(self, path, params, accept="application/json"):
        url = path + "?" + urllib.parse.urlencode(params)
        t0 = time.perf_counter()
        self.conn.request("GET", url, headers={"Authorization": "Bearer " + self.token,
                                                "Accept": accept})
        r = self.conn.getresponse()
        body = r.read()
        elapsed = (time.perf_counter() - t0) * 1000
        if r.status not in (200, 204):
            sys.exit(f"GET {url}: {r.status} {body[:200]}")
        return elapsed, body


def main():
    rows = manifest_rows()
    by_uid = {r["study_uid"]: clinic_of(r) for r in rows}
    run = tempfile.mkdtemp(prefix="scoped-", dir=os.path.join(ROOT, "bench", "out"))
    data = os.path.join(run, "var")
    try:
        os.makedirs(data)
        for k in range(CLINICS):
            dxhub(data, "institution", "add", f"Clinic {k}", "--issuer", f"CL{k}")
        dxhub(data, "institution", "add", "Main Hospital", *sum(
            (["--reads-for", f"Clinic {k}"] for k in range(CLINICS)), []))
        folders = sorted(d for d in os.listdir(STUDIES) if d.startswith("d"))
        t0 = time.time()
        for k in range(CLINICS):
            mine = [os.path.join(STUDIES, d) for i, d in enumerate(folders) if i % CLINICS == k]
            if mine:
                dxhub(data, "import", "--no-progress", "--threads", THREADS, "--institution",
                      f"Clinic {k}", *mine)
        load_s = time.time() - t0
        log(f"imported {N} studies into {CLINICS} clinics in {load_s:.0f} s")
        tokens = {}
        # An administrator of no institution sees the whole region: no scope condition at all.
        for user, role, institution in (("unscoped", "admin", None),
                                        ("hospital", "radiologist", "Main Hospital"),
                                        ("clinic", "clinician", "Clinic 3")):
            dxhub(data, "user", "add", user, "--role", role,
                  *(["--institution", institution] if institution else []), stdin=PASSWORD + "\n")
            tokens[user] = dxhub(data, "user", "token", user, "--token-name",
                                 "bench").strip().splitlines()[-1]
        server = subprocess.Popen([DXHUB, "serve", "--data", data, "--no-ai", "--http-port", "0",
                                   "--dicom-port", "0"], stderr=subprocess.PIPE, text=True)
        port = None
        for line in server.stderr:
            if "dxhub ready" in line:
                port = int(line.rsplit(":", 1)[1].strip().rstrip("/"))
                break
        if port is None:
            sys.exit("dxhub did not start")
        subprocess.Popen(["cat"], stdin=server.stderr, stdout=subprocess.DEVNULL)
        clients = {name: Client(port, tokens[name]) for name in ("unscoped", "hospital", "clinic")}
        qido, worklist = query_mix(rows), worklist_mix(rows)

        # Correctness first: a scoped caller sees only its scope's studies.
        for q in qido:
            for name, allowed in (("hospital", set(range(CLINICS))), ("clinic", {3})):
                _, body = clients[name].get("/dicom-web/studies", q, "application/dicom+json")
                for study in json.loads(body or b"[]"):
                    uid = study["0020000D"]["Value"][0]
                    if by_uid.get(uid) not in allowed:
                        sys.exit(f"{name} got {uid} of clinic {by_uid.get(uid)}")
        log("every scoped answer holds only studies of its scope")

        times = {}
        for name, client in clients.items():  # warm: caches, the statement cache, the pages
            for q in qido:
                client.get("/dicom-web/studies", q, "application/dicom+json")
            for q in worklist:
                client.get("/api/worklist", q)
        # Interleaved: each request goes to every caller in turn, so drift hits all alike.
        for i in range(QUERIES):
            q = qido[i % len(qido)]
            for name, client in clients.items():
                ms, _ = client.get("/dicom-web/studies", q, "application/dicom+json")
                times.setdefault(("qido", name), []).append(ms)
        for i in range(WORKLIST):
            q = worklist[i % len(worklist)]
            for name, client in clients.items():
                ms, _ = client.get("/api/worklist", q)
                times.setdefault(("worklist", name), []).append(ms)
        server.terminate()
        server.wait(timeout=30)
    finally:
        shutil.rmtree(run, ignore_errors=True)

    def pct(v, p):
        v = sorted(v)
        return v[min(len(v) - 1, int(round(p * (len(v) - 1))))]

    lines = ["## Institution scoping (bench/scoped.py)", "",
             f"Machine: {platform.node()} ({os.cpu_count()} CPUs, {platform.platform()}); "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Command: "
             f"`N={N} bench/scoped.py`.", "",
             f"{N} studies in {CLINICS} clinics (SQLite index, imported in {load_s:.0f} s); "
             f"{QUERIES} QIDO-RS study searches (a mix of {len(qido)}, limit 25) and {WORKLIST} "
             f"worklist pages (a mix of {len(worklist)}, limit 50) per caller, sequential on "
             "one keep-alive connection, interleaved across callers; milliseconds.", "",
             "| request | caller | scope | p50 | p95 | p95 / unscoped |", "|---|---|---|---:|---:|---:|"]
    scopes = {"unscoped": "everything (no condition)", "hospital": "10 institutions",
              "clinic": "1 institution"}
    for kind in ("qido", "worklist"):
        base = pct(times[(kind, "unscoped")], 0.95)
        for name in ("unscoped", "hospital", "clinic"):
            v = times[(kind, name)]
            lines.append(f"| {'QIDO-RS /studies' if kind == 'qido' else '/api/worklist'} | "
                         f"{name} | {scopes[name]} | {statistics.median(v):.1f} | "
                         f"{pct(v, 0.95):.1f} | {pct(v, 0.95) / base:.2f} |")
    lines += ["", "Target (issue 15): scoped p95 <= 1.2x the unscoped figure in the same run."]
    text = "\n".join(lines) + "\n"
    print(text)
    if RESULTS != "-":
        with tempfile.NamedTemporaryFile("w", delete=False, suffix=".md") as f:
            f.write(text)
        subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "write_section.py"),
                        RESULTS, f.name, lines[0]], check=True)
        os.unlink(f.name)


if __name__ == "__main__":
    main()
