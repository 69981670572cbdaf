"""Helpers for the strata-l7 system tests: config files in a temp dir,
strata-echo backends and strata-l7 on ephemeral ports, a small HTTP/1.1
client, PROXY v1/v2 headers and WebSocket frames."""
import json
import os
import pathlib
import socket
import struct
import subprocess
import time

from conftest import binary, free_port, wait_path, wait_tcp

HOST = "127.0.0.1"


# --- HTTP client -------------------------------------------------------------


class Resp:
    def __init__(self, version, status, reason, headers, body):
        self.version, self.status, self.reason = version, status, reason
        self.headers, self.body = headers, body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def headers_named(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)

    def echo_headers(self, name):
        """Values of request header `name` as strata-echo saw them."""
        return [v for k, v in self.json()["headers"] if k.lower() == name.lower()]


class Client:
    """One TCP connection with a buffered HTTP/1.x response reader."""

    def __init__(self, port, timeout=10.0, source=None, preamble=b"", host=HOST):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if source:
            self.sock.bind((source, 0))
        self.sock.connect((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0
        if preamble:
            self.sock.sendall(preamble)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def read_exact(self, n):
        while len(self.buf) - self.pos < n:
            self._fill()
        out = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return out

    def read_until(self, sep):
        while True:
            i = self.buf.find(sep, self.pos)
            if i >= 0:
                out = bytes(self.buf[self.pos : i])
                self.pos = i + len(sep)
                return out
            self._fill()

    def read_line(self):
        return self.read_until(b"\r\n")

    def response(self, head=False):
        line = self.read_line().decode("latin-1")
        version, status, reason = (line.split(" ", 2) + [""])[:3]
        headers = []
        while True:
            h = self.read_line()
            if not h:
                break
            k, v = h.decode("latin-1").split(":", 1)
            headers.append((k, v.strip()))
        resp = Resp(version, int(status), reason, headers, b"")
        code = resp.status
        if head or code < 200 or code in (204, 304):
            return resp
        if (resp.header("transfer-encoding") or "").lower() == "chunked":
            resp.body = self._chunked()
        elif resp.header("content-length") is not None:
            resp.body = self.read_exact(int(resp.header("content-length")))
        else:
            resp.body = self.read_to_eof()
        return resp

    def _chunked(self):
        parts = []
        while True:
            size = int(self.read_line().split(b";")[0], 16)
            if size == 0:
                while self.read_line():
                    pass
                return b"".join(parts)
            parts.append(self.read_exact(size))
            assert self.read_line() == b""

    def read_to_eof(self):
        out = bytes(self.buf[self.pos :])
        self.buf, self.pos = bytearray(), 0
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except ConnectionResetError:
                return out
            if not data:
                return out
            out += data

    def at_eof(self, timeout=5.0):
        """True when the server closed (FIN or reset) with nothing unread."""
        if len(self.buf) > self.pos:
            return False
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def request(self, method="GET", path="/", headers=(), body=None, version="HTTP/1.1",
                host="test.local"):
        self.send(build(method, path, headers, body, version, host))
        return self.response(head=method == "HEAD")


def build(method="GET", path="/", headers=(), body=None, version="HTTP/1.1", host="test.local"):
    lines = [f"{method} {path} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += [f"{k}: {v}" for k, v in headers]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def get(port, path="/", headers=(), **kw):
    with Client(port, **{k: v for k, v in kw.items() if k in ("source", "preamble", "timeout")}) as c:
        return c.request("GET", path, headers, host=kw.get("host", "test.local"))


def raw_exchange(port, data, timeout=3.0, preamble=b""):
    """Sends raw bytes, returns everything read until the server closes."""
    with Client(port, timeout=timeout, preamble=preamble) as c:
        c.send(data)
        try:
            return c.read_to_eof()
        except socket.timeout:
            return bytes(c.buf)


# --- PROXY protocol ----------------------------------------------------------

PP2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def ppv2(src, dst=("127.0.0.1", 80), cmd=1, tlvs=()):
    """A PROXY v2 header for TCP over IPv4 (src/dst are (ip, port))."""
    body = b""
    if cmd == 1:
        body = socket.inet_aton(src[0]) + socket.inet_aton(dst[0]) + struct.pack(
            "!HH", src[1], dst[1])
    for t, v in tlvs:
        body += struct.pack("!BH", t, len(v)) + v
    fam = 0x11 if cmd == 1 else 0x00
    return PP2_SIG + bytes([0x20 | cmd, fam]) + struct.pack("!H", len(body)) + body


def ppv1(src, dst=("127.0.0.1", 80)):
    return f"PROXY TCP4 {src[0]} {dst[0]} {src[1]} {dst[1]}\r\n".encode()


PP2_TYPE_UNIQUE_ID = 0x05


# --- WebSocket ----------------------------------------------------------------


def ws_frame(opcode, payload, fin=True, mask=True):
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def ws_read(c):
    b0, b1 = c.read_exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", c.read_exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", c.read_exact(8))[0]
    return b0 & 0x0F, c.read_exact(n)


# --- daemons ---------------------------------------------------------------------


def start_echo(daemons, name="be"):
    port = free_port()
    d = daemons([binary("strata-echo"), "-l", f"{HOST}:{port}", "-n", name, "-w", "1"],
                name=f"echo-{name}")
    wait_tcp(HOST, port, proc=d.proc)
    d.port = port
    d.name = name
    return d


def echo_stats(port):
    with Client(port) as c:
        return c.request(path="/stats").json()


class L7:
    """A strata-l7 process with its config file, admin socket and logs."""

    def __init__(self, daemons, workdir, conf_text, name="l7"):
        self.workdir = pathlib.Path(workdir)
        self.conf = self.workdir / f"{name}.conf"
        self.conf.write_text(conf_text)
        self.sock = str(self.workdir / f"{name}.sock")
        self.access = self.workdir / f"{name}-access.log"
        self.d = daemons([binary("strata-l7"), "-c", str(self.conf)], name=name)

    def ctl(self, *args, check=True):
        r = subprocess.run([binary("stratactl"), "-s", self.sock, *args], capture_output=True,
                           text=True, timeout=10)
        if check:
            assert r.returncode == 0, r.stdout + r.stderr
        return r

    def metrics(self):
        return self.ctl("metrics").stdout

    def metric(self, name, **labels):
        """Sum of the samples of `name` whose labels include `labels`."""
        total = 0.0
        for line in self.metrics().splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            ok = all(f'{k}="{v}"' in line for k, v in labels.items())
            if ok:
                total += float(line.rsplit(" ", 1)[1])
        return total

    def access_lines(self, timeout=3.0, want=1):
        deadline = time.monotonic() + timeout
        lines = []
        while time.monotonic() < deadline:
            if self.access.exists():
                lines = [json.loads(x) for x in self.access.read_text().splitlines() if x]
                if len(lines) >= want:
                    return lines
            time.sleep(0.05)
        return lines


def l7_conf(workdir, port, upstreams, routes=None, listener_extra="", proxy="off",
            trusted='[ "127.0.0.0/8" ]', top_extra="", name="l7"):
    """A config with one listener on `port`. `upstreams` maps name ->
    (servers [(name, port, extra)], extra settings text)."""
    ups = []
    for uname, (servers, extra) in upstreams.items():
        srv = ", ".join(
            f'{{ name = "{n}"; address = "127.0.0.1:{p}"; {e} }}' for n, p, e in servers)
        ups.append(f'{{ name = "{uname}"; servers = ( {srv} ); {extra} }}')
    if routes is None:
        first = next(iter(upstreams))
        routes = f'{{ name = "all"; upstream = "{first}"; }}'
    wd = pathlib.Path(workdir)
    trust = f"trusted = {trusted};" if proxy != "off" else ""
    return f"""
node_name = "{name}";
workers = 1;
log_level = "info";
admin = {{ socket = "{wd / (name + '.sock')}"; }};
access_log = {{ enabled = true; path = "{wd / (name + '-access.log')}"; }};
{top_extra}
listeners = ( {{ name = "main"; listen = [ "127.0.0.1:{port}" ]; proxy_protocol = "{proxy}";
                {trust} {listener_extra} }} );
upstreams = ( {", ".join(ups)} );
routes = ( {routes} );
"""


def start_l7(daemons, workdir, text, port, name="l7"):
    l7 = L7(daemons, workdir, text, name=name)
    wait_tcp(HOST, port, proc=l7.d.proc)
    wait_path(l7.sock)
    l7.port = port
    return l7


def simple_stack(daemons, workdir, n_backends=1, upstream_extra="", routes=None, proxy="off",
                 listener_extra="", top_extra="", server_extra=""):
    """n strata-echo backends behind one strata-l7; returns (l7, backends)."""
    bes = [start_echo(daemons, f"be-{i}") for i in range(n_backends)]
    port = free_port()
    if "health" not in upstream_extra:
        # active checks open connections of their own: off unless asked for
        upstream_extra += " health = { enabled = false; };"
    text = l7_conf(workdir, port,
                   {"echo": ([(b.name, b.port, server_extra) for b in bes], upstream_extra)},
                   routes=routes, proxy=proxy, listener_extra=listener_extra,
                   top_extra=top_extra)
    return start_l7(daemons, workdir, text, port), bes
