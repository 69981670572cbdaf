"""strata-l7's cheap connection end: a connection that closes after its
response ends its receive with shutdown(2) and sends the last response
corked (MSG_MORE) so the FIN leaves with it. These pin what must not change
with it: the response arrives whole and then the end of the stream, for
small and 16 KiB bodies, with input still unread behind the request, and a
connection kept alive is never corked (its response would wait for a FIN
that never comes)."""
import socket
import time

import pytest

from l7util import Client, build, simple_stack


@pytest.fixture
def stack(daemons, workdir):
    return simple_stack(daemons, workdir,
                        top_extra='timeouts = { client_header = "5s"; keepalive = "30s"; };')


def read_until_eof(sock, deadline_s=5.0):
    """Everything until the server's FIN (or reset), and how it ended."""
    sock.settimeout(deadline_s)
    data = bytearray()
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return bytes(data), "eof"
            data += chunk
    except ConnectionResetError:
        return bytes(data), "reset"


def body_of(raw):
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, raw[:200]
    length = None
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    assert length is not None, head
    return head, body, length


@pytest.mark.parametrize("path,size", [("/", None), ("/size/16384", 16384)])
def test_connection_close_response_arrives_whole_then_eof(stack, path, size):
    l7, _ = stack
    for _ in range(30):
        with socket.create_connection(("127.0.0.1", l7.port), timeout=5) as s:
            s.sendall(build(path=path, headers=[("Connection", "close")]))
            raw, how = read_until_eof(s)
        assert how == "eof"
        head, body, length = body_of(raw)
        assert head.startswith(b"HTTP/1.1 200")
        assert b"connection: close" in head.lower()
        assert len(body) == length
        if size:
            assert length == size


def test_http10_response_arrives_whole_then_eof(stack):
    l7, _ = stack
    with socket.create_connection(("127.0.0.1", l7.port), timeout=5) as s:
        s.sendall(build(path="/size/16384", version="HTTP/1.0"))
        raw, how = read_until_eof(s)
    assert how == "eof"
    _, body, length = body_of(raw)
    assert length == 16384 and len(body) == length


def test_close_with_unread_pipelined_input_still_delivers_the_response(stack):
    """Bytes after a Connection: close request are never read; the close
    may then reset, but only after the corked response and its FIN left."""
    l7, _ = stack
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", l7.port), timeout=5) as s:
            s.sendall(build(path="/size/16384", headers=[("Connection", "close")])
                      + build(path="/never") * 3)
            raw, _how = read_until_eof(s)
        _, body, length = body_of(raw)
        assert len(body) == length == 16384


def test_keep_alive_responses_are_not_held_back(stack):
    """Each response of a kept-alive connection leaves at once: a corked
    tail would only leave with the kernel's probe timer (200 ms at least,
    the minimum retransmission timeout), so 40 requests in a row would take
    8 s or more; they take a small fraction of that even under sanitizers."""
    l7, _ = stack
    paths = ["/", "/size/16384", "/size/100", "/size/70000"] * 10
    with Client(l7.port, timeout=10.0) as c:
        t0 = time.monotonic()
        for path in paths:
            r = c.request(path=path)
            assert r.status == 200
        elapsed = time.monotonic() - t0
        r = c.request(path="/", headers=[("Connection", "close")])
        assert r.status == 200
        assert r.header("Connection") == "close"
    assert elapsed < 4.0, f"{len(paths)} keep-alive requests took {elapsed:.1f} s"
