#!/usr/bin/env bash
# Seeds for `make fuzz`: real inputs for each fuzzer under DEST/<fuzzer>/ (kept between runs, so
# what the fuzzers find accumulates).
set -euo pipefail
dest="${1:-build-fuzz/corpus}"
mkdir -p "$dest"/{dataset_fuzzer,multipart_fuzzer,accept_fuzzer,qido_fuzzer,toml_fuzzer}
cp -n testdata/cr-chest/*.dcm /usr/lib/python3/dist-packages/pydicom/data/test_files/*.dcm \
  "$dest/dataset_fuzzer/" 2>/dev/null || true
small=/usr/lib/python3/dist-packages/pydicom/data/test_files/CT_small.dcm
{ printf 'multipart/related; type="application/dicom"; boundary=XyZ\n--XyZ\r\nContent-Type: application/dicom\r\n\r\n'
  cat "$small"; printf '\r\n--XyZ--\r\n'; } > "$dest/multipart_fuzzer/one-part"
printf '%s' 'multipart/related; type="application/octet-stream"; transfer-syntax=*' > "$dest/accept_fuzzer/any"
printf '%s' 'multipart/related; type="image/jls", multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1;q=0.5, */*;q=0.1' > "$dest/accept_fuzzer/list"
printf '%s' 'PatientName=ZHANG*&StudyDate=20260101-20260331&includefield=00081030&limit=10&offset=0' > "$dest/qido_fuzzer/study"
printf '%s' 'StudyInstanceUID=1.2.3,1.2.4&Modality=CT&fuzzymatching=true' > "$dest/qido_fuzzer/uids"
# Inputs that once found a bug stay in every corpus (fuzz/regressions/<fuzzer>/).
for dir in fuzz/regressions/*/; do
  cp -n "$dir"* "$dest/$(basename "$dir")/" 2>/dev/null || true
done
cp -n models/*/card.toml "$dest/toml_fuzzer/" 2>/dev/null || true
printf 'http-port = 8080\nallowed-aets = ["CT1"]\n[[query-ae]]\naet = "V"\nhost = "10.0.0.1"\nport = 104\nfrom = ["10.0.0.0/8"]\n' > "$dest/toml_fuzzer/config"
