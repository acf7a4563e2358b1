#!/usr/bin/env bash
# bench/ingest.sh: C-STORE ingest throughput of dxhub vs Orthanc vs DCMTK storescp.
#
# The same N instances (generated from the real sample files by bench/make_instances.py,
# UIDs rewritten, pixel data untouched) are sent with 1 association (one storescu
# process sending all 8 folders) and with 8 parallel associations (8 storescu
# processes, one folder each) to:
#   dxhub     build/bin/dxhub serve (fsync per instance + index commit before the response)
#   orthanc   /usr/sbin/Orthanc (Debian's 1.10), default SQLite index, no plugins
#   storescp  DCMTK storescp --fork writing files, no index
# Every run starts a fresh receiver on loopback with empty storage, times only the
# send phase, and checks that every storescu exited 0 and the receiver holds N
# instances. The table is printed and written to bench/RESULTS.md, section
# "## Ingest (bench/ingest.sh)" (other sections are kept).
#
# Usage:  bench/ingest.sh                 # N=2000
#         N=160 bench/ingest.sh           # quick check (N must be a multiple of 8)
# Environment:
#   N=2000                 instances (multiple of 8)
#   TARGETS="dxhub orthanc storescp"   receivers to run
#   ASSOCS="1 8"           association counts (each must divide 8)
#   REPEAT=1               runs per (target, associations); the median rate is reported
#   DXHUB=build/bin/dxhub  ORTHANC=/usr/sbin/Orthanc
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
RESULTS="${RESULTS:-$ROOT/bench/RESULTS.md}"
KEEP_LOGS="${KEEP_LOGS:-0}"
export TCP_NODELAY="${TCP_NODELAY:-1}"
PY=/usr/bin/python3          # Debian's python3: has pydicom (the pyenv one on PATH has not)
FOLDERS=8
OUT="$ROOT/bench/out"
INST="$OUT/instances"
LOGS="$OUT/logs"
START_TIMEOUT=60             # seconds to wait for a receiver to answer

die() { echo "ingest.sh: ERROR: $*" >&2; exit 1; }
log() { echo "ingest.sh: $*" >&2; }

[[ "$N" =~ ^[0-9]+$ ]] && (( N > 0 && N % FOLDERS == 0 )) || die "N=$N must be a positive multiple of $FOLDERS"
[[ "$REPEAT" =~ ^[0-9]+$ ]] && (( REPEAT >= 1 )) || die "REPEAT=$REPEAT must be >= 1"
for a in $ASSOCS; do
  [[ "$a" =~ ^[0-9]+$ ]] && (( a >= 1 && FOLDERS % a == 0 )) || die "ASSOCS: $a must divide $FOLDERS"
done
for t in $TARGETS; do
  case "$t" in dxhub|orthanc|storescp) ;; *) die "unknown target '$t'";; esac
done
for tool in storescu echoscu curl "$PY"; do command -v "$tool" >/dev/null || die "$tool not found"; done
[[ " $TARGETS " == *" dxhub "* ]] && { [[ -x "$DXHUB" ]] || die "$DXHUB not built"; }
[[ " $TARGETS " == *" storescp "* ]] && { command -v storescp >/dev/null || die "storescp not found (apt-get install dcmtk)"; }
[[ " $TARGETS " == *" orthanc "* ]] && { [[ -x "$ORTHANC" ]] || die "$ORTHANC not found (apt-get install -y orthanc)"; }
"$PY" -c 'import pydicom' 2>/dev/null || die "$PY has no pydicom (apt-get install python3-pydicom)"

mkdir -p "$OUT" "$LOGS"

# ---------------------------------------------------------------- cleanup
SERVER_PID=""
SERVER_NAME=""
RUN_DIR=""
SCU_PIDS=()
cleanup() {
  local rc=$?
  set +e
  for p in "${SCU_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  if [[ -n "$SERVER_PID" ]]; then
    kill -TERM "$SERVER_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  if [[ -n "$RUN_DIR" && -d "$RUN_DIR" ]]; then
    # keep the logs of a failed run, drop the stored data
    if (( rc != 0 )); then
      local keep="$LOGS/failed-$(basename "$RUN_DIR")"
      mkdir -p "$keep"; cp "$RUN_DIR"/*.log "$RUN_DIR"/*.json "$keep"/ 2>/dev/null
      echo "ingest.sh: logs of the failed run kept in $keep" >&2
    fi
    rm -rf "$RUN_DIR"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

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
# Each start_* sets SERVER_PID, AET, DICOM_PORT and the data location in RUN_DIR.
wait_echo() {  # wait until the receiver answers C-ECHO (and is still alive)
  local deadline=$((SECONDS + START_TIMEOUT))
  until echoscu -aec "$AET" -to 2 127.0.0.1 "$DICOM_PORT" >/dev/null 2>&1; do
    kill -0 "$SERVER_PID" 2>/dev/null || die "$SERVER_NAME exited during start-up (see $RUN_DIR/server.log): $(tail -5 "$RUN_DIR/server.log")"
    (( SECONDS < deadline )) || die "$SERVER_NAME did not answer C-ECHO within ${START_TIMEOUT}s"
    sleep 0.2
  done
}

start_dxhub() {
  AET=DXHUB; DICOM_PORT=$(free_port); HTTP_PORT=$(free_port)
  mkdir -p "$RUN_DIR/var"
  "$DXHUB" serve --data "$RUN_DIR/var" --dicom-port "$DICOM_PORT" --http-port "$HTTP_PORT" \
      --aet "$AET" --max-associations 16 >"$RUN_DIR/server.log" 2>&1 &
  SERVER_PID=$!
  wait_echo
  local deadline=$((SECONDS + START_TIMEOUT))
  until curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null; do
    (( SECONDS < deadline )) || die "dxhub HTTP /healthz not answering on $HTTP_PORT"
    sleep 0.2
  done
  # The API needs credentials: an admin token (the first start created the admin account).
  DX_TOKEN=$("$DXHUB" user token --data "$RUN_DIR/var" admin --token-name bench 2>/dev/null | tail -1)
}
stored_dxhub() {  # index count (GET /api/statistics; older builds: /healthz), cross-checked with the blob files
  local indexed blobs
  indexed=$( { curl -sf -H "Authorization: Bearer $DX_TOKEN" "http://127.0.0.1:$HTTP_PORT/api/statistics" || curl -sf "http://127.0.0.1:$HTTP_PORT/healthz"; } |
             "$PY" -c 'import json,sys; print(json.load(sys.stdin)["instances"])') ||
    die "dxhub: cannot read the instance count from /api/statistics or /healthz"
  blobs=$(if [[ -d "$RUN_DIR/var/blobs" ]]; then find "$RUN_DIR/var/blobs" -type f; fi | wc -l)
  (( indexed == blobs )) || die "dxhub: index holds $indexed instances but $blobs blob files exist"
  echo "$indexed"
}

start_orthanc() {
  AET=ORTHANC; DICOM_PORT=$(free_port); HTTP_PORT=$(free_port)
  mkdir -p "$RUN_DIR/storage" "$RUN_DIR/index"
  cat >"$RUN_DIR/orthanc.json" <<EOF
{
  "Name": "bench-orthanc",
  "StorageDirectory": "$RUN_DIR/storage",
  "IndexDirectory": "$RUN_DIR/index",
  "StorageCompression": false,
  "Plugins": [],
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
  SERVER_PID=$!
  local deadline=$((SECONDS + START_TIMEOUT))
  until curl -sf "http://127.0.0.1:$HTTP_PORT/system" >/dev/null; do
    kill -0 "$SERVER_PID" 2>/dev/null || die "Orthanc exited during start-up: $(tail -5 "$RUN_DIR/server.log")"
    (( SECONDS < deadline )) || die "Orthanc HTTP not answering on $HTTP_PORT"
    sleep 0.2
  done
  wait_echo
}
stored_orthanc() {
  curl -sf "http://127.0.0.1:$HTTP_PORT/statistics" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["CountInstances"])'
}

start_storescp() {
  AET=STORESCP; DICOM_PORT=$(free_port)
  mkdir -p "$RUN_DIR/files"
  # --fork: one child process per association (DCMTK's only way to serve associations
  # concurrently); +xa: accept all supported transfer syntaxes (incl. JPEG 2000).
  storescp --fork +xa -aet "$AET" --output-directory "$RUN_DIR/files" "$DICOM_PORT" \
      >"$RUN_DIR/server.log" 2>&1 &
  SERVER_PID=$!
  wait_echo
}
stored_storescp() { find "$RUN_DIR/files" -type f | wc -l; }

stop_server() {
  [[ -n "$SERVER_PID" ]] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  local i
  for i in $(seq 300); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    log "WARNING: $SERVER_NAME did not stop within 30s of SIGTERM, killing it"
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# ---------------------------------------------------------------- one run
# run_once TARGET ASSOC -> sets RUN_RATE (instances/s) and RUN_SECS (runs in this shell so
# that the EXIT trap sees SERVER_PID/RUN_DIR and a failure stops the whole benchmark)
run_once() {
  local target=$1 assoc=$2
  SERVER_NAME=$target
  RUN_DIR=$(mktemp -d "$OUT/run.$target.$assoc.XXXXXX")
  "start_$target"

  local before
  before=$("stored_$target")
  (( before == 0 )) || die "$target: fresh storage already holds $before instances"

  # association j sends folders j, j+assoc, ... (assoc=1: all 8 folders in one association)
  local j k dirs t0 t1 rc failed=0
  SCU_PIDS=()
  t0=$(date +%s.%N)
  for j in $(seq 0 $((assoc - 1))); do
    dirs=()
    for ((k = j; k < FOLDERS; k += assoc)); do dirs+=("$INST/f$k"); done
    storescu -xf "$SCU_CFG" Bench -aet BENCHSCU -aec "$AET" 127.0.0.1 "$DICOM_PORT" \
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
  stored=$("stored_$target")
  (( stored == N )) || die "$target, $assoc association(s): receiver holds $stored instances, expected $N"

  stop_server
  if [[ "$KEEP_LOGS" == 1 ]]; then
    mkdir -p "$LOGS/$target.$assoc"; cp "$RUN_DIR"/*.log "$LOGS/$target.$assoc"/
  fi
  rm -rf "$RUN_DIR"; RUN_DIR=""
  RUN_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  RUN_RATE=$(awk -v n="$N" -v s="$RUN_SECS" 'BEGIN { printf "%.1f", n / s }')
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else printf "%.1f\n", (v[NR/2]+v[NR/2+1])/2}'; }

declare -A RATE SECS
TMP_FS=$(df -T "$OUT" | awk 'NR==2 {print $2 " (" $1 ", mounted on " $7 ")"}')
log "N=$N ($((N / 20)) studies, $((INST_BYTES / 1024 / 1024)) MiB), targets: $TARGETS, associations: $ASSOCS, repeat: $REPEAT, TCP_NODELAY=$TCP_NODELAY"
for target in $TARGETS; do
  for assoc in $ASSOCS; do
    rates=""; secs=""
    for r in $(seq "$REPEAT"); do
      run_once "$target" "$assoc"
      rate=$RUN_RATE; sec=$RUN_SECS
      log "$(printf '%-9s %d assoc  run %d: %8.1f instances/s  (%.3f s)' "$target" "$assoc" "$r" "$rate" "$sec")"
      rates+="$rate "; secs+="$sec "
    done
    RATE[$target.$assoc]=$(echo "$rates" | median)
    SECS[$target.$assoc]=$(echo "$secs" | median)
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

CPU=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
MEM=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
CMD="N=$N"
[[ "$TARGETS" != "dxhub orthanc storescp" ]] && CMD+=" TARGETS=\"$TARGETS\""
[[ "$ASSOCS" != "1 8" ]] && CMD+=" ASSOCS=\"$ASSOCS\""
(( REPEAT != 1 )) && CMD+=" REPEAT=$REPEAT"
[[ "$TCP_NODELAY" != 1 ]] && CMD+=" TCP_NODELAY=$TCP_NODELAY"
CMD+=" bench/ingest.sh"
ORTHANC_VER="?"
[[ -x "$ORTHANC" ]] && ORTHANC_VER=$("$ORTHANC" --version 2>/dev/null | awk 'NR == 1 {print $NF}')
DCMTK_VER=$(storescu --version 2>/dev/null | awk 'NR == 1 {print $3}')
DXHUB_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null || DXHUB_REV+=" (+ uncommitted changes in src/)"

SECTION=$(mktemp "$OUT/section.XXXXXX")
{
  echo "## Ingest (bench/ingest.sh)"
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- Machine: $(nproc) CPUs ($CPU), $MEM RAM; receiver storage on $TMP_FS"
  echo "- Command: \`$CMD\`"
  echo "- Instances: N=$N ($((N / 20)) studies of 20; $((INST_BYTES / 1024 / 1024)) MiB), generated by bench/make_instances.py from the 20 JPEG 2000 lossless CT slices and the CR chest (UIDs rewritten, pixel data unchanged), sent by DCMTK storescu $DCMTK_VER; 1 association = one storescu sending all 8 folders, 8 associations = 8 storescu processes in parallel, one folder each. Time = send phase only, receiver started and answering C-ECHO; fresh empty storage per run; every storescu exited 0 and every receiver held all N instances afterwards."
  echo "- Receivers: dxhub $DXHUB_REV (\`serve --max-associations 16\`, SQLite index); Orthanc $ORTHANC_VER (Debian package, default SQLite index, no plugins, StorageCompression false, DicomThreadsCount 16); DCMTK storescp $DCMTK_VER (\`--fork +xa\`: one process per association, files only, no index)."
  echo "- TCP_NODELAY=$TCP_NODELAY in the environment of storescu and of every receiver (all three use Debian's DCMTK libdcmnet, which disables Nagle's algorithm only when TCP_NODELAY=1; with the default every C-STORE on loopback stalls ~40-90 ms on Nagle + delayed ACK and all receivers look alike)."
  (( REPEAT > 1 )) && echo "- Each value is the median of $REPEAT runs."
  echo
  echo "| Receiver | 1 association (instances/s) | 8 associations (instances/s) |"
  echo "|---|---:|---:|"
  for target in dxhub orthanc storescp; do
    [[ " $TARGETS " == *" $target "* ]] || continue
    echo "| $target | ${RATE[$target.1]:-n/a} | ${RATE[$target.8]:-n/a} |"
  done
  echo
  r1o=$(ratio dxhub.1 orthanc.1); r8o=$(ratio dxhub.8 orthanc.8)
  r1s=$(ratio dxhub.1 storescp.1); r8s=$(ratio dxhub.8 storescp.8)
  echo "| Ratio | 1 association | 8 associations | Target at 8 |"
  echo "|---|---:|---:|---|"
  echo "| dxhub / Orthanc | $r1o | $r8o | >= 3x: $(verdict "$r8o" 3) |"
  echo "| dxhub / storescp | $r1s | $r8s | >= 0.7x: $(verdict "$r8s" 0.7) |"
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
