"""strata-l7 upstreams end to end: keep-alive pool reuse, retries when a
server dies, active health checks ejecting and returning a server, passive
ejection, the proxy's own 502/503/504, admin states, WebSocket tunnels."""
import signal
import socket
import threading
import time

from conftest import free_port
from l7util import (HOST, Client, echo_stats, get, l7_conf, start_echo, start_l7, simple_stack,
                    ws_frame, ws_read)


def steady_load(port, seconds, conns=8, path="/"):
    """Keep-alive requests from `conns` threads; returns (ok, failed)."""
    ok, failed = [0], [0]
    stop = time.monotonic() + seconds

    def run():
        try:
            c = Client(port)
        except OSError:
            failed[0] += 1
            return
        while time.monotonic() < stop:
            try:
                r = c.request(path=path)
                if r.status == 200:
                    ok[0] += 1
                else:
                    failed[0] += 1
            except (OSError, EOFError, ValueError):
                failed[0] += 1
                c.close()
                c = Client(port)
        c.close()

    ts = [threading.Thread(target=run) for _ in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return ok[0], failed[0]


def test_pool_reuse_under_steady_keep_alive_load(daemons, workdir):
    l7, (be,) = simple_stack(daemons, workdir)
    ok, failed = steady_load(l7.port, 2.0)
    assert failed == 0 and ok > 500
    s = echo_stats(be.port)
    # fewer than 1 upstream connection opened per 100 requests
    assert s["connections_total"] - 1 < ok / 100, s
    opened = l7.metric("strata_l7_upstream_pool_misses_total")
    hits = l7.metric("strata_l7_upstream_pool_hits_total")
    assert hits / (hits + opened) >= 0.99
    out = l7.ctl("show", "stats").stdout
    assert "upstream_reuse_ratio 0.99" in out or "upstream_reuse_ratio 1.0" in out, out


def test_new_client_connections_reuse_pooled_upstream_connections(daemons, workdir):
    l7, (be,) = simple_stack(daemons, workdir)
    before = echo_stats(be.port)["connections_total"]
    for i in range(50):
        assert get(l7.port, f"/{i}").status == 200
    # one pooled connection, and the second /stats call
    assert echo_stats(be.port)["connections_total"] - before == 2
    r = get(l7.port, "/last")
    assert r.json()["conn"]["requests"] == 51


def test_max_requests_per_upstream_connection(daemons, workdir):
    l7, (be,) = simple_stack(daemons, workdir,
                             upstream_extra='pool = { max_requests = 10; };')
    before = echo_stats(be.port)["connections_total"]
    with Client(l7.port) as c:
        seen = [c.request().json()["conn"]["requests"] for _ in range(25)]
    assert max(seen) == 10
    assert echo_stats(be.port)["connections_total"] - before == 3 + 1


def test_stale_pooled_connection_is_retried_transparently(daemons, workdir):
    # strata-echo's /close closes after answering: the next request through
    # the pooled connection must still succeed
    l7, (be,) = simple_stack(daemons, workdir)
    with Client(l7.port) as c:
        for _ in range(20):
            assert c.request().status == 200
            assert c.request(path="/close").status == 200
            # a small body at hand is kept, so a POST is replayed too
            r = c.request("POST", "/p", body=b"x" * 3000)
            assert r.status == 200 and r.json()["body_bytes"] == 3000
            assert c.request(path="/close").status == 200
    assert l7.metric("strata_l7_upstream_failures_total") == 0


def test_upstream_killed_mid_test_retries_succeed(daemons, workdir):
    l7, bes = simple_stack(daemons, workdir, n_backends=3, upstream_extra=(
        'balance = "round_robin"; retry = { on = [ "connect_error", "502" ]; tries = 3; }; '
        'health = { enabled = false; }; passive = { failures = 0; };'))
    res = {}

    def load():
        res["v"] = steady_load(l7.port, 2.5, conns=6)

    t = threading.Thread(target=load)
    t.start()
    time.sleep(0.8)
    bes[1].stop(signal.SIGKILL)
    t.join()
    ok, failed = res["v"]
    bad = [x for x in l7.access_lines(want=ok) if x["status"] != 200]
    assert failed == 0 and ok > 200, bad
    assert l7.metric("strata_l7_upstream_retries_total") >= 1


def test_connect_refused_everywhere_is_502_and_no_server_is_503(daemons, workdir):
    dead = free_port()
    port = free_port()
    text = l7_conf(workdir, port, {
        "dead": ([("d0", dead, "")], 'health = { enabled = false; }; passive = { failures = 0; };'),
        "none": ([("n0", dead, "")], 'health = { enabled = false; };'),
    }, routes='{ name = "d"; match = { path_prefix = "/d"; }; upstream = "dead"; },'
              '{ name = "n"; upstream = "none"; }')
    l7 = start_l7(daemons, workdir, text, port)
    l7.ctl("set", "server", "none", "n0", "maint")
    r = get(port, "/d")
    assert r.status == 502 and r.header("connection") is None or r.status == 502
    assert get(port, "/n").status == 503
    lines = l7.access_lines(want=2)
    assert [x["term"] for x in lines[:2]] == ["connect_error", "no_server"]


def test_upstream_read_timeout_is_504(daemons, workdir):
    l7, _ = simple_stack(daemons, workdir, upstream_extra=(
        'timeouts = { read = "300ms"; }; retry = { on = [ ]; };'))
    t0 = time.monotonic()
    r = get(l7.port, "/delay/2000")
    assert r.status == 504
    assert time.monotonic() - t0 < 1.5
    assert l7.access_lines()[-1]["term"] == "upstream_timeout"


def test_upstream_503_is_retried_on_another_server(daemons, workdir):
    l7, bes = simple_stack(daemons, workdir, n_backends=2, upstream_extra=(
        'balance = "round_robin"; retry = { on = [ "503" ]; tries = 2; };'))
    # /status/503 on every server: both are tried, the last answer is relayed
    r = get(l7.port, "/status/503")
    assert r.status == 503
    assert l7.access_lines()[-1]["tries"] == 2


def test_health_checks_eject_and_return_a_server(daemons, workdir):
    be0 = start_echo(daemons, "be-0")
    port, dead_port = free_port(), free_port()
    hc = ('health = { enabled = true; path = "/healthz"; interval = "150ms"; '
          'timeout = "100ms"; rise = 2; fall = 2; };')
    text = l7_conf(workdir, port, {"echo": (
        [("be-0", be0.port, ""), ("be-1", dead_port, "")], 'balance = "round_robin"; ' + hc)})
    l7 = start_l7(daemons, workdir, text, port)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and "be-1" not in down_servers(l7):
        time.sleep(0.05)
    assert "be-1" in down_servers(l7)
    assert {get(port, f"/{i}").json()["server"] for i in range(10)} == {"be-0"}
    # the server comes up: after `rise` good checks it takes requests again
    from l7util import binary
    be1 = daemons([binary("strata-echo"), "-l", f"{HOST}:{dead_port}", "-n", "be-1", "-w", "1"],
                  name="echo-be-1")
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and "be-1" in down_servers(l7):
        time.sleep(0.05)
    assert "be-1" not in down_servers(l7)
    assert {get(port, f"/{i}").json()["server"] for i in range(10)} == {"be-0", "be-1"}
    assert l7.metric("strata_l7_server_up", server="be-1") == 1
    be1.stop()


def down_servers(l7):
    out = l7.ctl("show", "servers").stdout.splitlines()[1:]
    return {line.split()[1] for line in out if line.split()[5] == "no"}


def test_passive_ejection_and_return_after_cooldown(daemons, workdir):
    be0 = start_echo(daemons, "be-0")
    port, dead_port = free_port(), free_port()
    text = l7_conf(workdir, port, {"echo": (
        [("be-0", be0.port, ""), ("be-1", dead_port, "")],
        'balance = "round_robin"; health = { enabled = false; }; '
        'passive = { failures = 2; cooldown = "700ms"; }; retry = { on = [ "connect_error" ]; tries = 2; };')})
    l7 = start_l7(daemons, workdir, text, port)
    for i in range(6):
        assert get(port, f"/{i}").status == 200  # retried on be-0
    assert "be-1" in down_servers(l7)
    assert l7.metric("strata_l7_upstream_failures_total", server="be-1") == 2
    time.sleep(1.0)
    assert "be-1" not in down_servers(l7)


def test_admin_drain_and_maint_take_a_server_out(daemons, workdir):
    l7, bes = simple_stack(daemons, workdir, n_backends=2,
                           upstream_extra='balance = "round_robin";')
    l7.ctl("set", "server", "echo", "be-1", "drain")
    assert {get(l7.port, f"/{i}").json()["server"] for i in range(8)} == {"be-0"}
    r = l7.ctl("set", "server", "echo", "nope", "drain", check=False)
    assert r.returncode == 1
    l7.ctl("set", "server", "echo", "be-1", "ready")
    assert {get(l7.port, f"/{i}").json()["server"] for i in range(8)} == {"be-0", "be-1"}
    l7.ctl("set", "server", "echo", "be-0", "maint")
    assert "maint" in l7.ctl("show", "servers", "echo").stdout
    assert {get(l7.port, f"/{i}").json()["server"] for i in range(8)} == {"be-1"}


def test_websocket_echo_through_the_proxy(daemons, workdir):
    l7, (be,) = simple_stack(daemons, workdir)
    with Client(l7.port) as c:
        c.send(b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
               b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               b"Sec-WebSocket-Version: 13\r\n\r\n")
        r = c.response()
        assert r.status == 101
        assert r.header("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        for msg in (b"hello", b"x" * 70000, "caf\u00e9".encode()):
            c.send(ws_frame(0x1, msg))
            assert ws_read(c) == (0x1, msg)
        c.send(ws_frame(0x8, b"\x03\xe8"))
        assert ws_read(c)[0] == 0x8
        assert c.at_eof()
    assert l7.access_lines()[-1]["status"] == 101


def test_raw_upgrade_tunnel_relays_bytes_both_ways(daemons, workdir):
    l7, _ = simple_stack(daemons, workdir)
    with Client(l7.port) as c:
        c.send(b"GET /raw HTTP/1.1\r\nHost: x\r\nUpgrade: foo\r\nConnection: upgrade\r\n\r\n")
        assert c.response().status == 101
        c.send(b"ping-1")
        assert c.read_exact(6) == b"ping-1"
        c.send(b"z" * 200000)
        assert c.read_exact(200000) == b"z" * 200000


def test_upstream_abort_mid_body_closes_the_client_connection(daemons, workdir):
    """A server that dies half-way through a body: the client must see the
    connection end, never a complete-looking response."""
    lsock = socket.socket()
    lsock.bind((HOST, 0))
    lsock.listen(8)
    bport = lsock.getsockname()[1]

    def serve():
        s, _ = lsock.accept()
        s.recv(65536)
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 30000)
        time.sleep(0.2)
        s.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    port = free_port()
    text = l7_conf(workdir, port, {"half": ([("h", bport, "")], "health = { enabled = false; };")})
    l7 = start_l7(daemons, workdir, text, port)
    with Client(port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        got = c.read_to_eof()
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and len(body) == 30000
    t.join(2)
    lsock.close()
    assert l7.access_lines()[-1]["term"] == "upstream_reset"


def test_server_state_survives_a_reload(daemons, workdir):
    l7, bes = simple_stack(daemons, workdir, n_backends=2,
                           upstream_extra='balance = "round_robin";')
    l7.ctl("set", "server", "echo", "be-1", "drain")
    before = l7.metric("strata_l7_upstream_requests_total", server="be-0")
    l7.ctl("reload")
    assert "drain" in l7.ctl("show", "servers").stdout
    assert {get(l7.port, f"/{i}").json()["server"] for i in range(6)} == {"be-0"}
    assert l7.metric("strata_l7_upstream_requests_total", server="be-0") == before + 6
