#!/usr/bin/env bash
# bench/query.sh: QIDO-RS study search latency and WADO-RS retrieve throughput of dxhub vs Orthanc.
#
# N synthetic single-instance studies (bench/make_studies.py: generated patient/study
# metadata, 8x8 16-bit pixels, Explicit VR LE; reused from bench/out/query-studies when
# complete) are indexed in
#   dxhub    `build/bin/dxhub import` into a fresh data dir, then `dxhub serve`
#   orthanc  /usr/sbin/Orthanc (Debian) + DICOMweb plugin, fresh storage, files POSTed
#            to /instances by LOAD_THREADS parallel HTTP clients
# and then, in one run, against both servers on loopback:
#   1. every query of the fixed mix is checked: the result count of each server must equal
#      the count computed from the generator's manifest (and, for result sets that fit in
#      one response, the StudyInstanceUIDs must match); any difference aborts the run;
#   2. QIDO latency: QUERIES sequential requests (one keep-alive connection) cycling over
#      the mix (8 query kinds x 5 values, limit=25, some with offset paging); p50/p95;
#   3. WADO-RS instance retrieve: the same WADO_COUNT instances (fixed seed) with
#      WADO_THREADS client threads, instances/s;
#   4. WADO-RS rendered frame (.../frames/1/rendered, Accept: image/jpeg): the same way,
#      for a server whose endpoint answers 200; otherwise recorded as "not implemented".
# The table is printed and written to bench/RESULTS.md, section
# "## Query and retrieve (bench/query.sh)" (other sections are kept).
#
# Usage:  bench/query.sh              # N=100000
#         N=300 bench/query.sh        # quick check
# Environment:
#   N=100000            studies (1 series, 1 instance each)
#   QUERIES=200         timed QIDO requests per server
#   WADO_COUNT=500      instances retrieved per server (capped at N)
#   WADO_THREADS=4      concurrent WADO clients
#   LOAD_THREADS=6      parallel POST /instances clients loading Orthanc
#   IMPORT_THREADS=2    dxhub import --threads
#   DXHUB=build/bin/dxhub  ORTHANC=/usr/sbin/Orthanc
#   ORTHANC_DICOMWEB=   path of libOrthancDicomWeb.so (default: found via dpkg -L orthanc-dicomweb)
#   RESULTS=bench/RESULTS.md   (RESULTS=- to not write any file)
#   KEEP=0              1 keeps the run directory (both servers' data and logs) under bench/out
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

N="${N:-100000}"
QUERIES="${QUERIES:-200}"
WADO_COUNT="${WADO_COUNT:-500}"
WADO_THREADS="${WADO_THREADS:-4}"
LOAD_THREADS="${LOAD_THREADS:-6}"
IMPORT_THREADS="${IMPORT_THREADS:-2}"
DXHUB="${DXHUB:-$ROOT/build/bin/dxhub}"
ORTHANC="${ORTHANC:-/usr/sbin/Orthanc}"
ORTHANC_DICOMWEB="${ORTHANC_DICOMWEB:-}"
RESULTS="${RESULTS:-$ROOT/bench/RESULTS.md}"
KEEP="${KEEP:-0}"
PY=/usr/bin/python3          # Debian's python3: has pydicom (the pyenv one on PATH has not)
OUT="$ROOT/bench/out"
STUDIES="$OUT/query-studies"
START_TIMEOUT=120            # seconds to wait for a server to answer

die() { echo "query.sh: ERROR: $*" >&2; exit 1; }
log() { echo "query.sh: $*" >&2; }

for v in N QUERIES WADO_COUNT WADO_THREADS LOAD_THREADS IMPORT_THREADS; do
  [[ "${!v}" =~ ^[0-9]+$ ]] && (( ${!v} >= 1 )) || die "$v=${!v} must be a positive integer"
done
WADO_ASKED=$WADO_COUNT
(( WADO_COUNT > N )) && WADO_COUNT=$N
[[ -x "$DXHUB" ]] || die "$DXHUB not built"
[[ -x "$ORTHANC" ]] || die "$ORTHANC not found (apt-get install -y orthanc)"
command -v curl >/dev/null || die "curl not found"
"$PY" -c 'import pydicom' 2>/dev/null || die "$PY has no pydicom (apt-get install python3-pydicom)"
if [[ -z "$ORTHANC_DICOMWEB" ]]; then
  ORTHANC_DICOMWEB=$(dpkg -L orthanc-dicomweb 2>/dev/null | grep -m1 '/libOrthancDicomWeb\.so$' || true)
fi
[[ -n "$ORTHANC_DICOMWEB" && -f "$ORTHANC_DICOMWEB" ]] ||
  die "Orthanc DICOMweb plugin not found (apt-get install -y orthanc-dicomweb, or set ORTHANC_DICOMWEB)"

mkdir -p "$OUT"

# ---------------------------------------------------------------- cleanup
DX_PID=""; OR_PID=""; RUN_DIR=""
stop_pid() {  # stop_pid PID NAME
  local pid=$1 i
  [[ -n "$pid" ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "WARNING: $2 did not stop within 10s of SIGTERM, killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  set +e
  stop_pid "$DX_PID" dxhub
  stop_pid "$OR_PID" Orthanc
  if [[ -n "$RUN_DIR" && -d "$RUN_DIR" ]]; then
    if (( rc != 0 )); then
      local keep="$OUT/logs/query-failed-$(basename "$RUN_DIR")"
      mkdir -p "$keep"; cp "$RUN_DIR"/*.log "$RUN_DIR"/*.json "$keep"/ 2>/dev/null
      log "logs of the failed run kept in $keep"
    fi
    if [[ "$KEEP" == 1 ]]; then log "run directory kept: $RUN_DIR"; else rm -rf "$RUN_DIR"; fi
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------- studies
count_files() { if [[ -d "$STUDIES" ]]; then find "$STUDIES" -name 's*.dcm' -type f; fi | wc -l; }
complete() {
  [[ -f "$STUDIES/manifest.tsv" ]] || return 1
  (( $(wc -l <"$STUDIES/manifest.tsv") == N + 1 )) && (( $(count_files) == N ))
}
if complete; then
  log "reusing $N studies in $STUDIES"
else
  log "generating $N studies into $STUDIES"
  rm -rf "$STUDIES"
  t0=$(now)
  "$PY" "$ROOT/bench/make_studies.py" --count "$N" --out "$STUDIES" >&2
  complete || die "generator did not produce $N studies in $STUDIES"
  log "generated in $(elapsed "$t0") s"
fi
DATA_BYTES=$(find "$STUDIES" -name 's*.dcm' -type f -printf '%s\n' | awk '{s+=$1} END {print s}')

RUN_DIR=$(mktemp -d "$OUT/query-run.XXXXXX")

# ---------------------------------------------------------------- dxhub
log "dxhub: importing $N studies"
t0=$(now)
"$DXHUB" import --data "$RUN_DIR/dxhub" --no-progress --threads "$IMPORT_THREADS" "$STUDIES"/d[0-9]* \
    >"$RUN_DIR/dxhub-import.log" 2>&1 || die "dxhub import failed: $(tail -5 "$RUN_DIR/dxhub-import.log")"
DX_LOAD=$(elapsed "$t0")
log "dxhub: import took $DX_LOAD s"
DX_PORT=$(free_port); DX_DICOM=$(free_port)
"$DXHUB" serve --data "$RUN_DIR/dxhub" --bind 127.0.0.1 --http-port "$DX_PORT" --dicom-port "$DX_DICOM" \
    >"$RUN_DIR/dxhub.log" 2>&1 &
DX_PID=$!
deadline=$((SECONDS + START_TIMEOUT))
until [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$DX_PORT/healthz" || true)" == 200 ]]; do
  kill -0 "$DX_PID" 2>/dev/null || die "dxhub exited during start-up: $(tail -5 "$RUN_DIR/dxhub.log")"
  (( SECONDS < deadline )) || die "dxhub /healthz not answering 200 on port $DX_PORT"
  sleep 0.2
done
# The API needs credentials (and audits every read): an admin token for the load generator.
export BENCH_DX_TOKEN
BENCH_DX_TOKEN=$("$DXHUB" user token --data "$RUN_DIR/dxhub" admin --token-name bench 2>/dev/null | tail -1)

# ---------------------------------------------------------------- Orthanc
OR_PORT=$(free_port); OR_DICOM=$(free_port)
mkdir -p "$RUN_DIR/orthanc/storage" "$RUN_DIR/orthanc/index"
cat >"$RUN_DIR/orthanc.json" <<EOF
{
  "Name": "bench-orthanc",
  "StorageDirectory": "$RUN_DIR/orthanc/storage",
  "IndexDirectory": "$RUN_DIR/orthanc/index",
  "StorageCompression": false,
  "Plugins": ["$ORTHANC_DICOMWEB"],
  "HttpServerEnabled": true,
  "HttpPort": $OR_PORT,
  "KeepAlive": true,
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  "DicomServerEnabled": true,
  "DicomAet": "ORTHANC",
  "DicomPort": $OR_DICOM,
  "LimitFindResults": 0,
  "LimitFindInstances": 0,
  "DicomWeb": {
    "Enable": true,
    "Root": "/dicom-web/",
    "EnableWado": true,
    "QidoCaseSensitive": false
  }
}
EOF
"$ORTHANC" "$RUN_DIR/orthanc.json" >"$RUN_DIR/orthanc.log" 2>&1 &
OR_PID=$!
deadline=$((SECONDS + START_TIMEOUT))
until curl -sf "http://127.0.0.1:$OR_PORT/system" >/dev/null; do
  kill -0 "$OR_PID" 2>/dev/null || die "Orthanc exited during start-up: $(tail -5 "$RUN_DIR/orthanc.log")"
  (( SECONDS < deadline )) || die "Orthanc HTTP not answering on port $OR_PORT"
  sleep 0.2
done
curl -sf "http://127.0.0.1:$OR_PORT/plugins" | grep -q dicom-web ||
  die "Orthanc did not load the DICOMweb plugin $ORTHANC_DICOMWEB (see $RUN_DIR/orthanc.log)"

log "orthanc: loading $N studies (POST /instances, $LOAD_THREADS threads)"
t0=$(now)
"$PY" - "$STUDIES" "$OR_PORT" "$LOAD_THREADS" <<'EOF'
import http.client, os, sys, threading
from concurrent.futures import ThreadPoolExecutor
root, port, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
paths = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".dcm")]
local = threading.local()
def post(path):
    body = open(path, "rb").read()
    for attempt in range(3):
        c = getattr(local, "c", None) or http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        local.c = c
        try:
            c.request("POST", "/instances", body, {"Content-Type": "application/dicom"})
            r = c.getresponse(); r.read()
            if r.status != 200:
                raise SystemExit("POST %s: HTTP %d" % (path, r.status))
            return
        except (http.client.HTTPException, OSError):
            c.close(); local.c = None
            if attempt == 2:
                raise
with ThreadPoolExecutor(threads) as ex:
    list(ex.map(post, paths, chunksize=64))
EOF
OR_LOAD=$(elapsed "$t0")
log "orthanc: load took $OR_LOAD s"
OR_STUDIES=$(curl -sf "http://127.0.0.1:$OR_PORT/statistics" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["CountStudies"])')
(( OR_STUDIES == N )) || die "Orthanc holds $OR_STUDIES studies, expected $N"

# ---------------------------------------------------------------- measure + report
CPU=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
MEM=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
CMD="N=$N"
(( QUERIES != 200 )) && CMD+=" QUERIES=$QUERIES"
(( WADO_ASKED != 500 )) && CMD+=" WADO_COUNT=$WADO_ASKED"
(( WADO_THREADS != 4 )) && CMD+=" WADO_THREADS=$WADO_THREADS"
CMD+=" bench/query.sh"
ORTHANC_VER=$("$ORTHANC" --version 2>/dev/null | awk 'NR == 1 {print $NF}')
DICOMWEB_VER=$(dpkg-query -W -f='${Version}' orthanc-dicomweb 2>/dev/null || echo "?")
DXHUB_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null || DXHUB_REV+=" (+ uncommitted changes in src/)"
SECTION="$RUN_DIR/section.md"

export BENCH_DATE="$(date -u '+%Y-%m-%d %H:%M UTC')" BENCH_MACHINE="$(nproc) CPUs ($CPU), $MEM RAM"
export BENCH_CMD="$CMD" BENCH_N="$N" BENCH_BYTES="$DATA_BYTES" BENCH_DX_LOAD="$DX_LOAD" BENCH_OR_LOAD="$OR_LOAD"
export BENCH_DX_REV="$DXHUB_REV" BENCH_OR_VER="$ORTHANC_VER" BENCH_DW_VER="$DICOMWEB_VER"
export BENCH_IMPORT_THREADS="$IMPORT_THREADS" BENCH_LOAD_THREADS="$LOAD_THREADS"

"$PY" - "$STUDIES/manifest.tsv" "$DX_PORT" "$OR_PORT" "$QUERIES" "$WADO_COUNT" "$WADO_THREADS" "$SECTION" <<'EOF'
import calendar, http.client, json, math, os, random, sys, threading, time, urllib.parse
manifest, dx_port, or_port, n_queries, wado_count, wado_threads, section_path = sys.argv[1:8]
n_queries, wado_count, wado_threads = int(n_queries), int(wado_count), int(wado_threads)
SERVERS = [("dxhub", int(dx_port)), ("orthanc", int(or_port))]
LIMIT, VERIFY_LIMIT = 25, 1000
MULTIPART = 'multipart/related; type="application/dicom"'

def fail(msg):
    print("query.sh: ERROR: " + msg, file=sys.stderr)
    sys.exit(1)

with open(manifest) as f:
    header = f.readline().rstrip("\n").split("\t")
    rows = [dict(zip(header, line.rstrip("\n").split("\t"))) for line in f]

# ---- the fixed query mix: 8 kinds x 5 values, chosen from the manifest with a fixed seed
rng = random.Random(20261124)
pick = lambda: rng.choice(rows)
def month_range(d):
    y, m = int(d[:4]), int(d[4:6])
    return "%04d%02d01" % (y, m), "%04d%02d%02d" % (y, m, calendar.monthrange(y, m)[1])
def quarter_range(d):
    y, m = int(d[:4]), int(d[4:6])
    m0 = (m - 1) // 3 * 3 + 1
    return "%04d%02d01" % (y, m0), "%04d%02d%02d" % (y, m0 + 2, calendar.monthrange(y, m0 + 2)[1])
def prefix(r):  # lower-case prefix of the family name: exercises case-insensitive PN matching
    fam = r["patient_name"].split("^")[0]
    return fam[:3].lower() if len(fam) > 3 else fam.lower()

mix = []  # (kind, params, predicate over a manifest row, offset)
for i in range(5):
    r = pick(); pid = r["patient_id"]
    mix.append(("PatientID exact", {"PatientID": pid}, lambda s, v=pid: s["patient_id"] == v, 0))
for i in range(5):
    p = prefix(pick())
    mix.append(("PatientName prefix*", {"PatientName": p + "*"},
                lambda s, v=p: s["patient_name"].lower().startswith(v), 0))
for i in range(5):
    a, b = month_range(pick()["study_date"])
    mix.append(("StudyDate 1 month", {"StudyDate": a + "-" + b},
                lambda s, a=a, b=b: a <= s["study_date"] <= b, 0))
for i in range(5):
    r = pick(); a, b = quarter_range(r["study_date"]); m = r["modality"]
    mix.append(("StudyDate 3 months + ModalitiesInStudy", {"StudyDate": a + "-" + b, "ModalitiesInStudy": m},
                lambda s, a=a, b=b, m=m: a <= s["study_date"] <= b and s["modality"] == m, 0))
for i in range(5):
    acc = pick()["accession"]
    mix.append(("AccessionNumber exact", {"AccessionNumber": acc}, lambda s, v=acc: s["accession"] == v, 0))
for i in range(5):
    y = pick()["study_date"][:4]
    mix.append(("StudyDate 1 year", {"StudyDate": y + "0101-" + y + "1231"},
                lambda s, y=y: s["study_date"][:4] == y, 0))
for i in range(5):
    p = prefix(pick())
    mix.append(("PatientName prefix* + offset 25..125", {"PatientName": p + "*"},
                lambda s, v=p: s["patient_name"].lower().startswith(v), 25 * (i + 1)))
for i in range(5):
    y = pick()["study_date"][:4]
    mix.append(("StudyDate 1 year + offset 100..500", {"StudyDate": y + "0101-" + y + "1231"},
                lambda s, y=y: s["study_date"][:4] == y, 100 * (i + 1)))
KINDS = list(dict.fromkeys(k for k, _, _, _ in mix))

def url(params, limit, offset):
    q = dict(params); q["limit"] = str(limit)
    if offset:
        q["offset"] = str(offset)
    return "/dicom-web/studies?" + urllib.parse.urlencode(q, safe="*-")

class Client:
    def __init__(self, port):
        self.port = port; self.c = None
        token = os.environ.get("BENCH_DX_TOKEN", "")
        self.auth = ({"Authorization": "Bearer " + token}
                     if token and str(port) == str(sys.argv[2]) else {})
    def get(self, path, accept):
        for attempt in range(2):
            if self.c is None:
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
            try:
                self.c.request("GET", path, headers={"Accept": accept, **self.auth})
                r = self.c.getresponse(); body = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.c.close(); self.c = None
                return r.status, body
            except (http.client.HTTPException, OSError):
                self.c.close(); self.c = None
                if attempt:
                    raise
    def qido(self, path):
        status, body = self.get(path, "application/dicom+json")
        if status == 204:
            return []
        if status != 200:
            fail("%s GET %s: HTTP %d %s" % (self.port, path, status, body[:200]))
        return json.loads(body) if body.strip() else []

uids = lambda res: sorted(x["0020000D"]["Value"][0] for x in res)

# ---- 1. correctness: every query against the manifest, both servers
clients = {name: Client(port) for name, port in SERVERS}
for kind, params, pred, offset in mix:
    expected = [s["study_uid"] for s in rows if pred(s)]
    total = len(expected)
    for name, c in clients.items():
        full = c.qido(url(params, VERIFY_LIMIT, 0))
        if len(full) != min(total, VERIFY_LIMIT):
            fail("%s: %s %s returned %d studies, expected %d" % (name, kind, params, len(full), min(total, VERIFY_LIMIT)))
        if total <= VERIFY_LIMIT and uids(full) != sorted(expected):
            fail("%s: %s %s returned other studies than expected" % (name, kind, params))
        page = c.qido(url(params, LIMIT, offset))
        want = max(0, min(LIMIT, total - offset))
        if len(page) != want:
            fail("%s: %s %s limit=%d offset=%d returned %d studies, expected %d"
                 % (name, kind, params, LIMIT, offset, len(page), want))
print("query.sh: query mix verified: both servers return the expected studies for all %d queries" % len(mix),
      file=sys.stderr)
match_counts = {k: sorted(sum(1 for s in rows if pred(s)) for kk, _, pred, _ in mix if kk == k) for k in KINDS}

# ---- 2. QIDO latency, sequential, one keep-alive connection per server
def pct(v, p):
    v = sorted(v); return v[max(0, math.ceil(p / 100 * len(v)) - 1)]
qido = {}
for name, c in clients.items():
    lat = {k: [] for k in KINDS}
    for i in range(n_queries):
        kind, params, _, offset = mix[i % len(mix)]
        path = url(params, LIMIT, offset)
        t = time.perf_counter(); c.qido(path); dt = (time.perf_counter() - t) * 1000
        lat[kind].append(dt)
    qido[name] = lat
    allv = [x for v in lat.values() for x in v]
    print("query.sh: %s QIDO p50 %.2f ms  p95 %.2f ms" % (name, pct(allv, 50), pct(allv, 95)), file=sys.stderr)

# ---- 3./4. WADO-RS throughput with wado_threads clients
sample = random.Random(42).sample(rows, wado_count)
def inst_path(s):
    return "/dicom-web/studies/%s/series/%s/instances/%s" % (s["study_uid"], s["series_uid"], s["sop_uid"])
def throughput(port, suffix, accept, check):
    local = threading.local(); lock = threading.Lock(); nxt = [0]; nbytes = [0]; errors = []
    def work():
        c = Client(port)
        while True:
            with lock:
                if nxt[0] >= len(sample) or errors:
                    return
                s = sample[nxt[0]]; nxt[0] += 1
            status, body = c.get(inst_path(s) + suffix, accept)
            if status != 200 or not check(body, s):
                with lock:
                    errors.append("GET %s%s: HTTP %d, %d bytes" % (inst_path(s), suffix, status, len(body)))
                return
            with lock:
                nbytes[0] += len(body)
    ts = [threading.Thread(target=work) for _ in range(wado_threads)]
    t = time.perf_counter()
    for th in ts: th.start()
    for th in ts: th.join()
    dt = time.perf_counter() - t
    if errors:
        fail("port %d: %s" % (port, errors[0]))
    return len(sample) / dt, nbytes[0]
check_instance = lambda body, s: s["sop_uid"].encode() in body and b"DICM" in body
check_jpeg = lambda body, s: body[:2] == b"\xff\xd8" or body[:8] == b"\x89PNG\r\n\x1a\n"
wado, rendered = {}, {}
for name, port in SERVERS:
    # one warm-up request, not timed
    status, _ = Client(port).get(inst_path(sample[0]), MULTIPART)
    if status != 200:
        fail("%s: WADO-RS instance retrieve answered HTTP %d" % (name, status))
    wado[name] = throughput(port, "", MULTIPART, check_instance)
    print("query.sh: %s WADO-RS instance %.1f instances/s" % (name, wado[name][0]), file=sys.stderr)
    status, _ = Client(port).get(inst_path(sample[0]) + "/frames/1/rendered", "image/jpeg")
    if status == 200:
        rendered[name] = throughput(port, "/frames/1/rendered", "image/jpeg", check_jpeg)
        print("query.sh: %s WADO-RS rendered %.1f frames/s" % (name, rendered[name][0]), file=sys.stderr)
    else:
        rendered[name] = None
        print("query.sh: %s WADO-RS rendered frame: HTTP %d, not implemented" % (name, status), file=sys.stderr)

# ---- report
E = os.environ
allv = {n: [x for v in qido[n].values() for x in v] for n in qido}
p50 = {n: pct(allv[n], 50) for n in allv}; p95 = {n: pct(allv[n], 95) for n in allv}
ratio = lambda a, b: a / b if b else float("inf")
q_ratio = ratio(p95["orthanc"], p95["dxhub"]); q50_ratio = ratio(p50["orthanc"], p50["dxhub"])
w_ratio = ratio(wado["dxhub"][0], wado["orthanc"][0])
met = lambda ok: "met" if ok else "NOT met"
L = []
L.append("## Query and retrieve (bench/query.sh)")
L.append("")
L.append("- Date: " + E["BENCH_DATE"])
L.append("- Machine: " + E["BENCH_MACHINE"])
L.append("- Command: `%s`" % E["BENCH_CMD"])
L.append("- Data: N=%s studies of 1 series / 1 instance (%.1f MiB), generated by bench/make_studies.py "
         "(8x8 16-bit MONOCHROME2, Explicit VR LE; ~N/4 patients with Chinese and Latin names, StudyDate over "
         "2015-2024, Modality CT/MR/CR/DX/US, one AccessionNumber per study)."
         % (E["BENCH_N"], int(E["BENCH_BYTES"]) / 1048576))
L.append("- Servers: dxhub %s (SQLite index); Orthanc %s (Debian package) + DICOMweb plugin %s "
         "(default SQLite index, StorageCompression false, QidoCaseSensitive false). Both on loopback, "
         "both running during the whole measurement." % (E["BENCH_DX_REV"], E["BENCH_OR_VER"], E["BENCH_DW_VER"]))
L.append("- Load time (informational): dxhub `import --threads %s` %s s; Orthanc POST /instances with %s "
         "parallel clients %s s." % (E["BENCH_IMPORT_THREADS"], E["BENCH_DX_LOAD"], E["BENCH_LOAD_THREADS"], E["BENCH_OR_LOAD"]))
L.append("- QIDO: %d sequential `GET /dicom-web/studies?...` per server over one keep-alive connection, "
         "cycling over %d queries (%d kinds x 5 values, fixed seed, limit=%d); before timing, every query's "
         "result (limit=%d, and the page) was checked against the manifest on both servers. "
         "Latency = request sent to response body read, Python http.client on the same machine."
         % (n_queries, len(mix), len(KINDS), LIMIT, VERIFY_LIMIT))
L.append("- WADO-RS: the same %d instances (random, seed 42) from each server, %d client threads; "
         "instance = `Accept: %s`, rendered = `.../frames/1/rendered`, `Accept: image/jpeg`."
         % (wado_count, wado_threads, MULTIPART.replace('"', "'")))
L.append("")
L.append("| Query kind | studies matched (per value) | dxhub p50 / p95 (ms) | Orthanc p50 / p95 (ms) |")
L.append("|---|---|---:|---:|")
for k in KINDS:
    cnt = match_counts[k]
    L.append("| %s | %s | %.2f / %.2f | %.2f / %.2f |" % (
        k, "%d-%d" % (cnt[0], cnt[-1]) if cnt[0] != cnt[-1] else str(cnt[0]),
        pct(qido["dxhub"][k], 50), pct(qido["dxhub"][k], 95),
        pct(qido["orthanc"][k], 50), pct(qido["orthanc"][k], 95)))
L.append("| **whole mix** | | **%.2f / %.2f** | **%.2f / %.2f** |" % (p50["dxhub"], p95["dxhub"], p50["orthanc"], p95["orthanc"]))
L.append("")
fmt_r = lambda r: "not implemented" if r is None else "%.1f" % r[0]
L.append("| Server | WADO-RS instance (instances/s) | WADO-RS rendered frame (frames/s) |")
L.append("|---|---:|---:|")
for n, _ in SERVERS:
    L.append("| %s | %.1f | %s |" % (n, wado[n][0], fmt_r(rendered[n])))
L.append("")
L.append("| Ratio (dxhub vs Orthanc) | Value | Target | Verdict |")
L.append("|---|---:|---|---|")
L.append("| QIDO p95 dxhub | %.2f ms | < 50 ms | %s |" % (p95["dxhub"], met(p95["dxhub"] < 50)))
L.append("| QIDO p95 Orthanc / dxhub | %.2fx | >= 5x | %s |" % (q_ratio, met(q_ratio >= 5)))
L.append("| QIDO p50 Orthanc / dxhub | %.2fx | (informational) | |" % q50_ratio)
L.append("| WADO-RS instance dxhub / Orthanc | %.2fx | >= 2x | %s |" % (w_ratio, met(w_ratio >= 2)))
if rendered["dxhub"] and rendered["orthanc"]:
    rr = ratio(rendered["dxhub"][0], rendered["orthanc"][0])
    L.append("| WADO-RS rendered dxhub / Orthanc | %.2fx | >= 2x | %s |" % (rr, met(rr >= 2)))
else:
    L.append("| WADO-RS rendered dxhub / Orthanc | n/a | >= 2x | not measured: rendered frames %s |" % (
        "not implemented in dxhub (HTTP 404)" if rendered["dxhub"] is None else "not available in Orthanc"))
open(section_path, "w").write("\n".join(L) + "\n")
EOF

echo
cat "$SECTION"

if [[ "$RESULTS" != "-" ]]; then
  "$PY" "$(dirname "$0")/write_section.py" "$RESULTS" "$SECTION" "## Query and retrieve (bench/query.sh)"
  log "wrote section to $RESULTS"
fi
