#!/usr/bin/env bash
# bench/imaging.sh: seconds per imaging operation on the 512x512x300 chest phantom and a
# 30-frame 1024^2 DSA run (build/bin/dxhub_imaging_bench), with ITK's straightforward morphology
# as the in-run baseline. Prints the measurements; copy them into bench/RESULTS.md.
#   SLICES=300   phantom slices (the issue's size)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SLICES="${SLICES:-300}"
OUT="$ROOT/bench/out/imaging"
BIN="$ROOT/build/bin/dxhub_imaging_bench"
[[ -x "$BIN" ]] || { echo "build first: make build" >&2; exit 1; }
mkdir -p "$OUT"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(git -C "$ROOT" rev-parse --short HEAD)"
echo "# command: SLICES=$SLICES bench/imaging.sh"
"$BIN" "$SLICES" "$OUT"
