#!/usr/bin/env bash
# bench/inference.sh: AI pipeline throughput vs a raw OpenCV dnn loop on the same model and
# inputs, and scan-to-result latency of images arriving by C-STORE. See bench/inference.py.
# Environment: N=1000 PACED_N=200 RATE=10 WORKERS="1 2" RESULTS=bench/RESULTS.md (- = don't write)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec /usr/bin/python3 bench/inference.py "$@"
