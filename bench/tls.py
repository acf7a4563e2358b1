#!/usr/bin/python3
"""bench/tls.py: what TLS costs dxhub, plain and encrypted side by side in one run.

- WADO-RS: GET .../instances/{uid} (application/dicom, the archived bytes) of the 20-slice JPEG
  2000 CT, by CLIENTS keep-alive client threads for SECONDS, against `dxhub serve` over HTTP
  and then over HTTPS (TLS 1.3, the same data dir). Instances/s and MB/s; ratio HTTPS / HTTP.
- C-STORE: N generated instances (256x256, 16-bit, fresh UIDs) sent by 8 parallel DCMTK
  storescu processes (one association each) to the plain DICOM port and to the DICOM TLS port
  (storescu +tls, BCP 195 ND profile), each into an empty archive. Instances/s; ratio TLS / plain.
Targets (issue 12): both ratios >= 0.8. Writes the section "## TLS (bench/tls.py)" of
bench/RESULTS.md (RESULTS=- prints only).

Usage: /usr/bin/python3 bench/tls.py   [env: N=800 SECONDS=10 CLIENTS=4]
"""
import http.client
import json
import os
import platform
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ.setdefault("DXHUB_BIN", os.path.join(ROOT, "build", "bin", "dxhub"))
import harness  # noqa: E402

N = int(os.environ.get("N", "800"))
SECONDS = float(os.environ.get("SECONDS", "10"))
CLIENTS = int(os.environ.get("CLIENTS", "4"))
RESULTS = os.environ.get("RESULTS", os.path.join(ROOT, "bench", "RESULTS.md"))
os.environ["TCP_NODELAY"] = "1"


def wado_rate(server, paths, context):
    stop = time.monotonic() + SECONDS
    counts, sizes = [0] * CLIENTS, [0] * CLIENTS
    token = server.token

    def client(i):
        if context:
            conn = http.client.HTTPSConnection("127.0.0.1", server.http_port, context=context)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", server.http_port)
        k = i
        while time.monotonic() < stop:
            conn.request("GET", paths[k % len(paths)],
                         headers={"Authorization": f"Bearer {token}",
                                  "Accept": "multipart/related; type=\"application/dicom\""})
            r = conn.getresponse()
            body = r.read()
            assert r.status == 200, (r.status, body[:200])
            counts[i] += 1
            sizes[i] += len(body)
            k += 1
        conn.close()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    return sum(counts) / elapsed, sum(sizes) / elapsed / 1e6


def instance_paths(server):
    status, studies = server.get("/api/studies?limit=10")
    paths = []
    for s in studies["studies"]:
        detail = server.study(s["study_instance_uid"])
        for series in detail["series"]:
            for inst in series["instances"]:
                paths.append(f"/dicom-web/studies/{s['study_instance_uid']}/series/"
                             f"{series['series_instance_uid']}/instances/{inst['sop_instance_uid']}")
    return paths


def store_rate(port, files_per_assoc, tls_args):
    procs = []
    start = time.monotonic()
    for files in files_per_assoc:
        procs.append(subprocess.Popen(["storescu", *tls_args, "-aec", "DXHUB", "127.0.0.1",
                                       str(port), *files],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    for p in procs:
        _, err = p.communicate()
        assert p.returncode == 0, err.decode()[-500:]
    return N / (time.monotonic() - start)


def main():
    tmp = tempfile.mkdtemp(prefix="dxhub-bench-tls-")
    ca, cert, key = harness.make_test_ca(tmp)
    context = ssl.create_default_context(cafile=ca)
    data = os.path.join(tmp, "wado")
    os.makedirs(data)
    r = harness.run_dxhub("import", "--data", os.path.join(data, "var"), "--no-progress",
                          os.path.join(harness.SAMPLES, "ct-abdomen-20slices"))
    assert r.returncode == 0, r.stderr
    rows = {}
    for mode in ("http", "https"):
        extra = ["--no-ai"] + (["--tls-cert", cert, "--tls-key", key] if mode == "https" else [])
        server = Server(data_dir=data, extra_args=extra)
        if mode == "https":
            server.scheme, server.ssl_context = "https", context
        server.start()
        paths = instance_paths(server)
        wado_rate(server, paths, context if mode == "https" else None)  # warm the page cache
        rows[mode] = wado_rate(server, paths, context if mode == "https" else None)
        server.stop()
    # C-STORE: N fresh instances in 8 folders.
    files = [[] for _ in range(8)]
    gen = os.path.join(tmp, "gen")
    os.makedirs(gen)
    for i in range(N):
        path = harness.write_instance(os.path.join(gen, f"{i}.dcm"), f"1.2.826.0.1.3680043.9.7.{i + 1}",
                                      study_uid=f"1.2.826.0.1.3680043.9.8.{i // 20 + 1}",
                                      series_uid=f"1.2.826.0.1.3680043.9.9.{i // 20 + 1}",
                                      rows=256, cols=256)
        files[i % 8].append(path)
    tls_client = ["+tls", os.path.join(tmp, "client.key"), os.path.join(tmp, "client.pem"),
                  "+cf", ca]
    stores = {}
    for mode in ("plain", "tls"):
        d = os.path.join(tmp, f"store-{mode}")
        os.makedirs(d)
        tls_port = harness.free_port()
        server = Server(data_dir=d, extra_args=["--no-ai", "--tls-cert", cert, "--tls-key", key,
                                                "--dicom-tls-port", str(tls_port)])
        server.scheme, server.ssl_context = "https", context
        server.start()
        stores[mode] = store_rate(server.dicom_port if mode == "plain" else tls_port, files,
                                  tls_client if mode == "tls" else [])
        status, stats = server.get("/api/statistics")
        assert stats["instances"] == N, stats
        server.stop()
    shutil.rmtree(tmp, ignore_errors=True)

    wado = rows["https"][0] / rows["http"][0]
    store = stores["tls"] / stores["plain"]
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                         capture_output=True, text=True).stdout.strip()
    section = f"""## TLS (bench/tls.py)

Machine: {cpu}, {os.cpu_count()} cores, {platform.platform()}; {time.strftime('%Y-%m-%d')}.
Command: `/usr/bin/python3 bench/tls.py` (N={N}, SECONDS={SECONDS:g}, CLIENTS={CLIENTS}).
Plain and encrypted in the same run, same data, same clients (TLS 1.3 over loopback for HTTPS;
DCMTK storescu +tls, BCP 195 ND, for DICOM).

| measurement | plain | TLS | TLS / plain | target |
|---|---|---|---|---|
| WADO-RS instance retrieve, {CLIENTS} keep-alive clients (instances/s) | {rows['http'][0]:.0f} ({rows['http'][1]:.0f} MB/s) | {rows['https'][0]:.0f} ({rows['https'][1]:.0f} MB/s) | {wado:.2f} | >= 0.8 |
| C-STORE, 8 associations, {N} instances 256x256x16 bit (instances/s) | {stores['plain']:.0f} | {stores['tls']:.0f} | {store:.2f} | >= 0.8 |
"""
    print(section)
    if RESULTS != "-":
        sec = os.path.join(tempfile.gettempdir(), "tls-section.md")
        with open(sec, "w") as f:
            f.write(section)
        subprocess.run([sys.executable, os.path.join(ROOT, "bench", "write_section.py"), RESULTS,
                        sec, "## TLS (bench/tls.py)"], check=True)


Server = harness.Server

if __name__ == "__main__":
    main()
