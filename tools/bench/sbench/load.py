"""Load and probes: wrk runs with CPU accounting, plumbing checks, idle
connections, and the backend's connection counter.

A measured run reads utime+stime of every proxy PID right before wrk starts
and right after it exits, so the CPU charged is what the proxy spent while
wrk's fixed-duration run was in flight.
"""
import json
import re
import socket
import ssl
import sys
import time

from . import procs

HERE = procs.pathlib.Path(__file__).resolve().parent.parent
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


def h2load_run(ctx, pids_by_role, url, conns, seconds):
    """One fixed-duration h2load run (HTTP/2 over TLS, 10 streams per
    connection); returns totals shaped like wrk_run's, plus CPU per role."""
    argv = procs.pinned(ctx.cpu_load, ["h2load", "-t1", f"-c{conns}", "-m10",
                                       f"-D{seconds}", url])
    before = {role: procs.cpu_ticks(pids) for role, pids in pids_by_role.items()}
    rc, out, err = ctx.registry.run(argv, timeout=seconds + 60)
    after = {role: procs.cpu_ticks(pids) for role, pids in pids_by_role.items()}
    fin = re.search(r"^finished in ([\d.]+)(m?s),", out, re.M)
    req = re.search(r"^requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, "
                    r"(\d+) failed, (\d+) errored, (\d+) timeout", out, re.M)
    codes = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out, re.M)
    proto = re.search(r"^Application protocol: (\S+)", out, re.M)
    if rc != 0 or not (fin and req and codes):
        raise RuntimeError(f"h2load failed (exit {rc}): {(err or out).strip()[-300:]}")
    if not proto or proto.group(1) != "h2":
        raise RuntimeError(f"h2load did not negotiate h2: {proto.group(1) if proto else '?'}")
    secs = float(fin.group(1)) / (1000 if fin.group(2) == "ms" else 1)
    traffic = re.search(r"^traffic: .*?(\d+) bytes total", out, re.M)
    return {"requests": int(req.group(1)), "bytes": int(traffic.group(1)) if traffic else 0,
            "duration_us": int(secs * 1e6),
            "errors": {"failed": int(req.group(2)), "errored": int(req.group(3)),
                       "timeout": int(req.group(4)),
                       "status": sum(int(codes.group(i)) for i in (3, 4))},
            "cpu_s": {role: round((after[role] - before[role]) * procs.TICK_S, 3)
                      for role in pids_by_role}}


def _tls_context(ca, alpn):
    ctx = ssl.create_default_context(cafile=str(ca))
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


def check_xff(port, ca=None):
    """L7 plumbing: strata-echo must see X-Forwarded-For = the check client's
    address, and a TCP peer that is the proxy, not the client. Over TLS the
    listener must also offer h2 by ALPN."""
    status, _, body = http_get(port, "/", ca=ca)
    if status != 200:
        raise CheckFailed(f"GET /: status {status}: {body[:120]!r}")
    echo = json.loads(body)
    xff = [v for k, v in echo["headers"] if k.lower() == "x-forwarded-for"]
    if xff != [CHECK_SRC]:
        raise CheckFailed(f"backend saw X-Forwarded-For {xff}, expected ['{CHECK_SRC}']")
    if echo["conn"]["peer"].startswith(CHECK_SRC + ":"):
        raise CheckFailed("backend saw the client itself: no proxy in the path")
    check_size(port, ca)
    how = ""
    if ca:
        alpn = tls_alpn(port, ca)
        if alpn != "h2":
            raise CheckFailed(f"TLS listener chose ALPN {alpn!r} when offered h2")
        how = " over TLS (certificate verified; ALPN offers h2)"
    return f"backend saw X-Forwarded-For: {xff[0]} from TCP peer {echo['conn']['peer']}{how}"


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
            total += len(procs.os.listdir(f"/proc/{pid}/fd"))
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
    import select
    r, _, _ = select.select([popen.stdout], [], [], timeout)
    if not r:
        raise RuntimeError(f"idle helper gave no answer in {timeout}s")
    return popen.stdout.readline()


if __name__ == "__main__":
    sys.exit("sbench.load is a module of tools/bench/bench")
