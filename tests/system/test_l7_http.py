"""strata-l7 HTTP/1.1 behaviour end to end: keep-alive, pipelining, bodies
both ways, HTTP/1.0, 100-continue, limits, smuggling shapes refused and
never forwarded, slowloris."""
import hashlib
import socket
import threading
import time
import zlib

import pytest

from l7util import Client, build, echo_stats, get, raw_exchange, simple_stack


@pytest.fixture
def stack(daemons, workdir):
    return simple_stack(daemons, workdir, routes='{ name = "all"; upstream = "echo"; max_body = "4m"; }',
                        top_extra='timeouts = { client_header = "1s"; client_body = "2s"; '
                                  'keepalive = "3s"; };')


def test_keep_alive_reuses_one_client_connection_and_one_upstream_connection(stack):
    l7, (be,) = stack
    with Client(l7.port) as c:
        ids = {c.request(path=f"/{i}").json()["conn"]["id"] for i in range(20)}
    assert len(ids) == 1
    assert l7.metric("strata_l7_upstream_pool_misses_total") == 1
    assert l7.metric("strata_l7_upstream_pool_hits_total") == 19


def test_pipelined_requests_are_answered_in_order(stack):
    l7, _ = stack
    with Client(l7.port) as c:
        c.send(b"".join(build(path=f"/p{i}") for i in range(10)))
        paths = [c.response().json()["path"] for i in range(10)]
    assert paths == [f"/p{i}" for i in range(10)]


def test_pipelined_requests_behind_a_slow_one_keep_their_order(stack):
    l7, _ = stack
    with Client(l7.port) as c:
        c.send(build(path="/delay/300") + build(path="/fast"))
        assert c.response().json()["path"] == "/delay/300"
        assert c.response().json()["path"] == "/fast"


def test_request_sent_one_byte_at_a_time(stack):
    l7, _ = stack
    with Client(l7.port) as c:
        for b in build(path="/slowly", headers=[("X-A", "b" * 300)]):
            c.send(bytes([b]))
        r = c.response()
        assert r.json()["path"] == "/slowly" and r.echo_headers("x-a") == ["b" * 300]


def test_content_length_and_chunked_uploads_arrive_intact(stack):
    l7, _ = stack
    body = bytes(range(256)) * 8192  # 2 MiB
    with Client(l7.port) as c:
        j = c.request("POST", "/up", body=body).json()
        assert (j["body_bytes"], j["body_crc"]) == (len(body), zlib.crc32(body))
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 70000]), body[i:i + 70000])
                          for i in range(0, len(body), 70000))
        c.send(build("POST", "/up", [("Transfer-Encoding", "chunked")]) + chunks + b"0\r\n\r\n")
        r = c.response()
        j = r.json()
        assert (j["body_bytes"], j["body_crc"]) == (len(body), zlib.crc32(body))
        # re-framed by the proxy: chunked upstream, no client chunk extensions
        assert r.echo_headers("transfer-encoding") == ["chunked"]


@pytest.mark.parametrize("chunked", [False, True])
def test_large_response_bodies_stream_intact(stack, chunked):
    l7, _ = stack
    n = 8 << 20
    with Client(l7.port) as c:
        r = c.request(path=f"/size/{n}" + ("?chunked=1" if chunked else ""))
        assert len(r.body) == n
        want = (b"abcdefghijklmnopqrstuvwxyz" * (n // 26 + 1))[:n]
        assert hashlib.sha1(r.body).digest() == hashlib.sha1(want).digest()
        assert c.request(path="/after").status == 200


def test_http10_client_gets_a_dechunked_body_and_a_close(stack):
    l7, _ = stack
    out = raw_exchange(l7.port, b"GET /size/100000?chunked=1 HTTP/1.0\r\nHost: x\r\n\r\n")
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"transfer-encoding" not in head.lower()
    assert len(body) == 100000


def test_http10_keep_alive_is_honoured(stack):
    l7, _ = stack
    with Client(l7.port) as c:
        r = c.request(version="HTTP/1.0", headers=[("Connection", "keep-alive")])
        assert r.status == 200 and r.header("connection").lower() == "keep-alive"
        assert c.request(version="HTTP/1.0").status == 200
        assert c.at_eof()


def test_expect_100_continue_is_answered_by_the_proxy(stack):
    l7, _ = stack
    with Client(l7.port) as c:
        c.send(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        r = c.response()
        assert r.status == 100
        c.send(b"hello")
        r = c.response()
        assert r.status == 200 and r.json()["body_bytes"] == 5
        assert r.echo_headers("expect") == []


def test_absolute_form_target_uses_its_authority(stack):
    l7, _ = stack
    with Client(l7.port) as c:
        c.send(b"GET http://abs.example/x?y=1 HTTP/1.1\r\nHost: other\r\n\r\n")
        r = c.response()
        assert r.json()["path"] == "/x?y=1" and r.echo_headers("host") == ["abs.example"]


@pytest.mark.parametrize("status,head", [
    (431, b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(120))),
    (414, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n"),
    (505, b"GET / HTTP/2.0\r\nHost: x\r\n"),
    (400, b"GET / HTTP/1.1\r\n"),  # no Host
])
def test_limits_and_bad_heads_get_their_status(stack, status, head):
    l7, (be,) = stack
    before = echo_stats(be.port)["requests_total"]
    out = raw_exchange(l7.port, head + b"\r\n")
    assert out.startswith(b"HTTP/1.1 %d " % status), out[:200]
    assert b"connection: close" in out.lower()
    assert echo_stats(be.port)["requests_total"] == before + 1


def test_body_over_max_body_is_413(stack):
    l7, (be,) = stack
    out = raw_exchange(l7.port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 413 ")


SMUGGLING = {
    "cl_and_te": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "two_cl": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
    "cl_list": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4, 5\r\n\r\nabcde",
    "te_not_final_chunked": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    "te_identity": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n",
    "te_obfuscated": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    "obs_fold": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "bare_cr": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
    "bare_lf": b"GET / HTTP/1.1\nHost: x\n\n",
    "nul_in_value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "ctl_in_name": b"GET / HTTP/1.1\r\nHost: x\r\nX\x01A: a\r\n\r\n",
    "ws_before_colon": b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    "bad_chunk_size": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
    "chunk_size_overflow": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"fffffffffffffffffff\r\nab\r\n0\r\n\r\n",
    "bad_method": b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
    "two_hosts": b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
    "te_http10": b"POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(SMUGGLING))
def test_smuggling_shapes_are_refused_with_400_and_never_forwarded(stack, name):
    l7, (be,) = stack
    before = echo_stats(be.port)["requests_total"]
    # a second, valid request behind it must not be answered either
    out = raw_exchange(l7.port, SMUGGLING[name] + b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 ") or out.startswith(b"HTTP/1.1 501 "), (name, out[:300])
    assert out.count(b"HTTP/1.1 ") == 1, out
    assert b"connection: close" in out.lower()
    assert echo_stats(be.port)["requests_total"] == before + 1, name


def test_slowloris_times_out_without_slowing_others(stack):
    l7, _ = stack
    slow = Client(l7.port)
    slow.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
    stop = time.monotonic() + 3
    fast = []

    def drip():
        try:
            while time.monotonic() < stop:
                slow.send(b"X-Drip: 1\r\n")
                time.sleep(0.2)
        except OSError:
            pass

    t = threading.Thread(target=drip)
    t.start()
    t0 = time.monotonic()
    with Client(l7.port) as c:
        while time.monotonic() - t0 < 1.5:
            s = time.monotonic()
            assert c.request().status == 200
            fast.append(time.monotonic() - s)
    assert max(fast) < 0.2
    assert slow.at_eof(timeout=3)  # client_header = 1s since its first byte
    closed_after = time.monotonic() - t0
    t.join()
    slow.close()
    assert closed_after < 2.5
    lines = l7.access_lines(want=len(fast) + 1)
    assert any(x["term"] == "header_timeout" for x in lines)


def test_idle_keep_alive_closes_after_the_keepalive_timeout(stack):
    l7, _ = stack
    with Client(l7.port) as c:
        assert c.request().status == 200
        t0 = time.monotonic()
        assert c.at_eof(timeout=6)
        assert 2.5 < time.monotonic() - t0 < 5


def test_client_abort_mid_upload_cancels_the_upstream_exchange(stack):
    l7, (be,) = stack
    c = Client(l7.port)
    c.send(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"a" * 1000)
    time.sleep(0.2)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if echo_stats(be.port)["connections_active"] == 1:
            break
        time.sleep(0.05)
    assert echo_stats(be.port)["connections_active"] == 1  # the /stats call
    lines = l7.access_lines()
    assert lines and lines[-1]["term"] == "client_abort"


def test_buffer_request_sends_a_content_length_body(daemons, workdir):
    l7, _ = simple_stack(daemons, workdir,
                         routes='{ name = "all"; upstream = "echo"; buffer_request = true; max_body = "1m"; }')
    with Client(l7.port) as c:
        c.send(build("POST", "/b", [("Transfer-Encoding", "chunked")]) +
               b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        r = c.response()
        assert r.json()["body_bytes"] == 11
        assert r.echo_headers("content-length") == ["11"]
        assert r.echo_headers("transfer-encoding") == []
        c.send(build("POST", "/b", [("Transfer-Encoding", "chunked")]) +
               b"%x\r\n" % (2 << 20) + b"a" * (2 << 20) + b"\r\n0\r\n\r\n")
        assert c.response().status == 413


def test_early_response_before_the_body_ends_closes_the_connection(daemons, workdir):
    """An upstream that answers before the request body is complete: the
    rest of the body must never be read as a next request."""
    import socket as so
    from conftest import free_port
    from l7util import l7_conf, start_l7

    lsock = so.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    bport = lsock.getsockname()[1]
    heads = []

    def serve():
        s, _ = lsock.accept()
        data = s.recv(65536)
        heads.append(data.count(b" HTTP/1.1\r\n"))
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        time.sleep(1.0)
        s.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    port = free_port()
    start_l7(daemons, workdir, l7_conf(workdir, port, {
        "u": ([("u", bport, "")], "health = { enabled = false; };")}), port)
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    with Client(port) as c:
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"a" * 10)
        r = c.response()
        assert r.status == 200 and r.body == b"ok"
        assert r.header("connection") == "close"
        try:
            c.send(smuggled + b"b" * (1000 - 10 - len(smuggled)))
        except OSError:
            pass
        assert c.at_eof(timeout=3)
    t.join(3)
    lsock.close()
    assert heads == [1]

