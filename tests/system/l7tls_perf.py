#!/usr/bin/python3
"""TLS handshakes per CPU-second and HTTP/2 CPU per request: strata-l7
next to nginx (`listen ssl http2`) and HAProxy (`ssl crt ... alpn
h2,http/1.1`), in one run, against the same strata-echo backend. Run by
hand (not collected by pytest); docs/tls.md and docs/http2.md quote it.

    tests/system/l7tls_perf.py [--seconds 4] [--rounds 3] [--only handshakes|h2]

Each proxy runs alone on CPU 1 (one worker / process / thread); the
clients (`openssl s_time`, h2load) and the backend share CPU 0. The
figure is the proxy's own CPU time (utime + stime of every thread, from
/proc) over the work the client completed in the same interval:
handshakes per CPU-second, or microseconds of CPU per HTTP/2 request.
Full handshakes: `s_time -new` (a new session each time); resumed:
`s_time -reuse` (TLS 1.3 tickets: psk_dhe_ke, so an X25519 exchange
still runs). Every connection carries one GET that the proxy relays.
Session tickets are on for every peer (each one's default), nothing is
logged. Loopback only; every process is stopped by PID.
"""
import argparse
import os
import pathlib
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(os.environ.get("STRATA_BUILD", ROOT / "build")) / "bin"
TICK = 1.0 / os.sysconf("SC_CLK_TCK")
CPU_PROXY, CPU_LOAD = "1", "0"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_tcp(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} not listening")


def cpu_s(pid):
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total * TICK


class Procs:
    def __init__(self):
        self.procs = []

    def start(self, argv, cpu, log):
        p = subprocess.Popen(["taskset", "-c", cpu] + [str(a) for a in argv],
                             stdout=open(log, "ab"), stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def stop(self, p):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs.remove(p)

    def stop_all(self):
        for p in reversed(list(self.procs)):
            self.stop(p)


def strata_conf(d, port, be, cert, key):
    return f"""
node_name = "perf"; workers = 1; log_level = "warn";
access_log = {{ enabled = false; }};
timeouts = {{ client_header = "60s"; keepalive = "60s"; }};
listeners = ( {{ name = "tls"; listen = [ "127.0.0.1:{port}" ]; proxy_protocol = "off";
  tls = {{ certificates = ( {{ cert = "{cert}"; key = "{key}"; }} ); }};
  forwarded_headers = {{ x_forwarded_for = true; x_real_ip = false; x_forwarded_proto = false;
    x_forwarded_host = false; forwarded = false; x_request_id = false; }}; }} );
upstreams = ( {{ name = "be"; servers = ( {{ address = "127.0.0.1:{be}"; }} ); }} );
routes = ( {{ name = "all"; upstream = "be"; }} );
"""


def nginx_conf(d, port, be, cert, key):
    return f"""
worker_processes 1; master_process off; daemon off; pid {d}/nginx.pid;
error_log {d}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  client_body_temp_path {d}/cb; proxy_temp_path {d}/pt; fastcgi_temp_path {d}/ft;
  uwsgi_temp_path {d}/ut; scgi_temp_path {d}/st;
  keepalive_requests 1000000;
  upstream be {{ server 127.0.0.1:{be}; keepalive 128; }}
  server {{
    listen 127.0.0.1:{port} ssl http2 backlog=4096;
    ssl_certificate {cert}; ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {{ proxy_pass http://be; proxy_http_version 1.1;
      proxy_set_header Connection ""; proxy_set_header X-Forwarded-For $remote_addr; }}
  }}
}}
"""


def haproxy_conf(d, port, be, cert, key):
    pem = pathlib.Path(d) / "haproxy.pem"
    pem.write_bytes(pathlib.Path(cert).read_bytes() + pathlib.Path(key).read_bytes())
    return f"""
global
  nbthread 1
  maxconn 10000
  ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
  mode http
  option http-keep-alive
  option forwardfor
  http-reuse safe
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend fe
  bind 127.0.0.1:{port} ssl crt {pem} alpn h2,http/1.1
  default_backend be
backend be
  server s 127.0.0.1:{be}
"""


PEERS = {
    "strata-l7": (strata_conf, "l7.conf", lambda c: [BIN / "strata-l7", "-c", c]),
    "nginx": (nginx_conf, "nginx.conf", lambda c: ["/usr/sbin/nginx", "-c", c]),
    "haproxy": (haproxy_conf, "haproxy.cfg", lambda c: ["/usr/sbin/haproxy", "-db", "-f", c]),
}


def s_time(port, seconds, mode):
    r = subprocess.run(["taskset", "-c", CPU_LOAD, "openssl", "s_time", "-connect",
                        f"127.0.0.1:{port}", mode, "-time", str(seconds), "-www", "/"],
                       capture_output=True, text=True, timeout=seconds + 30)
    m = re.findall(r"(\d+) connections in ([\d.]+)s", r.stdout)
    if not m:
        raise RuntimeError(r.stdout + r.stderr)
    return int(m[-1][0])


def h2load(port, seconds):
    r = subprocess.run(["taskset", "-c", CPU_LOAD, "h2load", "-t1", "-c10", "-m10",
                        f"-D{seconds}", f"https://127.0.0.1:{port}/"], capture_output=True,
                       text=True, timeout=seconds + 60)
    m = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed",
                  r.stdout)
    if not m or int(m.group(2)):
        raise RuntimeError(r.stdout + r.stderr)
    return int(m.group(1))


def measure(procs, d, peer, key_kind, certs, be, seconds, what):
    conf_fn, name, argv_fn = PEERS[peer]
    port = free_port()
    cert, key = certs[key_kind]
    conf = pathlib.Path(d) / f"{peer}-{key_kind}-{name}"
    conf.write_text(conf_fn(d, port, be, cert, key))
    p = procs.start(argv_fn(conf), CPU_PROXY, pathlib.Path(d) / f"{peer}.log")
    try:
        wait_tcp(port)
        out = {}
        if what in ("all", "handshakes"):
            s_time(port, 0.5, "-new")  # warm-up
            for mode, label in (("-new", "full"), ("-reuse", "resumed")):
                c0, t0 = cpu_s(p.pid), time.monotonic()
                n = s_time(port, seconds, mode)
                c1 = cpu_s(p.pid)
                out[label] = n / (c1 - c0) if c1 > c0 else float("nan")
        if what in ("all", "h2") and key_kind == "ecdsa":
            h2load(port, 1)
            c0, t0 = cpu_s(p.pid), time.monotonic()
            n = h2load(port, seconds)
            c1, t1 = cpu_s(p.pid), time.monotonic()
            out["h2_us"] = (c1 - c0) / n * 1e6
            out["h2_rps"] = n / (t1 - t0)
        return out
    finally:
        procs.stop(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", choices=["handshakes", "h2"], default=None)
    args = ap.parse_args()
    what = args.only or "all"
    procs = Procs()
    d = tempfile.mkdtemp(prefix="strata-tlsperf-")
    subprocess.run([ROOT / "tools" / "certs", f"{d}/certs"], check=True, capture_output=True)
    certs = {"ecdsa": (f"{d}/certs/localhost-ecdsa.pem", f"{d}/certs/localhost-ecdsa.key"),
             "rsa": (f"{d}/certs/localhost-rsa.pem", f"{d}/certs/localhost-rsa.key")}
    be = free_port()
    results = {}
    try:
        procs.start([BIN / "strata-echo", "-l", f"127.0.0.1:{be}", "-n", "be", "-w", "1"],
                    CPU_LOAD, f"{d}/echo.log")
        wait_tcp(be)
        for r in range(args.rounds):
            for kind in ("ecdsa", "rsa"):
                if what == "h2" and kind == "rsa":
                    continue
                for peer in PEERS:
                    res = measure(procs, d, peer, kind, certs, be, args.seconds, what)
                    for k, v in res.items():
                        results.setdefault((kind, k, peer), []).append(v)
                    print(f"round {r + 1} {kind} {peer}: " +
                          ", ".join(f"{k} {v:.1f}" for k, v in res.items()), flush=True)
    finally:
        procs.stop_all()
    print(f"\nload average {open('/proc/loadavg').read().split()[0]}; medians of "
          f"{args.rounds} rounds of {args.seconds} s")
    rows = sorted({(k, f) for k, f, _ in results})
    for kind, fig in rows:
        vals = {p: statistics.median(results[(kind, fig, p)]) for p in PEERS
                if (kind, fig, p) in results}
        line = "  ".join(f"{p} {v:9.1f}" for p, v in vals.items())
        s = vals.get("strata-l7")
        ratios = "  ".join(f"/{p} {s / v:.2f}" for p, v in vals.items() if p != "strata-l7" and v)
        unit = {"full": "handshakes/CPU-s", "resumed": "handshakes/CPU-s",
                "h2_us": "µs CPU/request", "h2_rps": "req/s"}[fig]
        print(f"{kind:5} {fig:8} ({unit}): {line}   strata{ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
