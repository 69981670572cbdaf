"""Helpers for the strata-l7 TLS and HTTP/2 system tests: a test PKI made
with the openssl command (server certificates by name and key type, client
certificates good, expired, from a foreign CA, or not for clients),
strata-l7 configs with a TLS listener, openssl s_client and curl runs, and
a raw HTTP/2 frame client (HPACK literals out, enough HPACK in to read a
:status) for the frame-level behaviours."""
import os
import pathlib
import socket
import ssl
import struct
import subprocess
import tempfile
import time

from conftest import free_port
from l7util import HOST, start_echo, start_l7

_PKI = None


def _run(args, cwd):
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, timeout=60)


class PKI:
    """A CA, server certificates and client certificates in one directory
    (made once per test process: RSA keys take a while)."""

    def __init__(self, d):
        self.d = pathlib.Path(d)
        self.ca = self._ca("ca", "Strata TLS Test CA")
        self.foreign_ca = self._ca("foreign-ca", "Some Other CA")
        ext_srv = "extendedKeyUsage=serverAuth"
        self.server("ec-local", "localhost", "ec", "DNS:localhost,DNS:*.example.com", ext_srv)
        self.server("rsa-local", "localhost", "rsa", "DNS:localhost,DNS:*.example.com", ext_srv)
        self.server("other", "other.test", "ec", "DNS:other.test", ext_srv)
        self.server("swap", "swapped.test", "ec", "DNS:localhost,DNS:swapped.test", ext_srv)
        ext_cli = "extendedKeyUsage=clientAuth"
        self.server("client-ok", "client-1", "ec", None, ext_cli, org="Strata Test")
        self.server("client-foreign", "client-2", "ec", None, ext_cli, ca="foreign-ca")
        self.server("client-server-only", "client-3", "ec", None, ext_srv)
        self._expired("client-expired", "client-4")

    def path(self, name):
        return str(self.d / name)

    def _ca(self, name, cn):
        _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
              "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30", "-subj", f"/CN={cn}",
              "-keyout", f"{name}.key", "-out", f"{name}.pem",
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign"], self.d)
        return self.path(f"{name}.pem")

    def _key_args(self, kind):
        if kind == "rsa":
            return ["-newkey", "rsa:2048"]
        return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]

    def server(self, name, cn, kind, san, ext, ca="ca", org=None):
        subj = f"/CN={cn}" + (f"/O={org}" if org else "")
        _run(["openssl", "req", "-new", "-nodes", "-subj", subj, *self._key_args(kind),
              "-keyout", f"{name}.key", "-out", f"{name}.csr"], self.d)
        (self.d / f"{name}.ext").write_text(
            (f"subjectAltName={san}\n" if san else "") + ext + "\n")
        _run(["openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey",
              f"{ca}.key", "-CAcreateserial", "-days", "30", "-extfile", f"{name}.ext",
              "-out", f"{name}.pem"], self.d)

    def _expired(self, name, cn):
        """Valid for January 2020 only (`openssl ca` takes explicit dates)."""
        db = self.d / "db"
        (db / "new").mkdir(parents=True, exist_ok=True)
        (db / "index.txt").write_text("")
        (db / "serial").write_text("1000\n")
        (self.d / "ca.cnf").write_text(
            "[ca]\ndefault_ca=d\n[d]\ndatabase=db/index.txt\nnew_certs_dir=db/new\n"
            "serial=db/serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\n"
            "x509_extensions=x\n[p]\ncommonName=supplied\n[x]\nextendedKeyUsage=clientAuth\n")
        _run(["openssl", "req", "-new", "-nodes", "-subj", f"/CN={cn}", *self._key_args("ec"),
              "-keyout", f"{name}.key", "-out", f"{name}.csr"], self.d)
        _run(["openssl", "ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile",
              "ca.key", "-startdate", "20200101000000Z", "-enddate", "20200201000000Z",
              "-in", f"{name}.csr", "-out", f"{name}.pem", "-notext"], self.d)


def pki():
    global _PKI
    if _PKI is None:
        _PKI = PKI(tempfile.mkdtemp(prefix="strata-pki-"))
    return _PKI


def cert_entry(p, name, names=None):
    extra = ""
    if names:
        extra = " names = [ " + ", ".join('"' + n + '"' for n in names) + " ];"
    return f'{{ cert = "{p.path(name + ".pem")}"; key = "{p.path(name + ".key")}";{extra} }}'


def tls_listener(port, certs, tls_extra="", http2="", proxy="off", name="tls",
                 trusted='[ "127.0.0.0/8" ]'):
    trust = f"trusted = {trusted};" if proxy != "off" else ""
    return (f'{{ name = "{name}"; listen = [ "127.0.0.1:{port}" ]; proxy_protocol = "{proxy}"; '
            f'{trust} tls = {{ certificates = ( {", ".join(certs)} ); {tls_extra} }}; '
            f'{http2} }}')


def l7_tls_conf(workdir, listeners, backend_port, top_extra="", name="l7"):
    wd = pathlib.Path(workdir)
    return f"""
node_name = "{name}";
workers = 1;
log_level = "info";
admin = {{ socket = "{wd / (name + '.sock')}"; }};
access_log = {{ enabled = true; path = "{wd / (name + '-access.log')}"; }};
{top_extra}
listeners = ( {", ".join(listeners)} );
upstreams = ( {{ name = "echo"; servers = ( {{ name = "be"; address = "127.0.0.1:{backend_port}"; }} );
                health = {{ enabled = false; }}; }} );
routes = ( {{ name = "all"; upstream = "echo"; max_body = "8m"; }} );
"""


def start_tls_l7(daemons, workdir, tls_extra="", http2="", certs=None, proxy="off",
                 top_extra="", more_listeners=()):
    """strata-echo + strata-l7 with one TLS listener; returns (l7, echo)."""
    p = pki()
    be = start_echo(daemons)
    port = free_port()
    certs = certs or [cert_entry(p, "ec-local"), cert_entry(p, "rsa-local")]
    lst = [tls_listener(port, certs, tls_extra, http2, proxy)] + list(more_listeners)
    l7 = start_l7(daemons, workdir, l7_tls_conf(workdir, lst, be.port, top_extra), port)
    return l7, be


def s_client(port, *args, data=b"", timeout=10, servername="localhost"):
    """openssl s_client output (stdout + stderr) for one connection."""
    argv = ["openssl", "s_client", "-connect", f"{HOST}:{port}", "-CAfile", pki().ca]
    if servername:
        argv += ["-servername", servername]
    r = subprocess.run(argv + list(args), input=data, capture_output=True, timeout=timeout)
    return r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


def curl(port, path="/", *args, host="localhost", timeout=20):
    """curl over https://host:port with the test CA; returns CompletedProcess."""
    argv = ["curl", "-sS", "--max-time", str(timeout), "--cacert", pki().ca, "--resolve",
            f"{host}:{port}:{HOST}", *args, f"https://{host}:{port}{path}"]
    return subprocess.run(argv, capture_output=True, timeout=timeout + 5)


def client_ctx(alpn=("h2",), cert=None):
    ctx = ssl.create_default_context(cafile=pki().ca)
    ctx.set_alpn_protocols(list(alpn))
    if cert:
        ctx.load_cert_chain(pki().path(cert + ".pem"), pki().path(cert + ".key"))
    return ctx


# --- a raw HTTP/2 client -----------------------------------------------------------

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH, PING, GOAWAY, WINDOW_UPDATE, CONT = range(10)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
NO_ERROR, PROTOCOL_ERROR, FLOW_CONTROL_ERROR = 0x0, 0x1, 0x3
REFUSED_STREAM, CANCEL, ENHANCE_YOUR_CALM = 0x7, 0x8, 0xB
STATIC_STATUS = {8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500}


def _hpack_int(v, prefix, first=0):
    top = (1 << prefix) - 1
    if v < top:
        return bytes([first | v])
    out = [first | top]
    v -= top
    while v >= 128:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def hpack(headers):
    """Literal fields without indexing, new names, no Huffman (RFC 7541
    §6.2.2): every decoder takes them, and they never touch its table."""
    out = b""
    for k, v in headers:
        k, v = k.encode(), v.encode() if isinstance(v, str) else v
        out += b"\x00" + _hpack_int(len(k), 7) + k + _hpack_int(len(v), 7) + v
    return out


def request(method="GET", path="/", authority="localhost", extra=()):
    return [(":method", method), (":scheme", "https"), (":authority", authority),
            (":path", path)] + list(extra)


def status_of(block):
    """The :status of a response header block from nghttp2, which writes it
    first: an indexed static entry, or a literal with name index 8."""
    b = block[0]
    if b & 0x80:
        return STATIC_STATUS.get(b & 0x7F)
    idx = b & (0x3F if b & 0x40 else 0x0F)
    if idx != 8:
        return None
    n = block[1] & 0x7F
    assert not block[1] & 0x80, "Huffman-coded status"
    return int(block[2:2 + n])


class H2:
    """One HTTP/2 connection speaking raw frames, over TLS (ALPN h2) or
    cleartext (h2c prior knowledge)."""

    def __init__(self, port, tls=True, settings=(), ctx=None, preamble=b"", timeout=5.0):
        s = socket.create_connection((HOST, port), timeout=timeout)
        if preamble:
            s.sendall(preamble)
        if tls:
            s = (ctx or client_ctx()).wrap_socket(s, server_hostname="localhost")
            assert s.selected_alpn_protocol() == "h2"
        self.s, self.buf = s, b""
        self.s.sendall(PREFACE + self.frame(SETTINGS, 0, 0, b"".join(
            struct.pack("!HI", k, v) for k, v in settings)))

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    @staticmethod
    def frame(ftype, flags, sid, payload=b""):
        return struct.pack("!I", len(payload))[1:] + bytes([ftype, flags]) + \
            struct.pack("!I", sid) + payload

    def send(self, ftype, flags, sid, payload=b""):
        self.s.sendall(self.frame(ftype, flags, sid, payload))

    def headers(self, sid, hdrs, end_stream=True, end_headers=True):
        flags = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
        self.send(HEADERS, flags, sid, hpack(hdrs))

    def data(self, sid, payload, end_stream=False):
        self.send(DATA, END_STREAM if end_stream else 0, sid, payload)

    def rst(self, sid, code=CANCEL):
        self.send(RST_STREAM, 0, sid, struct.pack("!I", code))

    def window_update(self, sid, n):
        self.send(WINDOW_UPDATE, 0, sid, struct.pack("!I", n))

    def read_frame(self, timeout=5.0):
        """(type, flags, stream id, payload), or None at EOF. SETTINGS are
        acknowledged as they come."""
        self.s.settimeout(timeout)
        while True:
            if len(self.buf) >= 9:
                n = struct.unpack("!I", b"\0" + self.buf[:3])[0]
                if len(self.buf) >= 9 + n:
                    t, f = self.buf[3], self.buf[4]
                    sid = struct.unpack("!I", self.buf[5:9])[0] & 0x7FFFFFFF
                    p, self.buf = self.buf[9:9 + n], self.buf[9 + n:]
                    if t == SETTINGS and not f & ACK:
                        self.send(SETTINGS, ACK, 0)
                    return t, f, sid, p
            try:
                d = self.s.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                d = b""
            if not d:
                return None
            self.buf += d

    def frames_until(self, pred, timeout=10.0):
        """Frames read until pred(frame) is true (that frame included) or EOF."""
        out, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            fr = self.read_frame(max(0.1, deadline - time.monotonic()))
            if fr is None:
                return out
            out.append(fr)
            if pred(fr):
                return out
        raise AssertionError(f"no matching frame after {timeout}s: {[f[:3] for f in out]}")

    def goaway(self, timeout=10.0):
        """(last stream id, error code) of the next GOAWAY, or None at EOF."""
        frs = self.frames_until(lambda f: f[0] == GOAWAY, timeout)
        if not frs or frs[-1][0] != GOAWAY:
            return None
        last, code = struct.unpack("!II", frs[-1][3][:8])
        return last & 0x7FFFFFFF, code

    def response(self, sid, timeout=10.0):
        """(status, body bytes, frames) of stream sid, read to its end."""
        status, body, frames = None, b"", []
        for f in self.frames_until(
                lambda f: f[2] == sid and (f[1] & END_STREAM and f[0] in (DATA, HEADERS)
                                           or f[0] == RST_STREAM), timeout):
            frames.append(f)
            if f[2] == sid and f[0] == HEADERS and status is None:
                status = status_of(f[3])
            elif f[2] == sid and f[0] == DATA:
                body += f[3]
        return status, body, frames


def at_eof(sock, timeout=5.0):
    sock.settimeout(timeout)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, ssl.SSLError, ssl.SSLEOFError):
        return True
    except socket.timeout:
        return False


def wait_until(pred, timeout=5.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"{what} not met after {timeout}s")

