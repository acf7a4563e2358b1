#!/usr/bin/env bash
# bench/ingest.sh: C-STORE ingest throughput of dxhub vs Orthanc vs DCMTK storescp.
#
# The same N instances (generated from the real sample files by bench/make_instances.py,
# UIDs rewritten, pixel data untouched) are sent with 1 association (one storescu
# process sending all 8 folders) and with 8 parallel associations (8 storescu
# processes, one folder each) to:
#   dxhub            build/bin/dxhub serve (fsync per instance + index commit before the
#                    response), SQLite index, as deployed: the bundled AI model
#                    (models/brightness-reference) enabled, so every instance is also queued
#                    for and classified by the AI pipeline while the others arrive
#   dxhub-noai       the same with --no-ai
#   dxhub-queueonly  the bundled model's jobs queued with every instance, no AI worker running
#   dxhub-pg         dxhub (bundled model enabled) with --index postgresql://..., a fresh
#                    database per run
#   dxhub-pg-2nodes  two dxhub nodes (bundled model enabled on both) sharing one PostgreSQL
#                    database and one --data directory; the associations are split evenly
#                    between the two nodes' DICOM ports (association j goes to node j % 2, so
#                    1 association reaches node 1 only)
#   orthanc          /usr/sbin/Orthanc (Debian's 1.10), default SQLite index, no plugins
#   orthanc-pg       the same Orthanc with Debian's orthanc-postgresql index plugin (files on
#                    disk, index in a fresh PostgreSQL database per run)
#   storescp         DCMTK storescp --fork writing files, no index
# The PostgreSQL targets share one server that the script starts for them with durability on
# (tests/integration/postgres.py --durable: fsync, synchronous_commit, full_page_writes on).
# Every run starts a fresh receiver on loopback with empty storage, times only the
# send phase, and checks that every storescu exited 0 and the receiver holds N
# instances. Receiver CPU: utime+stime of the receiver's processes (and their children,
# e.g. storescp's forked ones) from /proc before and after the send phase, per instance;
# for the PostgreSQL targets the PostgreSQL server's processes are counted apart.
# The table is printed and written to bench/RESULTS.md, section
# "## Ingest (bench/ingest.sh)" (other sections are kept).
#
# Usage:  bench/ingest.sh                 # N=2000
#         N=160 bench/ingest.sh           # quick check (N must be a multiple of 8)
# Environment:
#   N=2000                 instances (multiple of 8)
#   TARGETS="dxhub orthanc storescp"   receivers to run (also: dxhub-noai dxhub-pg
#                          dxhub-pg-2nodes orthanc-pg)
#   ASSOCS="1 8"           association counts (each must divide 8)
#   REPEAT=1               rounds, each running every (target, associations) once; the median
#                          rate is reported
#   DXHUB=build/bin/dxhub  ORTHANC=/usr/sbin/Orthanc
#   ORTHANC_PG_PLUGIN=     libOrthancPostgreSQLIndex.so (default: found via dpkg -L orthanc-postgresql)
#   RESULTS=bench/RESULTS.md   (RESULTS=- to not write any file)
#   KEEP_LOGS=0            1 keeps receiver/storescu logs of successful runs under bench/out/logs
#   TCP_NODELAY=1          exported to storescu and every receiver (all use Debian's DCMTK
#                          libdcmnet, which sets TCP_NODELAY on its sockets only when this
#                          variable is 1). Without it every C-STORE waits ~40-90 ms for
#                          Nagle + delayed ACK on loopback, and all three receivers measure
#                          the same ~20 instances/s per association. TCP_NODELAY=0 measures
#                          the DCMTK default.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

N="${N:-2000}"
TARGETS="${TARGETS:-dxhub orthanc storescp}"
ASSOCS="${ASSOCS:-1 8}"
REPEAT="${REPEAT:-1}"
DXHUB="${DXHUB:-$ROOT/build/bin/dxhub}"
ORTHANC="${ORTHANC:-/usr/sbin/Orthanc}"
ORTHANC_PG_PLUGIN="${ORTHANC_PG_PLUGIN:-}"
RESULTS="${RESULTS:-$ROOT/bench/RESULTS.md}"
KEEP_LOGS="${KEEP_LOGS:-0}"
export TCP_NODELAY="${TCP_NODELAY:-1}"
PY=/usr/bin/python3          # Debian's python3: has pydicom (the pyenv one on PATH has not)
FOLDERS=8
OUT="$ROOT/bench/out"
INST="$OUT/instances"
LOGS="$OUT/logs"
START_TIMEOUT=60             # seconds to wait for a receiver to answer
CLK_TCK=$(getconf CLK_TCK)
PG_STATE="$OUT/pg-state"     # tests/integration/postgres.py's state (url, cluster) for the PG targets

die() { echo "ingest.sh: ERROR: $*" >&2; exit 1; }
log() { echo "ingest.sh: $*" >&2; }

[[ "$N" =~ ^[0-9]+$ ]] && (( N > 0 && N % FOLDERS == 0 )) || die "N=$N must be a positive multiple of $FOLDERS"
[[ "$REPEAT" =~ ^[0-9]+$ ]] && (( REPEAT >= 1 )) || die "REPEAT=$REPEAT must be >= 1"
for a in $ASSOCS; do
  [[ "$a" =~ ^[0-9]+$ ]] && (( a >= 1 && FOLDERS % a == 0 )) || die "ASSOCS: $a must divide $FOLDERS"
done
for t in $TARGETS; do
  case "$t" in dxhub|dxhub-noai|dxhub-queueonly|dxhub-pg|dxhub-pg-2nodes|orthanc|orthanc-pg|storescp) ;; *) die "unknown target '$t'";; esac
done
has_target() { [[ " $TARGETS " == *" $1 "* ]]; }
has_pg_target() { has_target dxhub-pg || has_target dxhub-pg-2nodes || has_target orthanc-pg; }
for tool in storescu echoscu curl "$PY"; do command -v "$tool" >/dev/null || die "$tool not found"; done
[[ " $TARGETS " == *" dxhub"* ]] && { [[ -x "$DXHUB" ]] || die "$DXHUB not built"; }
has_target storescp && { command -v storescp >/dev/null || die "storescp not found (apt-get install dcmtk)"; }
[[ " $TARGETS " == *" orthanc"* ]] && { [[ -x "$ORTHANC" ]] || die "$ORTHANC not found (apt-get install -y orthanc)"; }
if has_target orthanc-pg; then
  [[ -n "$ORTHANC_PG_PLUGIN" ]] ||
    ORTHANC_PG_PLUGIN=$(dpkg -L orthanc-postgresql 2>/dev/null | grep -m1 '/libOrthancPostgreSQLIndex\.so$' || true)
  [[ -n "$ORTHANC_PG_PLUGIN" && -f "$ORTHANC_PG_PLUGIN" ]] ||
    die "Orthanc PostgreSQL index plugin not found (apt-get install -y orthanc-postgresql, or set ORTHANC_PG_PLUGIN)"
fi
"$PY" -c 'import pydicom' 2>/dev/null || die "$PY has no pydicom (apt-get install python3-pydicom)"

mkdir -p "$OUT" "$LOGS"

# What is measured, read now (a commit or a build during a long run would mislabel it): the
# source revision and the build time of the binary.
DXHUB_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null || DXHUB_REV+=" (+ uncommitted changes in src/)"
[[ -x "$DXHUB" ]] && DXHUB_REV+=", binary built $(date -u -r "$DXHUB" '+%Y-%m-%d %H:%M UTC')"

# ---------------------------------------------------------------- cleanup
SERVER_PID=""
SERVER_PIDS=()               # every receiver process of the run (two for dxhub-pg-2nodes)
SERVER_NAME=""
RUN_DIR=""
DONE_DIRS=()                 # finished runs' storage, removed at exit
SCU_PIDS=()
PG_STARTED=0
cleanup() {
  local rc=$?
  set +e
  for p in "${SCU_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${SERVER_PIDS[@]}"; do
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  (( PG_STARTED )) && "$PY" "$ROOT/tests/integration/postgres.py" stop "$PG_STATE" >/dev/null 2>&1
  if [[ -n "$RUN_DIR" && -d "$RUN_DIR" ]]; then
    # keep the logs of a failed run, drop the stored data
    if (( rc != 0 )); then
      local keep="$LOGS/failed-$(basename "$RUN_DIR")"
      mkdir -p "$keep"; cp "$RUN_DIR"/*.log "$RUN_DIR"/*.json "$keep"/ 2>/dev/null
      echo "ingest.sh: logs of the failed run kept in $keep" >&2
    fi
    rm -rf "$RUN_DIR"
  fi
  (( ${#DONE_DIRS[@]} )) && rm -rf "${DONE_DIRS[@]}"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# thread_ticks PID... -> "NAME TICKS" per thread name (dxhub names its threads: dimse, ai-N,
# sqlite-writer, ...) of these processes, summed over the threads of one name.
thread_ticks() {
  "$PY" - "$@" <<'EOF'
import os, sys
by = {}
for pid in sys.argv[1:]:
    try:
        tasks = os.listdir("/proc/%s/task" % pid)
    except OSError:
        continue
    for t in tasks:
        try:
            with open("/proc/%s/task/%s/stat" % (pid, t)) as f:
                st = f.read()
        except OSError:
            continue
        name = st[st.index("(") + 1:st.rindex(")")]
        f = st[st.rindex(")") + 2:].split()
        by[name] = by.get(name, 0) + int(f[11]) + int(f[12])
for name, ticks in sorted(by.items()):
    print(name, ticks)
EOF
}

# thread_split BEFORE AFTER -> "name ms/instance, ..." for the threads that used CPU in between
thread_split() {
  "$PY" - "$1" "$2" "$CLK_TCK" "$N" <<'EOF'
import sys
parse = lambda text: {l.rsplit(" ", 1)[0]: int(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.strip()}
a, b, hz, n = parse(sys.argv[1]), parse(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
used = sorted(((b[k] - a.get(k, 0), k) for k in b if b[k] - a.get(k, 0) > 0), reverse=True)
print(", ".join("%s %.2f" % (k, t * 1000.0 / hz / n) for t, k in used))
EOF
}

# tree_ticks PID... -> CPU clock ticks (utime + stime) used so far by these processes, their
# threads and every descendant: live and zombie ones from their own /proc/PID/stat, reaped ones
# through their parent's cutime + cstime. The difference of two readings is the CPU the
# process trees used in between (a child that exits in between moves from its own line to its
# parent's cutime, counted once).
tree_ticks() {
  "$PY" - "$@" <<'EOF'
import os, sys
procs, children = {}, {}
for d in os.listdir("/proc"):
    if not d.isdigit():
        continue
    try:
        with open("/proc/%s/stat" % d) as f:
            st = f.read()
    except OSError:
        continue
    f = st[st.rindex(")") + 2:].split()  # fields 3.. of proc(5): state ppid ... utime stime cutime cstime
    procs[int(d)] = sum(int(x) for x in f[11:15])
    children.setdefault(int(f[1]), []).append(int(d))
total, todo, seen = 0, [int(p) for p in sys.argv[1:]], set()
while todo:
    p = todo.pop()
    if p in seen or p not in procs:
        continue
    seen.add(p)
    total += procs[p]
    todo += children.get(p, [])
print(total)
EOF
}

# ---------------------------------------------------------------- PostgreSQL (the *-pg targets)
# One server for all PostgreSQL runs, durability on, a fresh database per run.
PG_URL=""; PG_PORT=""; PG_PID=""; PG_VER=""
if has_pg_target; then
  log "starting PostgreSQL (durable: fsync, synchronous_commit, full_page_writes on)"
  "$PY" "$ROOT/tests/integration/postgres.py" start --durable "$PG_STATE" >&2 || die "PostgreSQL did not start"
  PG_STARTED=1
  PG_URL=$(cat "$PG_STATE/url")            # postgresql://dxhub@127.0.0.1:PORT/postgres
  PG_PORT=${PG_URL##*:}; PG_PORT=${PG_PORT%%/*}
  PG_PID=$(head -1 "$(cat "$PG_STATE/cluster")/data/postmaster.pid")
  PSQL="${DXHUB_PG_BIN:-/usr/lib/postgresql/15/bin}/psql"
  PG_VER=$("$PSQL" -X -A -t -d "$PG_URL" -c 'SHOW server_version' | awk '{print $1}')
  [[ "$("$PSQL" -X -A -t -d "$PG_URL" -c 'SHOW fsync')" == on ]] || die "PostgreSQL runs with fsync off"
fi
pg_sql() { PGOPTIONS="-c client_min_messages=warning" "$PSQL" -X -q -A -t -v ON_ERROR_STOP=1 -d "$PG_URL" -c "$1" >/dev/null; }
PG_DB=""
new_pg_db() {  # new_pg_db NAME: a fresh database for this run (PG_DB)
  PG_DB=$1
  pg_sql "DROP DATABASE IF EXISTS $PG_DB" && pg_sql "CREATE DATABASE $PG_DB" || die "cannot create database $PG_DB"
}
drop_pg_db() { [[ -z "$PG_DB" ]] || pg_sql "DROP DATABASE IF EXISTS $PG_DB" || true; PG_DB=""; }

# ---------------------------------------------------------------- instances
count_instances() { if [[ -d "$INST" ]]; then find "$INST" -name 'i*.dcm' -type f; fi | wc -l; }
have=$(count_instances)
if (( have != N )); then
  log "generating $N instances into $INST (found $have)"
  rm -rf "$INST"
  "$PY" "$ROOT/bench/make_instances.py" --count "$N" --folders "$FOLDERS" --out "$INST" >&2
  have=$(count_instances)
  (( have == N )) || die "generator wrote $have instances, expected $N"
else
  log "reusing $N instances in $INST"
fi
for k in $(seq 0 $((FOLDERS - 1))); do
  c=$(find "$INST/f$k" -name 'i*.dcm' -type f | wc -l)
  (( c == N / FOLDERS )) || die "$INST/f$k has $c instances, expected $((N / FOLDERS))"
done
INST_BYTES=$(find "$INST" -name 'i*.dcm' -type f -printf '%s\n' | awk '{s+=$1} END {print s}')

# storescu profile: CT with JPEG 2000 lossless (as the files are encoded), CR with explicit/implicit LE.
SCU_CFG="$OUT/storescu-bench.cfg"
cat >"$SCU_CFG" <<'EOF'
# generated by bench/ingest.sh
[[TransferSyntaxes]]
[J2KLossless]
TransferSyntax1 = JPEG2000LosslessOnly
[Uncompressed]
TransferSyntax1 = LittleEndianExplicit
TransferSyntax2 = LittleEndianImplicit

[[PresentationContexts]]
[Bench]
PresentationContext1 = CTImageStorage\J2KLossless
PresentationContext2 = ComputedRadiographyImageStorage\Uncompressed

[[Profiles]]
[Bench]
PresentationContexts = Bench
EOF

# ---------------------------------------------------------------- receivers
# Each start_* sets SERVER_PID (and SERVER_PIDS: all receiver processes), AET, DICOM_PORT
# (and DICOM_PORTS: one per node) and the data location in RUN_DIR.
wait_echo() {  # wait_echo [PID PORT LOG]: wait until the receiver answers C-ECHO (and is still alive)
  local pid=${1:-$SERVER_PID} port=${2:-$DICOM_PORT} slog=${3:-$RUN_DIR/server.log}
  local deadline=$((SECONDS + START_TIMEOUT))
  until echoscu -aec "$AET" -to 2 127.0.0.1 "$port" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || die "$SERVER_NAME exited during start-up (see $slog): $(tail -5 "$slog")"
    (( SECONDS < deadline )) || die "$SERVER_NAME did not answer C-ECHO within ${START_TIMEOUT}s"
    sleep 0.2
  done
}

# dxhub_node LOG ARGS...: one `dxhub serve` on $DX_DATA with its own ports (plus ARGS), added to
# SERVER_PIDS / DICOM_PORTS / HTTP_PORTS once it answers C-ECHO and /healthz.
dxhub_node() {
  local slog=$1; shift
  local dport hport pid
  dport=$(free_port); hport=$(free_port)
  "$DXHUB" serve --data "$DX_DATA" --dicom-port "$dport" --http-port "$hport" \
      --aet "$AET" --max-associations 16 "$@" >"$slog" 2>&1 &
  pid=$!
  SERVER_PIDS+=("$pid"); DICOM_PORTS+=("$dport"); HTTP_PORTS+=("$hport")
  wait_echo "$pid" "$dport" "$slog"
  local deadline=$((SECONDS + START_TIMEOUT))
  until curl -sf "http://127.0.0.1:$hport/healthz" >/dev/null; do
    (( SECONDS < deadline )) || die "dxhub HTTP /healthz not answering on $hport"
    sleep 0.2
  done
}
# start_dxhub_with AI INDEX NODES: AI = ai (the bundled model, models/, enabled: what a
# deployment runs) or noai (--no-ai); INDEX = sqlite or pg (a fresh database); NODES = 1 or 2.
start_dxhub_with() {
  local ai=$1 index=$2 nodes=$3 n
  AET=DXHUB; DX_DATA="$RUN_DIR/var"; DX_INDEX=()
  DICOM_PORTS=(); HTTP_PORTS=()
  mkdir -p "$DX_DATA"
  local args=()
  case "$ai" in
    ai) args+=(--model-dir "$ROOT/models");;
    queueonly) args+=(--model-dir "$ROOT/models" --ai-queue-only);;  # jobs planned, none run
    *) args+=(--no-ai);;
  esac
  if [[ "$index" == pg ]]; then
    RUN_SEQ=$((RUN_SEQ + 1)); new_pg_db "bench_dxhub_$RUN_SEQ"
    DX_INDEX=(--index "postgresql://dxhub@127.0.0.1:$PG_PORT/$PG_DB")
  fi
  for n in $(seq "$nodes"); do
    local slog="$RUN_DIR/server.log"
    (( n > 1 )) && slog="$RUN_DIR/server$n.log"
    local node=()
    [[ "$index" == pg ]] && node=(--node-name "bench$n")
    dxhub_node "$slog" "${args[@]}" "${DX_INDEX[@]}" "${node[@]}"
    # the AI setting is what it should be: the bundled model loaded, or no model at all
    if [[ "$ai" != noai ]]; then
      grep -q 'ai: model brightness-reference@.* ready' "$slog" || die "dxhub: bundled model not loaded (see $slog)"
    else
      ! grep -q 'ai: model .* ready' "$slog" || die "dxhub --no-ai loaded a model (see $slog)"
    fi
  done
  SERVER_PID=${SERVER_PIDS[0]}; DICOM_PORT=${DICOM_PORTS[0]}; HTTP_PORT=${HTTP_PORTS[0]}
  # The API needs credentials: an admin token (the first start created the admin account).
  DX_TOKEN=$("$DXHUB" user token --data "$DX_DATA" "${DX_INDEX[@]}" admin --token-name bench 2>/dev/null | tail -1)
}
start_dxhub() { start_dxhub_with ai sqlite 1; }
start_dxhub_noai() { start_dxhub_with noai sqlite 1; }
start_dxhub_queueonly() { start_dxhub_with queueonly sqlite 1; }
start_dxhub_pg() { start_dxhub_with ai pg 1; }
start_dxhub_pg_2nodes() { start_dxhub_with ai pg 2; }
stored_dxhub() {  # index count (GET /api/statistics; older builds: /healthz), cross-checked with the blob files
  local indexed blobs
  indexed=$( { curl -sf -H "Authorization: Bearer $DX_TOKEN" "http://127.0.0.1:$HTTP_PORT/api/statistics" || curl -sf "http://127.0.0.1:$HTTP_PORT/healthz"; } |
             "$PY" -c 'import json,sys; print(json.load(sys.stdin)["instances"])') ||
    die "dxhub: cannot read the instance count from /api/statistics or /healthz"
  blobs=$(if [[ -d "$DX_DATA/blobs" ]]; then find "$DX_DATA/blobs" -type f; fi | wc -l)
  (( indexed == blobs )) || die "dxhub: index holds $indexed instances but $blobs blob files exist"
  echo "$indexed"
}
stored_dxhub_noai() { stored_dxhub; }
stored_dxhub_queueonly() { stored_dxhub; }
stored_dxhub_pg() { stored_dxhub; }
stored_dxhub_pg_2nodes() { stored_dxhub; }

start_orthanc() { start_orthanc_with sqlite; }
start_orthanc_pg() { start_orthanc_with pg; }
# start_orthanc_with INDEX: sqlite (Orthanc's default) or pg (the orthanc-postgresql index
# plugin on a fresh database; the files stay in StorageDirectory, as with SQLite).
start_orthanc_with() {
  AET=ORTHANC; DICOM_PORT=$(free_port); HTTP_PORT=$(free_port)
  mkdir -p "$RUN_DIR/storage" "$RUN_DIR/index"
  local plugins="" pg_section=""
  if [[ "$1" == pg ]]; then
    RUN_SEQ=$((RUN_SEQ + 1)); new_pg_db "bench_orthanc_$RUN_SEQ"
    plugins="\"$ORTHANC_PG_PLUGIN\""
    # IndexConnectionsCount 8: as many index connections as dxhub's default --db-pool-size
    # (the plugin's default is 1, which serialises every transaction).
    pg_section='"PostgreSQL": {
    "EnableIndex": true,
    "EnableStorage": false,
    "Host": "127.0.0.1",
    "Port": '"$PG_PORT"',
    "Database": "'"$PG_DB"'",
    "Username": "dxhub",
    "Password": "",
    "Lock": false,
    "EnableSsl": false,
    "IndexConnectionsCount": 8
  },'
  fi
  cat >"$RUN_DIR/orthanc.json" <<EOF
{
  "Name": "bench-orthanc",
  "StorageDirectory": "$RUN_DIR/storage",
  "IndexDirectory": "$RUN_DIR/index",
  "StorageCompression": false,
  "Plugins": [$plugins],
  $pg_section
  "HttpServerEnabled": true,
  "HttpPort": $HTTP_PORT,
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  "DicomServerEnabled": true,
  "DicomAet": "$AET",
  "DicomPort": $DICOM_PORT,
  "DicomCheckCalledAet": false,
  "DicomThreadsCount": 16
}
EOF
  "$ORTHANC" "$RUN_DIR/orthanc.json" >"$RUN_DIR/server.log" 2>&1 &
  SERVER_PID=$!; SERVER_PIDS=("$SERVER_PID")
  local deadline=$((SECONDS + START_TIMEOUT))
  until curl -sf "http://127.0.0.1:$HTTP_PORT/system" >/dev/null; do
    kill -0 "$SERVER_PID" 2>/dev/null || die "Orthanc exited during start-up: $(tail -5 "$RUN_DIR/server.log")"
    (( SECONDS < deadline )) || die "Orthanc HTTP not answering on $HTTP_PORT"
    sleep 0.2
  done
  if [[ "$1" == pg ]]; then
    curl -sf "http://127.0.0.1:$HTTP_PORT/plugins" | grep -q postgresql-index ||
      die "Orthanc did not load $ORTHANC_PG_PLUGIN (see $RUN_DIR/server.log)"
  fi
  wait_echo
  DICOM_PORTS=("$DICOM_PORT")
}
stored_orthanc() {
  curl -sf "http://127.0.0.1:$HTTP_PORT/statistics" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["CountInstances"])'
}
stored_orthanc_pg() { stored_orthanc; }

start_storescp() {
  AET=STORESCP; DICOM_PORT=$(free_port)
  mkdir -p "$RUN_DIR/files"
  # --fork: one child process per association (DCMTK's only way to serve associations
  # concurrently); +xa: accept all supported transfer syntaxes (incl. JPEG 2000).
  storescp --fork +xa -aet "$AET" --output-directory "$RUN_DIR/files" "$DICOM_PORT" \
      >"$RUN_DIR/server.log" 2>&1 &
  SERVER_PID=$!; SERVER_PIDS=("$SERVER_PID")
  wait_echo
  DICOM_PORTS=("$DICOM_PORT")
}
stored_storescp() { find "$RUN_DIR/files" -type f | wc -l; }

stop_server() {
  local i p
  for p in "${SERVER_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${SERVER_PIDS[@]}"; do
    for i in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then
      log "WARNING: $SERVER_NAME did not stop within 30s of SIGTERM, killing it"
      kill -KILL "$p" 2>/dev/null || true
    fi
    wait "$p" 2>/dev/null || true
  done
  SERVER_PID=""; SERVER_PIDS=()
}

# ---------------------------------------------------------------- one run
# run_once TARGET ASSOC -> sets RUN_RATE (instances/s), RUN_SECS, RUN_CPU and RUN_PG_CPU (ms of
# CPU per instance of the receiver processes and of the PostgreSQL server during the send phase;
# runs in this shell so that the EXIT trap sees SERVER_PID/RUN_DIR and a failure stops the
# whole benchmark)
RUN_SEQ=0
run_once() {
  local target=$1 assoc=$2 fn=${1//-/_}
  SERVER_NAME=$target
  RUN_DIR=$(mktemp -d "$OUT/run.$target.$assoc.XXXXXX")
  "start_$fn"

  local before
  before=$("stored_$fn")
  (( before == 0 )) || die "$target: fresh storage already holds $before instances"

  # association j sends folders j, j+assoc, ... (assoc=1: all 8 folders in one association)
  # to node j % nodes (one node but for dxhub-pg-2nodes)
  local j k dirs t0 t1 rc failed=0 cpu0 cpu1 pg0=0 pg1=0
  SCU_PIDS=()
  cpu0=$(tree_ticks "${SERVER_PIDS[@]}")
  local threads0="" threads1=""
  [[ "$target" == dxhub* ]] && threads0=$(thread_ticks "${SERVER_PIDS[@]}")
  [[ "$target" == *-pg* ]] && pg0=$(tree_ticks "$PG_PID")
  t0=$(date +%s.%N)
  for j in $(seq 0 $((assoc - 1))); do
    dirs=()
    for ((k = j; k < FOLDERS; k += assoc)); do dirs+=("$INST/f$k"); done
    storescu -xf "$SCU_CFG" Bench -aet BENCHSCU -aec "$AET" 127.0.0.1 "${DICOM_PORTS[$((j % ${#DICOM_PORTS[@]}))]}" \
        +sd +sp 'i*.dcm' "${dirs[@]}" >"$RUN_DIR/storescu.$j.log" 2>&1 &
    SCU_PIDS+=($!)
  done
  for j in "${!SCU_PIDS[@]}"; do
    rc=0; wait "${SCU_PIDS[$j]}" || rc=$?
    if (( rc != 0 )); then
      failed=1
      log "storescu #$j -> $target exited $rc: $(tail -3 "$RUN_DIR/storescu.$j.log" | tr '\n' ' ')"
    fi
  done
  t1=$(date +%s.%N)
  cpu1=$(tree_ticks "${SERVER_PIDS[@]}")
  [[ "$target" == dxhub* ]] && threads1=$(thread_ticks "${SERVER_PIDS[@]}")
  [[ "$target" == *-pg* ]] && pg1=$(tree_ticks "$PG_PID")
  SCU_PIDS=()
  (( failed == 0 )) || die "$target, $assoc association(s): storescu failed"
  # storescu logs warnings/errors even when it exits 0 (e.g. a refused presentation context)
  local complaints
  complaints=$(grep -hE '^(E|W|F): ' "$RUN_DIR"/storescu.*.log || true)
  if [[ -n "$complaints" ]]; then
    echo "$complaints" | awk 'NR <= 5' >&2
    die "$target, $assoc association(s): storescu reported errors/warnings"
  fi

  local stored
  stored=$("stored_$fn")
  (( stored == N )) || die "$target, $assoc association(s): receiver holds $stored instances, expected $N"

  stop_server
  drop_pg_db
  if [[ "$KEEP_LOGS" == 1 ]]; then
    mkdir -p "$LOGS/$target.$assoc"; cp "$RUN_DIR"/*.log "$LOGS/$target.$assoc"/
  fi
  # The stored data stays until the script ends: deleting thousands of files right before the
  # next run makes every file that run creates slower to allocate on ext4 without a journal (the
  # kernel skips each inode freed in the last 60-300 s, recently_deleted() in perf), a cost of
  # the benchmark that no receiver has in service.
  DONE_DIRS+=("$RUN_DIR"); RUN_DIR=""
  RUN_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  RUN_RATE=$(awk -v n="$N" -v s="$RUN_SECS" 'BEGIN { printf "%.1f", n / s }')
  RUN_CPU=$(awk -v t="$((cpu1 - cpu0))" -v hz="$CLK_TCK" -v n="$N" 'BEGIN { printf "%.2f", t * 1000 / hz / n }')
  RUN_THREADS=""
  [[ -n "$threads1" ]] && RUN_THREADS=$(thread_split "$threads0" "$threads1")
  RUN_PG_CPU=""
  [[ "$target" == *-pg* ]] &&
    RUN_PG_CPU=$(awk -v t="$((pg1 - pg0))" -v hz="$CLK_TCK" -v n="$N" 'BEGIN { printf "%.2f", t * 1000 / hz / n }')
  return 0
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else printf "%.1f\n", (v[NR/2]+v[NR/2+1])/2}'; }
median2() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else printf "%.2f\n", (v[NR/2]+v[NR/2+1])/2}'; }

declare -A RATE SECS CPUMS PGMS THREADS
TMP_FS=$(df -T "$OUT" | awk 'NR==2 {print $2 " (" $1 ", mounted on " $7 ")"}')
log "N=$N ($((N / 20)) studies, $((INST_BYTES / 1024 / 1024)) MiB), targets: $TARGETS, associations: $ASSOCS, repeat: $REPEAT, TCP_NODELAY=$TCP_NODELAY"
# Rounds: every target and association count once per round, so that a machine whose speed
# drifts during the run (a shared VM) weighs on every target alike instead of on whichever ran
# while it was slow.
declare -A RATES SECSS CPUSS PGSS
for r in $(seq "$REPEAT"); do
  for target in $TARGETS; do
    for assoc in $ASSOCS; do
      run_once "$target" "$assoc"
      rate=$RUN_RATE; sec=$RUN_SECS
      log "$(printf '%-15s %d assoc  run %d: %8.1f instances/s  (%.3f s)  receiver CPU %s ms/instance%s' "$target" "$assoc" "$r" "$rate" "$sec" "$RUN_CPU" "${RUN_PG_CPU:+, PostgreSQL $RUN_PG_CPU ms/instance}")"
      [[ -n "$RUN_THREADS" ]] && log "  by thread (ms/instance): $RUN_THREADS"
      RATES[$target.$assoc]+="$rate "; SECSS[$target.$assoc]+="$sec "
      CPUSS[$target.$assoc]+="$RUN_CPU "; PGSS[$target.$assoc]+="${RUN_PG_CPU:-} "
      [[ -n "$RUN_THREADS" ]] && THREADS[$target.$assoc]+="- $target, $assoc association(s), run $r ($rate instances/s): $RUN_THREADS"$'\n'
    done
  done
done
for target in $TARGETS; do
  for assoc in $ASSOCS; do
    RATE[$target.$assoc]=$(echo "${RATES[$target.$assoc]}" | median)
    SECS[$target.$assoc]=$(echo "${SECSS[$target.$assoc]}" | median)
    CPUMS[$target.$assoc]=$(echo "${CPUSS[$target.$assoc]}" | median2)
    pgs=${PGSS[$target.$assoc]}
    [[ -n "${pgs// /}" ]] && PGMS[$target.$assoc]=$(echo "$pgs" | median2)
  done
done

# ---------------------------------------------------------------- report
ratio() {  # ratio A B -> "x.xx" or "n/a"
  local a=${RATE[$1]:-} b=${RATE[$2]:-}
  [[ -n "$a" && -n "$b" ]] || { echo "n/a"; return; }
  awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }'
}
verdict() {  # verdict RATIO MIN
  [[ "$1" == n/a ]] && { echo "not measured"; return; }
  awk -v r="$1" -v m="$2" 'BEGIN { print (r >= m) ? "met" : "NOT met" }'
}
# ratio_row LABEL A B MIN1 MIN8: one row of the ratio table; MIN1/MIN8 = target at 1 / 8
# associations ("" = none). Printed only when both targets were measured.
ratio_row() {
  local label=$1 a=$2 b=$3 min1=$4 min8=$5 r1 r8 goal="" v=""
  has_target "$a" && has_target "$b" || return 0
  r1=$(ratio "$a.1" "$b.1"); r8=$(ratio "$a.8" "$b.8")
  if [[ -n "$min1" ]]; then goal+=">= ${min1}x at 1"; v+="1: $(verdict "$r1" "$min1")"; fi
  if [[ -n "$min8" ]]; then
    [[ -n "$goal" ]] && { goal+=", "; v+=", "; }
    goal+=">= ${min8}x at 8"; v+="8: $(verdict "$r8" "$min8")"
  fi
  echo "| $label | $r1 | $r8 | ${goal:-(informational)} | $v |"
}
describe() {  # describe TARGET -> one line on how it was run
  case "$1" in
    dxhub) echo "dxhub $DXHUB_REV \`serve --max-associations 16 --model-dir models\`, SQLite index, as deployed: the bundled model (brightness-reference) loaded, so every instance is queued for AI and classified while the others arrive";;
    dxhub-noai) echo "the same with \`--no-ai\`";;
    dxhub-queueonly) echo "the bundled model loaded and its jobs queued with every instance, but \`--ai-queue-only\`: no AI worker runs";;
    dxhub-pg) echo "dxhub, bundled model enabled, \`--index postgresql://dxhub@127.0.0.1:PORT/DB --node-name bench1\` on a fresh database per run (default --db-pool-size 8)";;
    dxhub-pg-2nodes) echo "two dxhub nodes (\`--node-name bench1\`, \`bench2\`; bundled model enabled on both), one fresh PostgreSQL database and one --data directory shared; association j goes to node j % 2 (so 4 + 4 at 8 associations, node 1 alone at 1)";;
    orthanc) echo "Orthanc $ORTHANC_VER (Debian package, default SQLite index, no plugins, StorageCompression false, DicomThreadsCount 16)";;
    orthanc-pg) echo "the same Orthanc with Debian's orthanc-postgresql $ORTHANC_PG_VER index plugin (EnableIndex true, EnableStorage false: files on disk as with SQLite; Lock false, IndexConnectionsCount 8) on a fresh database per run";;
    storescp) echo "DCMTK storescp $DCMTK_VER (\`--fork +xa\`: one process per association, files only, no index)";;
  esac
}

CPU=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
MEM=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
LSCPU=$(lscpu 2>/dev/null | awk -F': *' '/^(Architecture|CPU\(s\)|Model name|Thread\(s\) per core|Core\(s\) per socket|Socket\(s\)|Hypervisor vendor)/ {printf "%s%s: %s", sep, $1, $2; sep="; "}')
CMD="N=$N"
[[ "$TARGETS" != "dxhub orthanc storescp" ]] && CMD+=" TARGETS=\"$TARGETS\""
[[ "$ASSOCS" != "1 8" ]] && CMD+=" ASSOCS=\"$ASSOCS\""
(( REPEAT != 1 )) && CMD+=" REPEAT=$REPEAT"
[[ "$TCP_NODELAY" != 1 ]] && CMD+=" TCP_NODELAY=$TCP_NODELAY"
CMD+=" bench/ingest.sh"
ORTHANC_VER="?"
[[ -x "$ORTHANC" ]] && ORTHANC_VER=$("$ORTHANC" --version 2>/dev/null | awk 'NR == 1 {print $NF}')
ORTHANC_PG_VER=$(dpkg-query -W -f='${Version}' orthanc-postgresql 2>/dev/null || echo "?")
DCMTK_VER=$(storescu --version 2>/dev/null | awk 'NR == 1 {print $3}')

SECTION=$(mktemp "$OUT/section.XXXXXX")
{
  echo "## Ingest (bench/ingest.sh)"
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- Machine: $(nproc) CPUs ($CPU), $MEM RAM; receiver storage on $TMP_FS"
  [[ -n "$LSCPU" ]] && echo "- lscpu: $LSCPU"
  echo "- Command: \`$CMD\`"
  echo "- Instances: N=$N ($((N / 20)) studies of 20; $((INST_BYTES / 1024 / 1024)) MiB), generated by bench/make_instances.py from the 20 JPEG 2000 lossless CT slices and the CR chest (UIDs rewritten, pixel data unchanged), sent by DCMTK storescu $DCMTK_VER; 1 association = one storescu sending all 8 folders, 8 associations = 8 storescu processes in parallel, one folder each. Time = send phase only, receiver started and answering C-ECHO; fresh empty storage per run; every storescu exited 0 and every receiver held all N instances afterwards."
  echo "- Receivers:"
  for target in $TARGETS; do echo "  - \`$target\`: $(describe "$target")."; done
  if has_pg_target; then
    echo "- PostgreSQL $PG_VER for the \`*-pg*\` targets: one server started by \`tests/integration/postgres.py start --durable\` (fsync=on, synchronous_commit=on, full_page_writes=on, otherwise PostgreSQL's defaults, max_connections 200), cluster under /tmp on the same disk, loopback TCP."
  fi
  echo "- TCP_NODELAY=$TCP_NODELAY in the environment of storescu and of every receiver (all three use Debian's DCMTK libdcmnet, which disables Nagle's algorithm only when TCP_NODELAY=1; with the default every C-STORE on loopback stalls ~40-90 ms on Nagle + delayed ACK and all receivers look alike)."
  echo "- CPU = utime + stime (from /proc/PID/stat) of the receiver's processes, their threads and their children (storescp's forked processes; both dxhub nodes), read just before and just after the send phase, divided by N. For the PostgreSQL targets the PostgreSQL server's processes (postmaster and all its children) are counted in their own column. The senders (storescu) are not counted."
  (( REPEAT > 1 )) && echo "- Each value is the median of $REPEAT runs, taken in rounds (each round runs every target once, in the order listed), so that drift of a shared machine during the run weighs on all targets alike."
  echo
  echo "| Receiver | 1 association (instances/s) | 8 associations (instances/s) | receiver CPU ms/instance (1 / 8) | PostgreSQL CPU ms/instance (1 / 8) |"
  echo "|---|---:|---:|---:|---:|"
  for target in $TARGETS; do
    pgcol="-"
    [[ "$target" == *-pg* ]] && pgcol="${PGMS[$target.1]:-n/a} / ${PGMS[$target.8]:-n/a}"
    echo "| $target | ${RATE[$target.1]:-n/a} | ${RATE[$target.8]:-n/a} | ${CPUMS[$target.1]:-n/a} / ${CPUMS[$target.8]:-n/a} | $pgcol |"
  done
  echo
  if (( ${#THREADS[@]} > 0 )); then
    echo "Receiver CPU by thread name, ms per instance (dxhub names its threads: \`dimse\` association workers, \`sqlite-writer\` the group-commit writer, \`ai-N\` AI workers at SCHED_IDLE, \`ai-watch\`, \`processing\`; OpenCV's pool threads inherit the name of the thread that started them):"
    echo
    for target in $TARGETS; do
      for assoc in $ASSOCS; do printf '%s' "${THREADS[$target.$assoc]:-}"; done
    done
    echo
  fi
  echo "| Ratio | 1 association | 8 associations | Target | Verdict |"
  echo "|---|---:|---:|---|---|"
  ratio_row "dxhub (bundled model) / dxhub --no-ai" dxhub dxhub-noai "" 0.9
  ratio_row "dxhub / storescp" dxhub storescp 0.6 0.7
  ratio_row "dxhub / Orthanc (both SQLite)" dxhub orthanc "" 2
  ratio_row "dxhub-pg / orthanc-pg (both PostgreSQL)" dxhub-pg orthanc-pg "" 2
  ratio_row "dxhub-pg-2nodes / dxhub-pg (two nodes vs one)" dxhub-pg-2nodes dxhub-pg "" 0.9
  ratio_row "dxhub-pg / dxhub (PostgreSQL vs SQLite)" dxhub-pg dxhub "" ""
  ratio_row "orthanc-pg / orthanc (PostgreSQL vs SQLite)" orthanc-pg orthanc "" ""
  echo
  echo "dxhub fsyncs every instance's blob and commits its index row before it sends the C-STORE response, so an acknowledged instance survives a crash; storescp does neither (it writes the file without fsync and has no index). Orthanc 1.10 also fsyncs each stored file by default (SyncStorageArea) and runs its SQLite index with synchronous=NORMAL. storescp is an upper bound for receiving and writing the files alone."
} >"$SECTION"

echo
cat "$SECTION"

if [[ "$RESULTS" != "-" ]]; then
  "$PY" "$(dirname "$0")/write_section.py" "$RESULTS" "$SECTION" "## Ingest (bench/ingest.sh)"
  log "wrote section to $RESULTS"
fi
rm -f "$SECTION"
