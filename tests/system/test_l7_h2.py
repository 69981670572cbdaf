"""strata-l7 HTTP/2 end to end: nghttp, h2load and curl as clients, and
raw frames for what those tools cannot provoke: the concurrent streams
limit, rapid reset, CONTINUATION floods, oversized header lists, flow
control both ways, GOAWAY on reload, h2c prior knowledge."""
import json
import signal
import struct
import subprocess
import zlib

from l7tls import (CONT, DATA, END_STREAM, ENHANCE_YOUR_CALM, FLOW_CONTROL_ERROR, GOAWAY,
                   H2, HEADERS, NO_ERROR, PROTOCOL_ERROR, REFUSED_STREAM, RST_STREAM,
                   WINDOW_UPDATE, curl, hpack, pki, request, start_tls_l7, wait_until)
from l7util import HOST


def test_nghttp_fetches_and_requests_cross_as_http11(daemons, workdir):
    l7, be = start_tls_l7(daemons, workdir)
    r = subprocess.run(["nghttp", "-v", "--no-dep", "-H", "cookie: a=1", "-H", "cookie: b=2",
                        f"https://localhost:{l7.port}/n?x=1"], capture_output=True, text=True,
                       timeout=20, env={"SSL_CERT_FILE": pki().ca, "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "recv (stream_id=1) :status: 200" in r.stdout
    body = json.loads(r.stdout[r.stdout.index('{"server"'):].split("\n")[0])
    # one HTTP/1.1 keep-alive request upstream, the crumbs joined (RFC 9113 §8.2.3)
    assert body["version"] == "HTTP/1.1" and body["path"] == "/n?x=1"
    hdr = {k.lower(): v for k, v in body["headers"]}
    assert hdr["cookie"] == "a=1; b=2" and hdr["host"] == f"localhost:{l7.port}"
    assert hdr["x-forwarded-proto"] == "https"
    # the stream is gone by the time the line is written: the view was kept
    line = l7.access_lines()[0]
    assert (line["proto"], line["method"], line["path"], line["host"]) == (
        "h2", "GET", "/n?x=1", f"localhost:{l7.port}")


def test_curl_multiplexes_requests_and_bodies_both_ways(daemons, workdir):
    l7, _ = start_tls_l7(daemons, workdir)
    up = bytes(range(256)) * 4000  # 1 MB upload
    (workdir / "up.bin").write_bytes(up)
    r = curl(l7.port, "/up", "--http2", "--data-binary", f"@{workdir / 'up.bin'}")
    j = json.loads(r.stdout)
    assert (j["body_bytes"], j["body_crc"]) == (len(up), zlib.crc32(up))
    # no length said: the upstream request is chunked
    r = subprocess.run(f"cat {workdir / 'up.bin'} | curl -sS --http2 --cacert {pki().ca} "
                       f"--resolve localhost:{l7.port}:{HOST} -T - "
                       f"https://localhost:{l7.port}/chunked", shell=True, capture_output=True,
                       timeout=20)
    j = json.loads(r.stdout)
    assert (j["body_bytes"], j["body_crc"]) == (len(up), zlib.crc32(up))
    assert ["Transfer-Encoding", "chunked"] in j["headers"]
    # large and chunked responses, several streams on one connection
    urls = [f"https://localhost:{l7.port}/size/3000000",
            f"https://localhost:{l7.port}/size/2000000?chunked=1"]
    r = subprocess.run(["curl", "-sS", "--http2", "--cacert", pki().ca, "--resolve",
                        f"localhost:{l7.port}:{HOST}", "-w", "%{num_connects}\n",
                        "-o", str(workdir / "a"), urls[0], "-o", str(workdir / "b"), urls[1]],
                       capture_output=True, text=True, timeout=30)
    want = lambda n: (b"abcdefghijklmnopqrstuvwxyz" * (n // 26 + 1))[:n]
    assert (workdir / "a").read_bytes() == want(3000000)
    assert (workdir / "b").read_bytes() == want(2000000)
    assert r.stdout.split() == ["1", "0"]  # the second rode the first's connection


def test_h2load_bounded_run_has_no_failures(daemons, workdir):
    l7, _ = start_tls_l7(daemons, workdir, http2="http2 = { max_concurrent_streams = 50; };")
    r = subprocess.run(["h2load", "-n", "3000", "-c", "4", "-m", "20", "-t", "1",
                        f"https://127.0.0.1:{l7.port}/"], capture_output=True, text=True,
                       timeout=60)
    assert "3000 succeeded, 0 failed, 0 errored, 0 timeout" in r.stdout, r.stdout
    assert "status codes: 3000 2xx" in r.stdout
    assert l7.metric("strata_l7_h2_streams_total") == 3000
    assert l7.metric("strata_l7_h2_connections_total") == 4


def test_concurrent_streams_past_the_limit_are_refused(daemons, workdir):
    l7, _ = start_tls_l7(daemons, workdir, http2="http2 = { max_concurrent_streams = 2; };")
    h = H2(l7.port)
    for sid in (1, 3, 5):
        h.headers(sid, request(path="/delay/300"))
    frames = h.frames_until(lambda f: f[0] == RST_STREAM)
    rst = frames[-1]
    # RFC 9113 §5.1.2: a stream error, the client may retry (§8.7)
    assert rst[2] == 5 and struct.unpack("!I", rst[3])[0] == REFUSED_STREAM
    assert h.response(1)[0] == 200 and h.response(3)[0] == 200
    h.headers(7, request(path="/after"))  # the connection goes on
    assert h.response(7)[0] == 200
    h.close()
    wait_until(lambda: l7.metric("strata_l7_h2_stream_events_total", event="refused") == 1,
               what="refused stream counted")


def test_rapid_reset_ends_the_connection(daemons, workdir):
    l7, _ = start_tls_l7(daemons, workdir, http2='http2 = { reset_limit = 20; };')
    h = H2(l7.port)
    burst = b""
    for i in range(40):  # CVE-2023-44487: open and cancel, endlessly
        burst += h.frame(HEADERS, END_STREAM | 0x4, 1 + 2 * i, hpack(request(path="/delay/1000")))
        burst += h.frame(RST_STREAM, 0, 1 + 2 * i, struct.pack("!I", 8))
    h.s.sendall(burst)  # one write: the connection may be gone after it
    last, code = h.goaway()
    assert code == ENHANCE_YOUR_CALM
    h.close()
    wait_until(lambda: l7.metric("strata_l7_h2_errors_total", reason="rapid_reset") == 1,
               what="rapid_reset counted")
    l7.d.wait_log("h2 rapid_reset")
    assert l7.metric("strata_l7_terminations_total", reason="h2") >= 1


def test_continuation_flood_ends_the_connection(daemons, workdir):
    l7, _ = start_tls_l7(daemons, workdir)
    h = H2(l7.port)
    burst = h.frame(HEADERS, END_STREAM, 1, hpack(request()))
    for i in range(40):  # CVE-2024-28182: a header block that never ends
        burst += h.frame(CONT, 0, 1, hpack([(f"x-{i}", "y")]))
    h.s.sendall(burst)
    assert h.goaway()[1] == ENHANCE_YOUR_CALM
    h.close()
    wait_until(lambda: l7.metric("strata_l7_h2_errors_total", reason="continuation_flood") == 1,
               what="continuation_flood counted")


def test_oversized_header_list_is_431_and_the_connection_lives(daemons, workdir):
    l7, _ = start_tls_l7(daemons, workdir, http2='http2 = { max_header_list = "4k"; };')
    h = H2(l7.port)
    h.headers(1, request(extra=[("x-big", "a" * 6000)]))
    status, body, _ = h.response(1)
    assert status == 431
    h.headers(3, request(path="/small"))
    assert h.response(3)[0] == 200
    h.close()
    wait_until(lambda: l7.metric("strata_l7_h2_stream_events_total", event="too_large") == 1,
               what="431 counted")


def test_a_body_past_the_window_is_a_flow_control_error(daemons, workdir):
    l7, _ = start_tls_l7(daemons, workdir, http2="http2 = { initial_window = 16384; };")
    h = H2(l7.port)
    # our SETTINGS must be acknowledged before the smaller window binds
    h.frames_until(lambda f: f[0] == 4 and f[1] & 1)
    h.headers(1, request("POST", "/up", extra=[("content-length", "40000")]), end_stream=False)
    for _ in range(3):  # 39000 bytes at once: the window was 16384
        h.data(1, b"x" * 13000)
    f = h.frames_until(lambda f: f[0] in (RST_STREAM, GOAWAY))[-1]
    # RFC 9113 §6.9.1: a stream (or connection) error FLOW_CONTROL_ERROR
    code = struct.unpack("!I", f[3][:4] if f[0] == RST_STREAM else f[3][4:8])[0]
    assert code == FLOW_CONTROL_ERROR and (f[0] == GOAWAY or f[2] == 1)
    if f[0] == RST_STREAM:  # only the stream died
        h.headers(3, request(path="/next"))
        assert h.response(3)[0] == 200
    h.close()


def test_responses_respect_the_clients_window(daemons, workdir):
    l7, _ = start_tls_l7(daemons, workdir)
    # SETTINGS_INITIAL_WINDOW_SIZE 1000 (RFC 9113 §6.5.2), connection window 65535
    h = H2(l7.port, settings=[(4, 1000)])
    h.headers(1, request(path="/size/100000"))
    got = 0
    while got < 1000:
        f = h.read_frame(timeout=5.0)
        assert f is not None, "connection closed"
        if f[0] == DATA and f[2] == 1:
            got += len(f[3])
    # nothing beyond the stream window until we open it
    try:
        f = h.read_frame(timeout=0.5)
        assert not (f and f[0] == DATA and f[2] == 1), "DATA past the window"
    except OSError:
        pass  # the read timed out: nothing came
    assert got == 1000
    h.window_update(1, 200000)
    h.window_update(0, 200000)
    status, body, _ = h.response(1)
    assert got + len(body) == 100000
    h.close()


def test_zero_window_stall_resets_the_stream(daemons, workdir):
    l7, _ = start_tls_l7(daemons, workdir, http2='http2 = { stall_timeout = "300ms"; };')
    h = H2(l7.port, settings=[(4, 0)])  # a window of zero: nothing may be sent
    h.headers(1, request(path="/size/10000"))
    frames = h.frames_until(lambda f: f[0] == RST_STREAM and f[2] == 1, timeout=5)
    assert struct.unpack("!I", frames[-1][3])[0] == 8  # CANCEL
    h.close()
    wait_until(lambda: l7.metric("strata_l7_h2_stream_events_total", event="stalled") == 1,
               what="stall counted")


def test_malformed_frames_get_a_protocol_error(daemons, workdir):
    l7, _ = start_tls_l7(daemons, workdir)
    h = H2(l7.port)
    h.send(WINDOW_UPDATE, 0, 0, b"\x00\x00")  # RFC 9113 §6.9: 4 bytes, else FRAME_SIZE
    assert h.goaway()[1] != NO_ERROR
    h.close()
    h = H2(l7.port)
    h.send(DATA, 0, 0, b"x")  # DATA on stream 0
    assert h.goaway()[1] == PROTOCOL_ERROR
    h.close()
    wait_until(lambda: l7.metric("strata_l7_h2_errors_total", reason="protocol") >= 2,
               what="protocol errors counted")
    # and the daemon serves on
    h = H2(l7.port)
    h.headers(1, request())
    assert h.response(1)[0] == 200
    h.close()


def test_reload_sends_goaway_and_streams_in_flight_complete(daemons, workdir):
    l7, _ = start_tls_l7(daemons, workdir, http2='http2 = { shutdown_grace = "200ms"; };')
    h = H2(l7.port)
    h.headers(1, request(path="/delay/600"))
    h.frames_until(lambda f: f[0] == 4 and f[1] & 1)  # our SETTINGS acknowledged
    l7.ctl("reload")
    first = h.goaway()
    assert first == (0x7FFFFFFF, NO_ERROR)  # RFC 9113 §6.8: in flight is not lost
    status, _, frames = h.response(1)
    assert status == 200
    assert any(f[0] == GOAWAY for f in frames) or h.goaway() is not None
    h.close()


def test_sigterm_drains_h2_connections_gracefully(daemons, workdir):
    l7, _ = start_tls_l7(daemons, workdir, http2='http2 = { shutdown_grace = "100ms"; };')
    h = H2(l7.port)
    h.headers(1, request(path="/delay/400"))
    h.frames_until(lambda f: f[0] == 4 and f[1] & 1)
    l7.d.send(signal.SIGTERM)
    assert h.goaway()[0] == 0x7FFFFFFF
    assert h.response(1)[0] == 200
    assert l7.d.proc.wait(10) == 0
    h.close()


def test_h2c_prior_knowledge_on_a_plaintext_listener(daemons, workdir):
    from conftest import free_port
    from l7tls import l7_tls_conf, cert_entry
    from l7util import start_echo, start_l7
    be = start_echo(daemons)
    p1, p2 = free_port(), free_port()
    lst = [f'{{ name = "h2c"; listen = [ "127.0.0.1:{p1}" ]; proxy_protocol = "off"; '
           f'http2 = {{ h2c = true; }}; }}',
           f'{{ name = "h1"; listen = [ "127.0.0.1:{p2}" ]; proxy_protocol = "off"; }}']
    l7 = start_l7(daemons, workdir, l7_tls_conf(workdir, lst, be.port), p1)
    r = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-w", "\n%{http_version}",
                        f"http://127.0.0.1:{p1}/h2c"], capture_output=True, text=True,
                       timeout=20)
    body, version = r.stdout.rsplit("\n", 1)
    assert version == "2" and json.loads(body)["path"] == "/h2c"
    assert ["X-Forwarded-Proto", "http"] in json.loads(body)["headers"]
    # HTTP/1.1 still works on the same listener
    r = subprocess.run(["curl", "-sS", f"http://127.0.0.1:{p1}/h1"], capture_output=True,
                       text=True, timeout=20)
    assert json.loads(r.stdout)["path"] == "/h1"
    # without h2c the preface is just a bad HTTP/1 request
    h = H2(p2, tls=False)
    assert h.s.recv(100).startswith(b"HTTP/1.1 505")  # "HTTP/2.0": RFC 9112 §2.3
    h.close()
    r = subprocess.run(["h2load", "-n", "500", "-c", "2", "-m", "10", f"http://127.0.0.1:{p1}/"],
                       capture_output=True, text=True, timeout=30)
    assert "500 succeeded, 0 failed" in r.stdout, r.stdout
