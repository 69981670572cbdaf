"""Load and probes: wrk, openssl s_time and h2load runs with CPU
accounting, plumbing checks, idle connections, and the backend's
connection counter.

A measured run reads utime+stime of every proxy PID right before the load
generator starts and right after it exits (h2load: when its main duration
starts and ends), so the CPU charged is what the proxy spent while the
fixed-duration run was in flight.
"""
import json
import os
import pathlib
import re
import select
import socket
import ssl
import subprocess
import sys
import time

from . import procs

HERE = pathlib.Path(__file__).resolve().parent.parent
WRK_LUA = HERE / "wrk-report.lua"
IDLE_HELPER = HERE / "sbench" / "idle.py"
PYTHON = "/usr/bin/python3"

# The plumbing checks connect from this address, not 127.0.0.1, so a relay
# that forwards its own address instead of the client's cannot pass.
CHECK_SRC = "127.0.0.77"


class CheckFailed(Exception):
    """A peer is misconfigured: the client address did not reach the backend."""


def wrk_argv(ctx, url, conns, seconds, close):
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "--timeout", "10s",
            "-s", WRK_LUA]
    if close:
        argv += ["-H", "Connection: close"]
    return procs.pinned(ctx.cpu_load, argv + [url])


def wrk_run(ctx, pids_by_role, url, conns, seconds, close=False, counter=None):
    """One fixed-duration wrk run; returns wrk's totals plus the CPU seconds
    each role's processes spent, and the backend connections opened."""
    argv = wrk_argv(ctx, url, conns, seconds, close)
    conns_before = counter() if counter else None
    before = {role: procs.cpu_ticks(pids) for role, pids in pids_by_role.items()}
    t0 = time.monotonic()
    rc, out, err = ctx.registry.run(argv, timeout=seconds + 60)
    wall = time.monotonic() - t0
    after = {role: procs.cpu_ticks(pids) for role, pids in pids_by_role.items()}
    m = re.search(r"^BENCH-RESULT (\{.*\})$", out, re.M)
    if rc != 0 or not m:
        raise RuntimeError(f"wrk failed (exit {rc}): {err.strip()[-300:] or out[-300:]}")
    res = json.loads(m.group(1))
    res["wall_s"] = round(wall, 3)
    res["cpu_s"] = {role: round((after[role] - before[role]) * procs.TICK_S, 3)
                    for role in pids_by_role}
    if counter:
        # The counter's own probe connection is one of those counted.
        res["backend_conns_opened"] = counter() - conns_before - 1
    return res


class _Lines:
    """Lines from a child's stdout pipe with a deadline, read straight from
    the descriptor (select() cannot see lines a buffered reader holds)."""

    def __init__(self, pipe):
        self.fd = pipe.fileno()
        self.buf = b""

    def readline(self, deadline):
        while b"\n" not in self.buf:
            r, _, _ = select.select([self.fd], [], [], max(deadline - time.monotonic(), 0))
            if not r:
                raise RuntimeError("no output before the deadline")
            chunk = os.read(self.fd, 65536)
            if not chunk:
                line, self.buf = self.buf, b""
                return line.decode(errors="replace")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode(errors="replace") + "\n"

    def rest(self):
        text, self.buf = self.buf.decode(errors="replace"), b""
        return text


H2_WARMUP_S = 1  # h2load's untimed start: handshakes and ramp-up, outside the figures


def h2load_argv(ctx, url, conns, seconds):
    return procs.pinned(ctx.cpu_load, ["h2load", "-t1", f"-c{conns}", "-m10", f"-D{seconds}",
                                       f"--warm-up-time={H2_WARMUP_S}", url])


def h2load_run(ctx, pids_by_role, url, conns, seconds):
    """One fixed-duration h2load run (HTTP/2 over TLS, 10 streams per
    connection) after an untimed warm-up that holds the TLS handshakes.
    The proxy's CPU is read when h2load says its main duration started and
    when it says it is over, so it covers the requests h2load counts.
    Returns totals shaped like wrk_run's, plus CPU per role."""
    popen = ctx.registry.spawn(h2load_argv(ctx, url, conns, seconds),
                               stdin=subprocess.DEVNULL)
    lines, out, marks = _Lines(popen.stdout), [], {}
    try:
        deadline = time.monotonic() + seconds + H2_WARMUP_S + 60
        for phase in ("started", "over"):
            while phase not in marks:
                line = lines.readline(deadline)
                if not line:
                    raise RuntimeError("h2load ended early: " + "".join(out)[-300:])
                out.append(line)
                if f"Main benchmark duration is {phase}" in line:
                    marks[phase] = {role: procs.cpu_ticks(pids)
                                    for role, pids in pids_by_role.items()}
        rest, err = popen.communicate(timeout=30)
    finally:
        ctx.registry.finish(popen, 5)
    text = "".join(out) + lines.rest() + rest
    rps = re.search(r"^finished in [\d.]+m?s, ([\d.]+) req/s", text, re.M)
    req = re.search(r"^requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, "
                    r"(\d+) failed, (\d+) errored, (\d+) timeout", text, re.M)
    codes = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text, re.M)
    proto = re.search(r"^Application protocol: (\S+)", text, re.M)
    if popen.returncode != 0 or not (rps and req and codes):
        raise RuntimeError(f"h2load failed (exit {popen.returncode}): "
                           f"{(err or text).strip()[-300:]}")
    if not proto or proto.group(1) != "h2":
        raise RuntimeError(f"h2load did not negotiate h2: {proto.group(1) if proto else '?'}")
    n = int(req.group(1))
    traffic = re.search(r"^traffic: .*?(\d+) bytes total", text, re.M)
    return {"requests": n, "bytes": int(traffic.group(1)) if traffic else 0,
            "duration_us": int(n / float(rps.group(1)) * 1e6) if float(rps.group(1)) else 0,
            "errors": {"failed": int(req.group(2)), "errored": int(req.group(3)),
                       "timeout": int(req.group(4)),
                       "status": sum(int(codes.group(i)) for i in (3, 4))},
            "cpu_s": {role: round((marks["over"][role] - marks["started"][role]) * procs.TICK_S, 3)
                      for role in pids_by_role}}


def s_time_run(ctx, pids_by_role, port, seconds, reuse):
    """One `openssl s_time` run (TLS handshakes, one `GET /` each, on the
    load CPU): -new makes every connection a full handshake, -reuse resumes
    the session of a first, untimed connection. Returns the handshakes
    completed, how many resumed (s_time prints one character per
    connection: 'r' resumed, '*' full) and the CPU per role over the run."""
    argv = s_time_argv(ctx, port, seconds, reuse)
    before = {role: procs.cpu_ticks(pids) for role, pids in pids_by_role.items()}
    t0 = time.monotonic()
    rc, out, err = ctx.registry.run(argv, timeout=seconds + 60)
    wall = time.monotonic() - t0
    after = {role: procs.cpu_ticks(pids) for role, pids in pids_by_role.items()}
    totals = re.findall(r"^(\d+) connections in (\d+) real seconds, (\d+) bytes read per "
                        r"connection", out, re.M)
    if rc != 0 or not totals:
        raise RuntimeError(f"openssl s_time failed (exit {rc}): {(err or out).strip()[-300:]}")
    n, _, per_conn = (int(x) for x in totals[-1])
    # The timed loop's marks follow "starting" (-reuse) or the first line (-new).
    marks = out.split("starting\n", 1)[1] if reuse else out.split("\n", 1)[1]
    marks = marks.split("\n", 1)[0]
    return {"requests": n, "resumed": marks.count("r"), "full": len(marks) - marks.count("r"),
            "bytes_per_conn": per_conn, "wall_s": round(wall, 3), "duration_us": int(wall * 1e6),
            "errors": {"not_resumed" if reuse else "resumed":
                       (n - marks.count("r")) if reuse else marks.count("r")},
            "cpu_s": {role: round((after[role] - before[role]) * procs.TICK_S, 3)
                      for role in pids_by_role}}


def s_time_argv(ctx, port="PORT", seconds="SECONDS", reuse=False):
    return procs.pinned(ctx.cpu_load, ["openssl", "s_time", "-connect", f"127.0.0.1:{port}",
                                       "-reuse" if reuse else "-new", "-time", seconds,
                                       "-www", "/"])


def _tls_context(ca, alpn):
    ctx = ssl.create_default_context(cafile=str(ca))
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def tls_alpn(port, ca, src=CHECK_SRC):
    """The ALPN protocol a TLS listener picks when offered h2 and http/1.1."""
    with socket.create_connection(("127.0.0.1", port), timeout=5,
                                  source_address=(src, 0)) as raw:
        with _tls_context(ca, ["h2", "http/1.1"]).wrap_socket(
                raw, server_hostname="localhost") as s:
            return s.selected_alpn_protocol()


def http_get(port, path, src=CHECK_SRC, timeout=5.0, ca=None):
    """One HTTP/1.1 GET from src to 127.0.0.1:port (over TLS when a CA is
    given, verifying the certificate); returns (status, headers, body)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as raw:
        raw.settimeout(timeout)
        raw.bind((src, 0))
        raw.connect(("127.0.0.1", port))
        s = (_tls_context(ca, ["http/1.1"]).wrap_socket(raw, server_hostname="localhost")
             if ca else raw)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ssl.SSLError:  # a close without close_notify ends the body too
                break
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/1."):
        raise CheckFailed(f"GET {path}: no HTTP response ({data[:80]!r})")
    status = int(lines[0].split()[1])
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    elif "content-length" in headers:
        body = body[:int(headers["content-length"])]
    return status, headers, body


def _dechunk(data):
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2:]
    return out


def check_size(port, ca=None):
    status, _, body = http_get(port, "/size/16384", ca=ca)
    if status != 200 or len(body) != 16384 or body[:4] != b"abcd":
        raise CheckFailed(f"GET /size/16384: status {status}, {len(body)} bytes")


def _check_echo(body, what):
    """strata-echo's answer must show X-Forwarded-For = the check client's
    address, from a TCP peer that is the proxy, not the client."""
    echo = json.loads(body)
    xff = [v for k, v in echo["headers"] if k.lower() == "x-forwarded-for"]
    if xff != [CHECK_SRC]:
        raise CheckFailed(f"{what}: backend saw X-Forwarded-For {xff}, expected ['{CHECK_SRC}']")
    if echo["conn"]["peer"].startswith(CHECK_SRC + ":"):
        raise CheckFailed(f"{what}: backend saw the client itself: no proxy in the path")
    return echo["conn"]["peer"]


def check_xff(port):
    """L7 plumbing: the client address reaches strata-echo, /size/16384
    comes back whole."""
    status, _, body = http_get(port, "/")
    if status != 200:
        raise CheckFailed(f"GET /: status {status}: {body[:120]!r}")
    peer = _check_echo(body, "GET /")
    check_size(port)
    return f"backend saw X-Forwarded-For: {CHECK_SRC} from TCP peer {peer}"


def _served_cert(port, ca):
    """(DER certificate served, TLS version, cipher) with verification on."""
    with socket.create_connection(("127.0.0.1", port), timeout=5,
                                  source_address=(CHECK_SRC, 0)) as raw:
        with _tls_context(ca, ["http/1.1"]).wrap_socket(raw, server_hostname="localhost") as s:
            return s.getpeercert(binary_form=True), s.version(), s.cipher()[0]


def check_tls(ctx, port, ca, cert):
    """TLS plumbing: TLS 1.3 is negotiated, the configured certificate is
    served and verifies against the test CA; the client address reaches strata-echo over
    HTTP/1.1 and over HTTP/2 (curl, ALPN h2); an HTTP/1.0 request without
    Host (what openssl s_time sends) is answered 200; /size/16384 whole."""
    der, version, cipher = _served_cert(port, ca)
    if version != "TLSv1.3":  # what s_time and h2load negotiate with every peer
        raise CheckFailed(f"negotiated {version}, not TLSv1.3")
    if der != ssl.PEM_cert_to_DER_cert(pathlib.Path(cert).read_text()):
        raise CheckFailed(f"the certificate served is not {pathlib.Path(cert).name}")
    status, _, body = http_get(port, "/", ca=ca)
    if status != 200:
        raise CheckFailed(f"GET / over TLS: status {status}: {body[:120]!r}")
    peer = _check_echo(body, "GET / over TLS")
    check_size(port, ca)
    if tls_alpn(port, ca) != "h2":
        raise CheckFailed("TLS listener did not choose ALPN h2 when offered h2, http/1.1")
    rc, out, err = ctx.registry.run(
        ["curl", "-sS", "--http2", "--max-time", "5", "--cacert", ca, "--interface", CHECK_SRC,
         "--resolve", f"localhost:{port}:127.0.0.1", "-w", "\n%{http_version} %{http_code}",
         f"https://localhost:{port}/"], 15)
    body, _, tail = out.rpartition("\n")
    if rc != 0 or tail != "2 200":
        raise CheckFailed(f"curl --http2: exit {rc}, {tail!r}: {err.strip()[-200:]}")
    _check_echo(body, "GET / over HTTP/2")
    status = http10_status(port, ca)
    if status != 200:
        raise CheckFailed(f"HTTP/1.0 GET / without Host over TLS: status {status}")
    return (f"backend saw X-Forwarded-For: {CHECK_SRC} from TCP peer {peer} over TLS "
            f"({version}, {cipher}, {pathlib.Path(cert).name} served and verified) and "
            "over HTTP/2 (ALPN h2, curl)")


def http10_status(port, ca):
    """The status of `GET / HTTP/1.0` without Host over TLS."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with _tls_context(ca, []).wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = b""
            while len(data) < 16 and (chunk := s.recv(4096)):
                data += chunk
    parts = data.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def traffic_counts(ctx, sock):
    """From strata-l7's admin socket (stratactl): the bench rate-limit
    policy's allowed and limited counts, and the requests in the breaker
    windows of the upstream's servers."""
    stratactl = ctx.bin_dir / "stratactl"
    got = {}
    for what in ("ratelimit", "breakers"):
        rc, out, err = ctx.registry.run([stratactl, "-s", sock, "show", what], 15)
        if rc != 0:
            raise CheckFailed(f"stratactl show {what}: exit {rc}: {(err or out).strip()[-200:]}")
        got[what] = out
    policy = re.search(r"^policy bench .*\ballowed=(\d+) limited=(\d+)", got["ratelimit"], re.M)
    windows = [int(n) for n in re.findall(r"\bwindow=(\d+)/\d+", got["breakers"])]
    if not policy:
        raise CheckFailed(f"no rate-limit policy 'bench': {got['ratelimit'].strip()[:200]!r}")
    if not windows:
        raise CheckFailed(f"no breaker on the upstream: {got['breakers'].strip()[:200]!r}")
    return int(policy.group(1)), int(policy.group(2)), sum(windows)


def check_traffic(ctx, sock):
    """Traffic-management plumbing: after the check's requests, the rate
    limit has allowed them (and refused none) and the breaker windows
    counted them, so the measured path really runs both."""
    allowed, limited, window = traffic_counts(ctx, sock)
    if allowed < 1 or limited or window < 1:
        raise CheckFailed(f"rate limit allowed={allowed} limited={limited}, breaker "
                          f"window={window}: not on the request path")
    return (f"rate limit 'bench' allowed {allowed} (limited 0), breaker windows counted "
            f"{window} (stratactl show ratelimit / show breakers)")


def check_pp(port, access_log):
    """L4 plumbing: the nginx backend's $proxy_protocol_addr, answered and
    written to its access log, must be the check client's address."""
    before = _lines(access_log)
    status, _, body = http_get(port, "/check")
    got = body.decode(errors="replace").strip()
    if status != 200 or got != CHECK_SRC:
        raise CheckFailed(f"backend's $proxy_protocol_addr is {got!r} (status {status}), "
                          f"expected {CHECK_SRC}")
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        new = _lines(access_log)[len(before):]
        if any(ln.startswith(CHECK_SRC + " ") and "/check" in ln for ln in new):
            break
        time.sleep(0.02)
    else:
        raise CheckFailed(f"{access_log} has no '/check' line from {CHECK_SRC}")
    check_size(port)
    return f"backend access log: {new[-1]}"


def _lines(path):
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


def echo_conns_counter(port):
    """A function returning strata-echo's connections_total (from /stats)."""
    def count():
        status, _, body = http_get(port, "/stats", src="127.0.0.1")
        return json.loads(body)["connections_total"]
    return count


def meminfo_slab():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Slab:"):
                return int(line.split()[1]) * 1024
    return 0


def fd_count(pids):
    total = 0
    for pid in pids:
        try:
            total += len(os.listdir(f"/proc/{pid}/fd"))
        except FileNotFoundError:
            pass
    return total


def idle_run(ctx, pids, port, count, timeout=120):
    """Opens `count` connections through the peer (one request each, then
    idle) from a helper process on the load CPU; returns the proxy's RSS and
    the kernel slab they added, and the proxy's file descriptors."""
    time.sleep(0.3)
    rss0, slab0, fds0 = procs.rss_bytes(pids), meminfo_slab(), fd_count(pids)
    helper = ctx.registry.spawn(procs.pinned(ctx.cpu_load, [
        PYTHON, IDLE_HELPER, "--port", port, "--count", count, "--path", "/",
        "--hold", timeout]))
    try:
        line = _read_line(helper, timeout)
        if not line.startswith("READY "):
            raise RuntimeError(f"idle helper: {line.strip() or helper.stderr.read()[-300:]}")
        time.sleep(0.5)
        rss1, slab1, fds1 = procs.rss_bytes(pids), meminfo_slab(), fd_count(pids)
    finally:
        helper.stdin.close()  # the helper closes its connections and exits
        ctx.registry.finish(helper, 30)
    return {"connections": count, "rss_before": rss0, "rss_after": rss1,
            "slab_before": slab0, "slab_after": slab1, "fds_before": fds0, "fds_after": fds1}


def _read_line(popen, timeout):
    r, _, _ = select.select([popen.stdout], [], [], timeout)
    if not r:
        raise RuntimeError(f"idle helper gave no answer in {timeout}s")
    return popen.stdout.readline()


if __name__ == "__main__":
    sys.exit("sbench.load is a module of tools/bench/bench")
