"""strata-echo, the test backend: a real process on an ephemeral port,
driven with hand-written HTTP/1.x, WebSocket frames, curl, wrk and h2load."""
import base64
import hashlib
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import threading
import time
import zlib

import pytest

import l7util
from conftest import binary, free_port, wait_tcp

HOST = "127.0.0.1"
NAME = "echo-test"
PATTERN = b"abcdefghijklmnopqrstuvwxyz"


def pattern(n):
    """The /size/N body: byte i is 'a' + i % 26."""
    return (PATTERN * (n // 26 + 1))[:n]


class Client(l7util.Client):
    """The L7 tests' HTTP/1.x client, with strata-echo's own Host."""

    def request(self, method="GET", path="/", headers=(), body=None, version="HTTP/1.1",
                host="echo"):
        return super().request(method, path, headers, body, version, host)


def build(method="GET", path="/", headers=(), body=None, version="HTTP/1.1"):
    return l7util.build(method, path, headers, body, version, host="echo")


def start_echo(daemons, *extra, name=NAME):
    port = free_port()
    argv = [binary("strata-echo"), "-l", f"{HOST}:{port}"]
    if name:
        argv += ["-n", name]
    d = daemons(argv + list(extra), name="strata-echo")
    wait_tcp(HOST, port, proc=d.proc)
    d.port = port
    return d


@pytest.fixture
def echo(daemons):
    return start_echo(daemons)


def stats(port):
    c = Client(port)
    try:
        return c.request(path="/stats").json()
    finally:
        c.close()


# --- the JSON echo --------------------------------------------------------------


def test_json_names_server_method_path_version_peer_and_headers_in_order(echo):
    c = Client(echo.port)
    sent = [
        ("X-Forwarded-For", "1.2.3.4"),
        ("x-lower-case", "kept as sent"),
        ("X-Quote", 'a "quoted" \\ value'),
        ("X-Tab", "a\tb"),
        ("X-Utf8", "caf\u00e9".encode().decode("latin-1")),
        ("X-Empty", ""),
        ("X-Forwarded-For", "5.6.7.8"),
    ]
    r = c.request("PATCH", "/x/y?z=1&w", sent)
    assert r.status == 200
    assert r.header("content-type") == "application/json"
    j = r.json()
    assert j["server"] == NAME
    assert j["method"] == "PATCH"
    assert j["path"] == "/x/y?z=1&w"
    assert j["version"] == "HTTP/1.1"
    assert j["conn"]["requests"] == 1
    assert j["conn"]["peer"] == "%s:%d" % c.sock.getsockname()
    assert isinstance(j["conn"]["id"], int) and j["conn"]["id"] > 0
    expected = [["Host", "echo"]] + [[k, v] for k, v in sent]
    expected[5][1] = "caf\u00e9"  # UTF-8 on the wire comes back as the character
    assert j["headers"] == expected
    assert j["body_bytes"] == 0
    c.close()


def test_header_bytes_that_are_not_utf8_still_give_valid_json(echo):
    c = Client(echo.port)
    c.send(b"GET / HTTP/1.1\r\nHost: e\r\nX-Latin1: caf\xe9\r\n\r\n")
    r = c.response()
    j = r.json()  # raises if the body is not valid JSON
    assert j["headers"][1][0] == "X-Latin1"
    assert j["headers"][1][1].startswith("caf")
    c.close()


def test_name_defaults_to_the_bound_listen_address(daemons):
    d = start_echo(daemons, name=None)
    assert stats(d.port)["server"] == f"{HOST}:{d.port}"
    d.wait_log(f"listening on {HOST}:{d.port}")


def test_several_listen_addresses_serve_the_same_backend(daemons):
    port2 = free_port()
    d = start_echo(daemons, "-l", f"{HOST}:{port2}", "-w", "3")
    wait_tcp(HOST, port2, proc=d.proc)
    for port in (d.port, port2):
        c = Client(port)
        assert c.request(path="/two").json()["server"] == NAME
        c.close()
    d.wait_log(f"listening on {HOST}:{d.port}, {HOST}:{port2}")


def test_head_request_has_length_but_no_body(echo):
    c = Client(echo.port)
    r = c.request("HEAD", "/size/1000")
    assert r.status == 200
    assert r.header("content-length") == "1000"
    r = c.request("GET", "/after-head")  # the connection is still in sync
    assert r.json()["path"] == "/after-head"
    assert r.json()["conn"]["requests"] == 2
    c.close()


# --- connection reuse and pipelining ------------------------------------------------


def test_keep_alive_counts_requests_on_one_connection(echo):
    c = Client(echo.port)
    a = c.request(path="/one").json()
    b = c.request(path="/two").json()
    assert (a["conn"]["requests"], b["conn"]["requests"]) == (1, 2)
    assert a["conn"]["id"] == b["conn"]["id"]
    assert a["conn"]["peer"] == b["conn"]["peer"]
    c.close()
    other = Client(echo.port)
    j = other.request(path="/three").json()
    assert j["conn"]["requests"] == 1
    assert j["conn"]["id"] != a["conn"]["id"]
    other.close()


def test_pipelined_requests_are_answered_in_order(echo):
    c = Client(echo.port)
    c.send(build(path="/p1") + build(path="/p2") + build(path="/p3"))
    paths = [c.response().json() for _ in range(3)]
    assert [p["path"] for p in paths] == ["/p1", "/p2", "/p3"]
    assert [p["conn"]["requests"] for p in paths] == [1, 2, 3]
    c.close()


def test_pipelined_responses_keep_order_behind_a_slow_one(echo):
    c = Client(echo.port)
    c.send(build(path="/delay/300") + build(path="/size/5") + build(path="/fast"))
    t0 = time.monotonic()
    r1 = c.response()
    assert time.monotonic() - t0 >= 0.28
    assert r1.json()["path"] == "/delay/300"
    assert c.response().body == b"abcde"
    assert c.response().json()["path"] == "/fast"
    c.close()


def test_request_sent_one_byte_at_a_time(echo):
    c = Client(echo.port)
    body = b"0123456789"
    raw = build("POST", "/slow", [("X-A", "b")], None)[:-2]
    raw += b"Transfer-Encoding: chunked\r\n\r\n4;ext=1\r\n0123\r\n6\r\n456789\r\n0\r\nX-T: 1\r\n\r\n"
    for i in range(len(raw)):
        c.send(raw[i : i + 1])
        time.sleep(0.001)
    j = c.response().json()
    assert j["path"] == "/slow"
    assert j["body_bytes"] == len(body)
    assert j["body_crc"] == zlib.crc32(body)
    c.close()


def test_http10_closes_after_the_response_unless_keep_alive(echo):
    c = Client(echo.port)
    r = c.request(path="/old", version="HTTP/1.0")
    assert r.json()["version"] == "HTTP/1.0"
    assert r.header("connection") == "close"
    assert c.at_eof()
    c.close()
    c = Client(echo.port)
    r = c.request(path="/ka", headers=[("Connection", "keep-alive")], version="HTTP/1.0")
    assert r.header("connection") == "keep-alive"
    r = c.request(path="/ka2", headers=[("Connection", "keep-alive")], version="HTTP/1.0")
    assert r.json()["conn"]["requests"] == 2
    c.close()


def test_connection_close_is_honoured(echo):
    c = Client(echo.port)
    r = c.request(path="/bye", headers=[("Connection", "close")])
    assert r.status == 200
    assert r.header("connection") == "close"
    assert c.at_eof()
    c.close()


# --- bodies -----------------------------------------------------------------------


def test_content_length_body_is_counted_and_checksummed(echo):
    body = os.urandom(300000)
    c = Client(echo.port)
    j = c.request("POST", "/upload", [("Content-Type", "application/octet-stream")], body).json()
    assert j["body_bytes"] == len(body)
    assert j["body_crc"] == zlib.crc32(body)
    assert j["path"] == "/upload"
    c.close()


def test_chunked_post_body_checksum(echo):
    rnd = random.Random(7)
    parts = [os.urandom(rnd.randint(1, 70000)) for _ in range(20)]
    body = b"".join(parts)
    raw = b"POST /chunky HTTP/1.1\r\nHost: e\r\nTransfer-Encoding: chunked\r\n\r\n"
    for i, p in enumerate(parts):
        ext = b";name=value" if i % 3 == 0 else b""
        raw += b"%X%s\r\n%s\r\n" % (len(p), ext, p)
    raw += b"0\r\nX-Trailer: yes\r\n\r\n"
    c = Client(echo.port)
    c.send(raw + build(path="/next"))
    j = c.response().json()
    assert j["body_bytes"] == len(body)
    assert j["body_crc"] == zlib.crc32(body)
    assert c.response().json()["path"] == "/next"
    c.close()


def test_echo_body_returns_a_content_length_body_with_its_type(echo):
    body = os.urandom(1 << 20)
    c = Client(echo.port)
    r = c.request("PUT", "/echo-body", [("Content-Type", "image/x-test")], body)
    assert r.status == 200
    assert r.header("content-type") == "image/x-test"
    assert r.header("content-length") == str(len(body))
    assert r.body == body
    assert c.request(path="/after").json()["conn"]["requests"] == 2
    c.close()


def test_echo_body_returns_a_chunked_body_chunked(echo):
    parts = [b"hello ", b"chunked ", os.urandom(100000)]
    raw = b"POST /echo-body HTTP/1.1\r\nHost: e\r\nTransfer-Encoding: chunked\r\n\r\n"
    raw += b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    c = Client(echo.port)
    c.send(raw)
    r = c.response()
    assert r.header("transfer-encoding") == "chunked"
    assert r.header("content-type") == "application/octet-stream"
    assert r.body == b"".join(parts)
    c.close()


def test_expect_100_continue_is_answered_before_the_body(echo):
    c = Client(echo.port)
    c.send(b"POST /ex HTTP/1.1\r\nHost: e\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
    interim = c.response()
    assert interim.status == 100
    c.send(b"hello")
    j = c.response().json()
    assert j["body_bytes"] == 5
    assert j["body_crc"] == zlib.crc32(b"hello")
    c.close()


# --- special paths ------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 26, 1000, 65536, 300001])
def test_size_returns_exactly_n_pattern_bytes(echo, n):
    c = Client(echo.port)
    r = c.request(path=f"/size/{n}")
    assert r.status == 200
    assert r.header("content-length") == str(n)
    assert r.body == pattern(n)
    r = c.request(path=f"/size/{n}?chunked=1")
    assert r.header("transfer-encoding") == "chunked"
    assert r.header("content-length") is None
    assert r.body == pattern(n)
    c.close()


def test_size_64_mib_with_length_and_chunked(echo):
    n = 64 << 20
    c = Client(echo.port, timeout=30)
    r = c.request(path=f"/size/{n}")
    assert int(r.header("content-length")) == n
    assert len(r.body) == n and r.body == pattern(n)
    r = c.request(path=f"/size/{n}?chunked=1&other=x")
    assert len(r.body) == n and r.body == pattern(n)
    assert c.request(path="/after").json()["conn"]["requests"] == 3
    c.close()


def test_size_over_one_gib_is_refused(echo):
    c = Client(echo.port)
    r = c.request(path=f"/size/{(1 << 30) + 1}")
    assert r.status == 400
    assert c.at_eof()
    c.close()


def test_status_code_is_answered_with_a_small_json_body(echo):
    c = Client(echo.port)
    for code in (201, 404, 418, 503, 599):
        r = c.request(path=f"/status/{code}")
        assert r.status == code
        assert r.json() == {"server": NAME, "status": code}
    r = c.request(path="/status/204")
    assert r.status == 204 and r.header("content-length") is None
    r = c.request(path="/status/304")
    assert r.status == 304 and r.body == b"" and r.header("content-length") is None
    r = c.request(path="/status/200")  # still in sync after bodiless answers
    assert r.status == 200
    c.close()
    c = Client(echo.port)
    assert c.request(path="/status/99").status == 400
    c.close()


def test_slow_delay_does_not_hold_back_a_fast_request(echo):
    done = {}

    def slow():
        c = Client(echo.port)
        t0 = time.monotonic()
        done["slow_json"] = c.request(path="/delay/1500").json()
        done["slow"] = time.monotonic() - t0
        c.close()

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.2)
    c = Client(echo.port)
    t0 = time.monotonic()
    assert c.request(path="/fast").status == 200
    fast = time.monotonic() - t0
    c.close()
    t.join(10)
    assert fast < 0.5, fast
    assert done["slow"] >= 1.45
    assert done["slow_json"]["path"] == "/delay/1500"


def test_many_concurrent_delays_all_finish_on_time(echo):
    clients = [Client(echo.port) for _ in range(50)]
    t0 = time.monotonic()
    for i, c in enumerate(clients):
        c.send(build(path=f"/delay/{300 + (i % 5) * 50}"))
    for c in clients:
        assert c.response().status == 200
        c.close()
    assert time.monotonic() - t0 < 2.0


def test_close_answers_with_connection_close_then_closes(echo):
    c = Client(echo.port)
    r = c.request(path="/close")
    assert r.status == 200
    assert r.header("connection") == "close"
    assert r.json()["path"] == "/close"
    assert c.at_eof()
    c.close()


def test_stats_counts_connections_and_requests(echo):
    mon = Client(echo.port)
    deadline = time.monotonic() + 5
    # Wait until only this connection is open and the fixture's readiness
    # probe has been counted and gone (another worker may accept it late).
    while ((before := mon.request(path="/stats").json())["connections_active"] != 1
           or before["connections_total"] < 2):
        assert time.monotonic() < deadline, before
        time.sleep(0.02)
    idle = [Client(echo.port) for _ in range(3)]
    for c in idle:
        c.request(path="/warm")
    now = mon.request(path="/stats").json()
    assert now["server"] == NAME
    assert now["connections_total"] == before["connections_total"] + 3
    assert now["connections_active"] == 4
    assert now["requests_total"] == before["requests_total"] + 4
    for c in idle:
        c.close()
    while mon.request(path="/stats").json()["connections_active"] != 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    mon.close()


def test_healthz_says_ok(echo):
    c = Client(echo.port)
    r = c.request(path="/healthz")
    assert (r.status, r.body) == (200, b"ok\n")
    c.close()


# --- upgrades ---------------------------------------------------------------------


def ws_frame(opcode, payload, fin=True, mask=True):
    """A client frame (RFC 6455 §5.2), masked unless told otherwise."""
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        hdr = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return hdr + payload
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return hdr + key + masked


def ws_read(c):
    """A server frame: (fin, opcode, payload); servers never mask."""
    b0, b1 = c.read_exact(2)
    assert not b1 & 0x80, "server frames must not be masked"
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", c.read_exact(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", c.read_exact(8))
    return bool(b0 & 0x80), b0 & 0x0F, c.read_exact(n)


def ws_connect(port, key="dGhlIHNhbXBsZSBub25jZQ=="):
    c = Client(port)
    c.send(
        (
            "GET /chat HTTP/1.1\r\nHost: echo\r\nUpgrade: websocket\r\n"
            "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: %s\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n" % key
        ).encode()
    )
    return c, c.response()


def test_websocket_handshake_uses_the_rfc6455_accept_value(echo):
    c, r = ws_connect(echo.port)
    assert r.status == 101
    assert r.header("upgrade").lower() == "websocket"
    assert r.header("connection").lower() == "upgrade"
    # RFC 6455 §1.3 worked example.
    assert r.header("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    c.close()
    key = base64.b64encode(os.urandom(16)).decode()
    c, r = ws_connect(echo.port, key)
    guid = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    want = base64.b64encode(hashlib.sha1(key.encode() + guid).digest()).decode()
    assert r.header("sec-websocket-accept") == want
    c.close()


def test_websocket_echoes_text_binary_fragments_ping_and_close(echo):
    c, r = ws_connect(echo.port)
    assert r.status == 101
    c.send(ws_frame(0x1, "héllo".encode()))
    assert ws_read(c) == (True, 0x1, "héllo".encode())
    big = os.urandom(70000)  # 64-bit length form
    c.send(ws_frame(0x2, big))
    assert ws_read(c) == (True, 0x2, big)
    mid = os.urandom(300)  # 16-bit length form
    c.send(ws_frame(0x2, mid))
    assert ws_read(c) == (True, 0x2, mid)
    # A fragmented message with a ping between its fragments (§5.4).
    c.send(ws_frame(0x1, b"frag-1 ", fin=False) + ws_frame(0x9, b"are you there")
           + ws_frame(0x0, b"frag-2", fin=True))
    assert ws_read(c) == (False, 0x1, b"frag-1 ")
    assert ws_read(c) == (True, 0xA, b"are you there")
    assert ws_read(c) == (True, 0x0, b"frag-2")
    c.send(ws_frame(0xA, b"unsolicited pong is ignored") + ws_frame(0x9, b""))
    assert ws_read(c) == (True, 0xA, b"")
    c.send(ws_frame(0x8, struct.pack("!H", 1000) + b"bye"))
    fin, op, payload = ws_read(c)
    assert (fin, op) == (True, 0x8)
    assert struct.unpack("!H", payload[:2])[0] == 1000
    assert c.at_eof()
    c.close()


def test_websocket_frames_split_across_writes(echo):
    c, _ = ws_connect(echo.port)
    frame = ws_frame(0x1, b"split across many small writes")
    for i in range(len(frame)):
        c.send(frame[i : i + 1])
        time.sleep(0.001)
    assert ws_read(c) == (True, 0x1, b"split across many small writes")
    c.close()


@pytest.mark.parametrize(
    "frame,code",
    [
        (ws_frame(0x1, b"unmasked", mask=False), 1002),
        (bytes([0x81 | 0x40, 0x80, 0, 0, 0, 0]), 1002),  # RSV1 without extension
        (ws_frame(0x3, b"reserved opcode"), 1002),
        (ws_frame(0x9, b"x" * 126), 1002),  # control frame too long
        (ws_frame(0x0, b"continuation of nothing"), 1002),
        (bytes([0x82, 0xFF]) + struct.pack("!Q", 1 << 63) + b"\0\0\0\0", 1009),
    ],
    ids=["unmasked", "rsv1", "opcode", "long-ping", "bare-continuation", "huge-length"],
)
def test_websocket_protocol_errors_get_a_close_frame(echo, frame, code):
    c, _ = ws_connect(echo.port)
    c.send(frame)
    fin, op, payload = ws_read(c)
    assert op == 0x8
    assert struct.unpack("!H", payload)[0] == code
    assert c.at_eof()
    c.close()


def test_websocket_with_a_bad_key_or_version_is_refused(echo):
    c = Client(echo.port)
    r = c.request(headers=[("Upgrade", "websocket"), ("Connection", "Upgrade"),
                           ("Sec-WebSocket-Key", "short"), ("Sec-WebSocket-Version", "13")])
    assert r.status == 400
    c.close()
    c = Client(echo.port)
    r = c.request(headers=[("Upgrade", "websocket"), ("Connection", "Upgrade"),
                           ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                           ("Sec-WebSocket-Version", "8")])
    assert r.status == 426
    assert r.header("sec-websocket-version") == "13"
    c.close()


def test_other_upgrade_switches_to_a_raw_byte_echo(echo):
    c = Client(echo.port)
    c.send(b"GET /tunnel HTTP/1.1\r\nHost: e\r\nConnection: Upgrade\r\n"
           b"Upgrade: strata-test/1, other\r\n\r\nearly bytes;")
    r = c.response()
    assert r.status == 101
    assert r.header("upgrade") == "strata-test/1"
    assert c.read_exact(12) == b"early bytes;"
    blob = os.urandom(500000)
    threading.Thread(target=c.send, args=(blob,)).start()
    assert c.read_exact(len(blob)) == blob
    c.sock.shutdown(socket.SHUT_WR)
    assert c.at_eof()
    c.close()


def test_upgrade_without_connection_upgrade_is_a_normal_request(echo):
    c = Client(echo.port)
    r = c.request(headers=[("Upgrade", "websocket")])
    assert r.status == 200
    r = c.request(headers=[("Upgrade", "h2c"), ("Connection", "Upgrade, HTTP2-Settings"),
                           ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")])
    assert r.status == 200 and r.json()["conn"]["requests"] == 2
    c.close()


# --- bad input --------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,status",
    [
        (b"GET / HTTP/1.1\r\nHost: e\r\nNo colon here\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost : e\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: e\r\n folded\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nX-Nul: a\0b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nX-Cr: a\rb\r\n\r\n", 400),
        (b"GET  / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1 \r\n\r\n", 400),
        (b"GET / HTTX/1.1\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"G(T / HTTP/1.1\r\n\r\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),  # a TLS ClientHello
        (b"POST / HTTP/1.1\r\nContent-Length: 12a\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", 400),
        (b"GET / HTTP/1.1\r\nExpect: teapot\r\n\r\n", 417),
        (b"GET /delay/x HTTP/1.1\r\n\r\n", 400),
    ],
)
def test_malformed_request_gets_an_error_and_the_connection_closes(echo, raw, status):
    c = Client(echo.port)
    c.send(raw)
    r = c.response()
    assert r.status == status
    assert r.header("connection") == "close"
    assert r.json()["status"] == status and r.json()["error"]
    assert c.at_eof()
    c.close()


def test_pipelined_request_after_a_bad_one_is_not_answered(echo):
    c = Client(echo.port)
    c.send(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n" + build(path="/never"))
    assert c.response().status == 400
    assert c.at_eof()
    c.close()


def test_error_response_survives_the_rest_of_a_large_request(echo):
    """Lingering close: the 400 must reach the client even though it is still
    sending a body the server will never read (close() would reset)."""
    c = Client(echo.port)
    c.send(b"POST / HTTP/1.1\r\nHost: e\r\nBad Header\r\nContent-Length: 4000000\r\n\r\n")
    errors = []

    def send_body():
        try:
            c.sock.sendall(b"x" * 4000000)
        except OSError as e:
            errors.append(e)

    sender = threading.Thread(target=send_body)
    sender.start()
    r = c.response()
    assert r.status == 400
    sender.join(10)
    assert not sender.is_alive()
    assert errors == []  # drained, not reset, while we were still sending
    assert c.at_eof()
    c.close()


def test_close_with_pipelined_requests_behind_it_still_delivers_its_response(echo):
    c = Client(echo.port)
    c.send(build(path="/close") + b"".join(build(path=f"/after/{i}") for i in range(100)))
    r = c.response()
    assert r.status == 200 and r.json()["path"] == "/close"
    assert c.at_eof()
    c.close()


def test_oversized_header_section_gets_431(echo):
    c = Client(echo.port)
    c.send(b"GET / HTTP/1.1\r\nHost: e\r\n")
    try:
        for _ in range(20):
            c.send(b"X-Big: " + b"v" * 8000 + b"\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may answer and close before we finish
    r = c.response()
    assert r.status == 431
    assert c.at_eof()
    c.close()


def test_too_many_header_fields_get_431(echo):
    c = Client(echo.port)
    c.send(b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(600)) + b"\r\n")
    assert c.response().status == 431
    c.close()


def test_header_section_just_under_the_limit_is_accepted(echo):
    c = Client(echo.port)
    head = b"GET / HTTP/1.1\r\nHost: e\r\n"
    filler = 65536 - len(head) - len(b"X-Fill: \r\n\r\n") - 10
    r = c.request(headers=[("X-Fill", "f" * filler)])
    assert r.status == 200
    assert r.json()["headers"][1][1] == "f" * filler
    c.close()


def test_request_line_too_long_gets_414(echo):
    c = Client(echo.port)
    try:
        c.send(b"GET /" + b"a" * 70000)
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert c.response().status == 414
    c.close()


def test_random_garbage_never_takes_the_server_down(echo):
    rnd = random.Random(1234)
    valid = build("POST", "/fuzz", [("X-A", "b"), ("Transfer-Encoding", "chunked")], None)
    valid += b"5\r\nhello\r\n0\r\n\r\n"
    deadline = time.monotonic() + 20
    for i in range(150):
        assert time.monotonic() < deadline
        if i % 2:
            data = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 400)))
        else:
            data = bytearray(valid)
            for _ in range(rnd.randint(1, 6)):
                data[rnd.randrange(len(data))] = rnd.randrange(256)
            data = bytes(data)
        c = Client(echo.port, timeout=3)
        try:
            c.send(data)
            c.sock.shutdown(socket.SHUT_WR)
            out = c.read_to_eof()
            assert out == b"" or out.startswith(b"HTTP/1.1 ")
        except (ConnectionResetError, BrokenPipeError):
            pass
        finally:
            c.close()
    assert echo.alive()
    c = Client(echo.port)
    assert c.request(path="/healthz").body == b"ok\n"
    c.close()


def test_half_closed_client_still_gets_its_response(echo):
    c = Client(echo.port)
    c.send(build(path="/half") + build(path="/half2"))
    c.sock.shutdown(socket.SHUT_WR)
    assert c.response().json()["path"] == "/half"
    assert c.response().json()["path"] == "/half2"
    assert c.at_eof()
    c.close()


# --- third-party clients ------------------------------------------------------------


def test_curl_sees_the_json_echo_and_reuses_the_connection(echo):
    url = f"http://{HOST}:{echo.port}"
    out = subprocess.run(
        ["curl", "-sS", "--max-time", "10", "-H", "X-Curl: yes", f"{url}/a", f"{url}/b"],
        capture_output=True, text=True, timeout=20, check=True,
    ).stdout
    docs = [json.loads(line) for line in out.splitlines()]
    assert [d["path"] for d in docs] == ["/a", "/b"]
    assert [d["conn"]["requests"] for d in docs] == [1, 2]
    assert ["X-Curl", "yes"] in docs[0]["headers"]
    assert any(h[0] == "User-Agent" and h[1].startswith("curl/") for h in docs[0]["headers"])
    body = os.urandom(200000)
    out = subprocess.run(
        ["curl", "-sS", "--max-time", "10", "--data-binary", "@-", "-H",
         "Content-Type: application/x-test", f"{url}/echo-body"],
        input=body, capture_output=True, timeout=20, check=True,
    ).stdout
    assert out == body
    out = subprocess.run(
        ["curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
         f"{url}/size/1048576?chunked=1"],
        capture_output=True, text=True, timeout=20, check=True,
    ).stdout
    assert out == "200 1048576"


def test_wrk_two_seconds_fifty_connections_without_socket_errors(echo):
    out = subprocess.run(
        ["wrk", "-t2", "-c50", "-d2s", "--timeout", "5s", f"http://{HOST}:{echo.port}/"],
        capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    m = re.search(r"(\d+) requests in ([\d.]+)s", text)
    assert m, text
    assert int(m.group(1)) > 1000, text
    assert "Socket errors" not in text, text
    assert "Non-2xx" not in text, text
    assert re.search(r"Requests/sec:\s+[\d.]+", text), text


def test_h2load_http1_mode_completes_every_request(echo):
    out = subprocess.run(
        ["h2load", "--h1", "-n", "2000", "-c", "10", "-m", "4", f"http://{HOST}:{echo.port}/h2load"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                  r"(\d+) errored", out.stdout)
    assert m, out.stdout
    assert m.group(1) == m.group(2) == m.group(3) == "2000", out.stdout
    assert m.group(4) == m.group(5) == "0", out.stdout


# --- process ------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_closes_listeners_and_exits_zero(daemons, sig):
    d = start_echo(daemons)
    c = Client(d.port)
    c.request(path="/before-stop")
    assert d.stop(sig) == 0
    with pytest.raises(OSError):
        socket.create_connection((HOST, d.port), timeout=1).close()
    c.close()


@pytest.mark.parametrize(
    "argv",
    [[], ["-l", "nonsense"], ["-l", "127.0.0.1:99999"], ["-l", "127.0.0.1:1", "-w", "0"],
     ["-l", "[::1"], ["-l", "localhost:80"], ["-l", "127.0.0.1:1", "extra"], ["-q"]],
)
def test_bad_command_lines_exit_2(argv):
    out = subprocess.run([binary("strata-echo")] + argv, capture_output=True, text=True,
                         timeout=10)
    assert out.returncode == 2, out
    assert "strata-echo" in out.stderr


def test_address_in_use_fails_at_start(daemons):
    with socket.socket() as s:
        s.bind((HOST, 0))
        s.listen()
        port = s.getsockname()[1]
        out = subprocess.run([binary("strata-echo"), "-l", f"{HOST}:{port}"],
                             capture_output=True, text=True, timeout=10)
    assert out.returncode == 1
    assert "cannot listen" in out.stderr
