"""Helpers for the strata-l4 system tests: config files, a PROXY-v2-parsing
test peer, nginx and HAProxy as real L7 peers, stratactl, metrics.

Run as a script, this module is the test peer itself:

    python3 l4util.py ppserver PORT NAME [--status-file F] [--health-status N]

It listens on 127.0.0.1:PORT, requires a PROXY v2 header on every
connection, answers the first line with a JSON record of what the header
said (`{"name", "cmd", "src", "dst", "tlvs"}`), then echoes every byte back
until the client's FIN, which it passes on. A LOCAL header followed by
`GET /healthz` gets `HTTP/1.1 <health-status>` (200 unless the status file
says otherwise), so strata-l4's HTTP health check can be pointed at it.
"""
import json
import os
import pathlib
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
PP2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"

# --- the PPv2 test peer ----------------------------------------------------------


def parse_ppv2(data):
    """Returns (header dict, header length) or (None, 0) when incomplete.
    Raises ValueError on a malformed header."""
    if len(data) < 16:
        if not PP2_SIG.startswith(data[:12]):
            raise ValueError("no PPv2 signature")
        return None, 0
    if data[:12] != PP2_SIG:
        raise ValueError("no PPv2 signature")
    ver_cmd, fam, ln = data[12], data[13], struct.unpack("!H", data[14:16])[0]
    if ver_cmd >> 4 != 2:
        raise ValueError("bad version")
    if len(data) < 16 + ln:
        return None, 0
    body = data[16:16 + ln]
    hdr = {"cmd": "local" if ver_cmd & 0xF == 0 else "proxy", "src": None, "dst": None}
    if fam == 0x11:
        src, dst = socket.inet_ntop(socket.AF_INET, body[0:4]), socket.inet_ntop(socket.AF_INET, body[4:8])
        sp, dp = struct.unpack("!HH", body[8:12])
        tl = body[12:]
        hdr["src"], hdr["dst"] = f"{src}:{sp}", f"{dst}:{dp}"
    elif fam == 0x21:
        src, dst = socket.inet_ntop(socket.AF_INET6, body[0:16]), socket.inet_ntop(socket.AF_INET6, body[16:32])
        sp, dp = struct.unpack("!HH", body[32:36])
        tl = body[36:]
        hdr["src"], hdr["dst"] = f"[{src}]:{sp}", f"[{dst}]:{dp}"
    else:
        tl = body
    tlvs = {}
    while tl:
        if len(tl) < 3:
            raise ValueError("truncated TLV")
        t, l = tl[0], struct.unpack("!H", tl[1:3])[0]
        tlvs[f"0x{t:02x}"] = tl[3:3 + l].hex() if t == 0x03 else tl[3:3 + l].decode("latin-1")
        tl = tl[3 + l:]
    hdr["tlvs"] = tlvs
    return hdr, 16 + ln


def _serve_conn(c, name, status):
    data = b""
    try:
        while True:
            hdr, n = parse_ppv2(data)
            if hdr:
                break
            d = c.recv(65536)
            if not d:
                return
            data += d
    except (ValueError, OSError):
        c.close()
        return
    rest = data[n:]
    if hdr["cmd"] == "local":
        code = status()
        c.sendall(f"HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
        c.close()
        return
    hdr["name"] = name
    try:
        c.sendall((json.dumps(hdr) + "\n").encode())
        if rest:
            c.sendall(rest)
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
        c.shutdown(socket.SHUT_WR)
        # Wait for the other side to close too, so FINs cross cleanly.
        c.settimeout(5)
        c.recv(1)
    except OSError:
        pass
    finally:
        c.close()


def ppserver_main(argv):
    port, name = int(argv[0]), argv[1]
    status_file = None
    if "--status-file" in argv:
        status_file = argv[argv.index("--status-file") + 1]

    def status():
        if status_file and os.path.exists(status_file):
            return int(pathlib.Path(status_file).read_text().strip() or 200)
        return 200

    s = socket.socket(socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(1024)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    while True:
        c, _ = s.accept()
        threading.Thread(target=_serve_conn, args=(c, name, status), daemon=True).start()


# --- clients ----------------------------------------------------------------------


def converse(port, payload=b"hello\n", src="127.0.0.1", host="127.0.0.1", timeout=5.0,
             half_close=True):
    """Connects (from `src`), sends payload, half-closes, reads to EOF.
    Returns (peer header dict, echoed bytes, local (ip, port))."""
    c = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    c.settimeout(timeout)
    c.bind((src, 0))
    c.connect((host, port))
    local = c.getsockname()
    c.sendall(payload)
    if half_close:
        c.shutdown(socket.SHUT_WR)
    data = b""
    while True:
        d = c.recv(65536)
        if not d:
            break
        data += d
    c.close()
    line, _, rest = data.partition(b"\n")
    return json.loads(line), rest, local


def read_line(sock, limit=65536):
    """Bytes up to and including the first newline; EOF first is an error."""
    line = b""
    while not line.endswith(b"\n"):
        d = sock.recv(1)
        if not d:
            raise AssertionError(f"EOF after {line!r}")
        line += d
        if len(line) > limit:
            raise AssertionError("line too long")
    return line


def hello_name(port, src="127.0.0.1"):
    """The name of the peer instance a connection from `src` reaches."""
    hdr, _, _ = converse(port, b"x", src=src)
    return hdr["name"]


# --- config -------------------------------------------------------------------------


def service_block(name, listen, instances, **opts):
    """One libconfig service group. `instances` is a list of addresses or of
    dicts with "address" and other instance keys; opts are service keys
    (health may be a dict)."""
    lines = [f'name = "{name}";']
    lst = listen if isinstance(listen, (list, tuple)) else [listen]
    lines.append("listen = [ " + ", ".join(f'"{a}"' for a in lst) + " ];")
    for k, v in opts.items():
        lines.append(f"{k} = {_value(v)};")
    insts = []
    for i in instances:
        if isinstance(i, str):
            i = {"address": i}
        insts.append("{ " + " ".join(f"{k} = {_value(v)};" for k, v in i.items()) + " }")
    lines.append("instances = ( " + ", ".join(insts) + " );")
    return "{\n  " + "\n  ".join(lines) + "\n}"


def _value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, dict):
        return "{ " + " ".join(f"{k} = {_value(x)};" for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        return "[ " + ", ".join(_value(x) for x in v) + " ]"
    return json.dumps(v)


def write_conf(path, services, workdir, **top):
    """Writes a strata-l4 config with an admin socket and access log in
    workdir; returns the admin socket path."""
    sock = str(pathlib.Path(workdir) / "l4.sock")
    top.setdefault("node_name", "l4-test")
    top.setdefault("workers", 2)
    top.setdefault("drain_timeout", "5s")
    lines = [f"{k} = {_value(v)};" for k, v in top.items() if k not in ("metrics",)]
    lines.append(f'admin = {{ socket = "{sock}"; }};')
    if "metrics" in top:
        lines.append(f'metrics = {{ listen = "{top["metrics"]}"; }};')
    lines.append("services = (\n" + ",\n".join(services) + "\n);")
    pathlib.Path(path).write_text("\n".join(lines) + "\n")
    return sock


def ctl(binary, sock, *args, check=True, timeout=10):
    r = subprocess.run([binary, "-s", sock, *args], capture_output=True, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"stratactl {' '.join(args)}: rc {r.returncode}: {r.stderr}")
    return r


def instances(binary, sock, service=None):
    """`show instances` as a list of dicts keyed by the header's columns."""
    out = ctl(binary, sock, "show", "instances", *([service] if service else [])).stdout
    lines = out.strip().splitlines()
    cols = lines[0].lstrip("# ").split()
    return [dict(zip(cols, l.split())) for l in lines[1:]]


def wait_l4(ctl_binary, sock, timeout=10.0):
    """Waits until strata-l4 answers on its admin socket: by then every
    listener is bound (they are opened before the admin thread starts), and
    no probe connection shows up in the counters or the access log."""
    def up():
        if not os.path.exists(sock):
            return False
        r = subprocess.run([ctl_binary, "-s", sock, "-t", "1", "show", "services"],
                           capture_output=True, text=True)
        return r.returncode == 0
    wait_for(up, timeout=timeout, what=f"strata-l4 admin socket {sock}")


def wait_for(pred, timeout=10.0, step=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"{what} not met after {timeout}s")


def metrics_text(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    return data.partition(b"\r\n\r\n")[2].decode()


def metric(text, name, **labels):
    """The value of the series of `name` with exactly these labels (any
    order) in an exposition text, or None."""
    want = {k: str(v) for k, v in labels.items()}
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        key, _, value = line.rpartition(" ")
        if key == name and not want:
            return float(value)
        if not key.startswith(name + "{"):
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', key[len(name):]))
        if got == want:
            return float(value)
    return None


def start_ppservers(daemons, ports, names=None, status_dir=None):
    """One PPv2 peer per port; returns their daemons."""
    procs = []
    for i, port in enumerate(ports):
        name = names[i] if names else f"i{i}"
        argv = ["/usr/bin/python3", str(HERE / "l4util.py"), "ppserver", str(port), name]
        if status_dir:
            argv += ["--status-file", str(pathlib.Path(status_dir) / f"{name}.status")]
        procs.append(daemons(argv, name=f"pp-{name}"))
    return procs


# --- third-party L7 peers ------------------------------------------------------------


def nginx_conf(workdir, port, tag="nginx", worker_connections=1024):
    """nginx listening with `proxy_protocol`, answering every request with
    "$proxy_protocol_addr $proxy_protocol_port $proxy_protocol_server_addr"."""
    d = pathlib.Path(workdir) / f"{tag}"
    d.mkdir(exist_ok=True)
    conf = d / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
worker_rlimit_nofile {min(worker_connections * 2 + 64, 19900)};
error_log {d}/error.log warn;
events {{ worker_connections {worker_connections}; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  keepalive_timeout 60s;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port} proxy_protocol;
    location / {{
      default_type text/plain;
      return 200 "$proxy_protocol_addr $proxy_protocol_port $proxy_protocol_server_addr\\n";
    }}
  }}
}}
""")
    return ["/usr/sbin/nginx", "-c", str(conf), "-e", str(d / "error.log"),
            "-g", f"daemon off; pid {d}/nginx.pid;"]


def haproxy_conf(workdir, port, tag="haproxy"):
    """HAProxy with `accept-proxy`, answering with "src src_port dst"."""
    d = pathlib.Path(workdir) / tag
    d.mkdir(exist_ok=True)
    conf = d / "haproxy.cfg"
    conf.write_text(f"""
global
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend f
  bind 127.0.0.1:{port} accept-proxy
  http-request return status 200 content-type text/plain lf-string "%[src] %[src_port] %[dst]\\n"
""")
    return ["/usr/sbin/haproxy", "-f", str(conf), "-db"]


def http_get(port, src="127.0.0.1", path="/", timeout=5.0):
    """One HTTP/1.1 GET with Connection: close from `src`; (status, body)."""
    c = socket.socket()
    c.settimeout(timeout)
    c.bind((src, 0))
    c.connect(("127.0.0.1", port))
    local = c.getsockname()
    c.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while True:
        d = c.recv(65536)
        if not d:
            break
        data += d
    c.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return status, body.decode(errors="replace"), local


# --- many held clients (a subprocess, so the test's own files stay few) -------------


def holdclients_main(argv):
    """holdclients PORT N: opens N keep-alive connections (at most 200
    connecting at a time), one GET each; prints "ready OK"; on "again" on
    stdin sends one more GET on every connection and prints "done OK"; on
    "quit" (or EOF) closes them all."""
    import asyncio

    port, n = int(argv[0]), int(argv[1])
    req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"

    async def one(conns, gate):
        async with gate:
            r, w = await asyncio.open_connection("127.0.0.1", port)
        conns.append((r, w))
        return await ask(r, w)

    async def ask(r, w):
        w.write(req)
        head = await r.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"Content-Length: (\d+)", head, re.I).group(1))
        await r.readexactly(length)
        return head.startswith(b"HTTP/1.1 200")

    async def main():
        conns, gate = [], asyncio.Semaphore(200)
        res = await asyncio.gather(*(one(conns, gate) for _ in range(n)), return_exceptions=True)
        print("ready", sum(1 for x in res if x is True), flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if line.strip() == "again":
                res = await asyncio.gather(*(ask(r, w) for r, w in conns), return_exceptions=True)
                bad = [repr(x) for x in res if x is not True]
                if bad:
                    print("holdclients:", len(bad), "failed, e.g.", bad[:3], file=sys.stderr)
                print("done", sum(1 for x in res if x is True), flush=True)
            else:
                break
        for _, w in conns:
            w.close()

    asyncio.run(main())


def flood_main(argv):
    """flood KIND PORT SECONDS: a hostile client in its own process (so it
    does not share a GIL with the test): `reset` sends 50 kB and resets,
    `burst` sends 4 MiB it never reads the answer to and resets, `garbage`
    sends a bogus TLS record and closes, `silent` holds 50 connections that
    send nothing. Loops until SECONDS are over."""
    kind, port, secs = argv[0], int(argv[1]), float(argv[2])
    end = time.monotonic() + secs
    blob = os.urandom(4 << 20 if kind == "burst" else 50000)

    def reset(c):
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()

    held = []
    while time.monotonic() < end:
        try:
            c = socket.create_connection(("127.0.0.1", port), timeout=5)
            if kind == "silent":
                held.append(c)
                if len(held) >= 50:
                    time.sleep(0.1)
                continue
            try:
                if kind == "garbage":
                    c.sendall(b"\x16\x03\x01\xff\xff" + blob[:2000])
                    c.close()
                else:
                    c.sendall(blob)
                    reset(c)
            except OSError:
                c.close()
        except OSError:
            time.sleep(0.01)  # refused over max_conns: a RST
    for c in held:
        c.close()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "flood":
        flood_main(sys.argv[2:])
    elif len(sys.argv) > 1 and sys.argv[1] == "ppserver":
        ppserver_main(sys.argv[2:])
    elif len(sys.argv) > 1 and sys.argv[1] == "holdclients":
        holdclients_main(sys.argv[2:])
    else:
        print(__doc__)
        sys.exit(2)
