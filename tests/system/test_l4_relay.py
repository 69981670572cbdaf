"""strata-l4's data paths: half-close each way, resets propagate, idle
timeout, bulk integrity on the copy and the splice path, a spliced
keep-alive flow waiting for input between bursts, a slow reader
does not make memory grow, hostile clients do not disturb others."""
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

from conftest import binary, free_port, sanitized, wait_tcp
import l4util as u


def start_l4(daemons, workdir, services, **top):
    conf = workdir / "l4.conf"
    sock = u.write_conf(conf, services, workdir, **top)
    d = daemons([binary("strata-l4"), "-c", conf], name="l4", cwd=workdir)
    u.wait_l4(binary("stratactl"), sock)
    return d, sock


class RawPeer:
    """An instance in the test itself: accepts, strips the PPv2 header, and
    hands each connection to `handler(sock, first_bytes)` in a thread."""

    def __init__(self, handler):
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(64)
        self.port = self.srv.getsockname()[1]
        self.handler = handler
        self.errors = []
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        data = b""
        try:
            c.settimeout(20)
            while True:
                hdr, n = u.parse_ppv2(data)
                if hdr:
                    break
                d = c.recv(65536)
                if not d:
                    return
                data += d
            self.handler(c, data[n:])
        except Exception as e:  # recorded for the test to assert on
            self.errors.append(e)
        finally:
            c.close()

    def close(self):
        self.srv.close()


def recv_all(c, n=None):
    data = b""
    while n is None or len(data) < n:
        d = c.recv(1 << 20)
        if not d:
            break
        data += d
    return data


def test_server_half_close_first(daemons, workdir):
    """The instance says goodbye and shuts its write side; the client gets
    EOF but can still send, and the instance receives it all."""
    seen = {}

    def handler(c, first):
        c.sendall(b"bye")
        c.shutdown(socket.SHUT_WR)
        seen["data"] = first + recv_all(c)

    peer = RawPeer(handler)
    port = free_port()
    start_l4(daemons, workdir, [u.service_block("h", f"127.0.0.1:{port}",
                                                [f"127.0.0.1:{peer.port}"])])
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    assert recv_all(c) == b"bye"  # EOF after the FIN passed on
    for _ in range(20):
        c.sendall(b"x" * 1000)
    c.shutdown(socket.SHUT_WR)
    u.wait_for(lambda: "data" in seen, what="instance saw the client's FIN")
    assert seen["data"] == b"x" * 20000
    c.close()
    assert not peer.errors


def test_client_half_close_first(daemons, workdir):
    def handler(c, first):
        data = first + recv_all(c)  # until the client's FIN
        c.sendall(hashlib.sha256(data).hexdigest().encode())

    peer = RawPeer(handler)
    port = free_port()
    start_l4(daemons, workdir, [u.service_block("h", f"127.0.0.1:{port}",
                                                [f"127.0.0.1:{peer.port}"])])
    blob = os.urandom(300000)
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    c.sendall(blob)
    c.shutdown(socket.SHUT_WR)
    assert recv_all(c) == hashlib.sha256(blob).hexdigest().encode()
    assert not peer.errors


def reset(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_client_reset_reaches_instance(daemons, workdir):
    result = {}

    def handler(c, first):
        try:
            while c.recv(65536):
                pass
            result["got"] = "eof"
        except ConnectionResetError:
            result["got"] = "reset"

    peer = RawPeer(handler)
    port = free_port()
    start_l4(daemons, workdir, [u.service_block("r", f"127.0.0.1:{port}",
                                                [f"127.0.0.1:{peer.port}"])],
             access_log=str(workdir / "access.log"))
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    c.sendall(b"some bytes")
    time.sleep(0.2)
    reset(c)
    u.wait_for(lambda: "got" in result, what="instance saw the end")
    assert result["got"] == "reset"
    log = u.wait_for(lambda: (workdir / "access.log").read_text().strip()
                     if (workdir / "access.log").exists() else None)
    assert json.loads(log.splitlines()[-1])["reason"] == "client_reset"


def test_instance_reset_reaches_client(daemons, workdir):
    def handler(c, first):
        c.sendall(b"partial answer")
        time.sleep(0.2)
        reset(c)

    peer = RawPeer(handler)
    port = free_port()
    start_l4(daemons, workdir, [u.service_block("r", f"127.0.0.1:{port}",
                                                [f"127.0.0.1:{peer.port}"])])
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    c.sendall(b"q")
    got = b""
    with pytest.raises(ConnectionResetError):
        while True:
            d = c.recv(100)
            if not d:
                break
            got += d
    assert got in (b"", b"partial answer")


def test_idle_timeout_closes(daemons, workdir):
    ports = [free_port()]
    u.start_ppservers(daemons, ports, ["i"])
    wait_tcp("127.0.0.1", ports[0])
    port = free_port()
    start_l4(daemons, workdir, [u.service_block("idle", f"127.0.0.1:{port}",
                                                [f"127.0.0.1:{ports[0]}"],
                                                idle_timeout="400ms")],
             access_log=str(workdir / "access.log"))
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    u.read_line(c)
    # Activity pushes the deadline back ...
    for _ in range(4):
        time.sleep(0.2)
        c.sendall(b"k")
        assert c.recv(10) == b"k"
    t0 = time.monotonic()
    assert c.recv(10) == b""  # ... silence ends it
    assert 0.3 < time.monotonic() - t0 < 2.0
    log = u.wait_for(lambda: (workdir / "access.log").read_text().strip()
                     if (workdir / "access.log").exists() else None)
    assert json.loads(log.splitlines()[-1])["reason"] == "idle_timeout"


def bulk_echo(port, mib):
    """Sends `mib` MiB and reads the echo concurrently; returns (sent sha,
    received sha, bytes received) -- the first line (the peer's JSON) is
    stripped."""
    c = socket.create_connection(("127.0.0.1", port), timeout=30)
    blob = os.urandom(1 << 20)
    h_out = hashlib.sha256()

    def send():
        for _ in range(mib):
            c.sendall(blob)
            h_out.update(blob)
        c.shutdown(socket.SHUT_WR)

    t = threading.Thread(target=send)
    t.start()
    u.read_line(c)
    h_in, n = hashlib.sha256(), 0
    while True:
        d = c.recv(1 << 20)
        if not d:
            break
        h_in.update(d)
        n += len(d)
    t.join()
    c.close()
    return h_out.hexdigest(), h_in.hexdigest(), n


@pytest.mark.parametrize("path", ["copy", "splice"])
def test_bulk_integrity(daemons, workdir, path):
    ports = [free_port()]
    u.start_ppservers(daemons, ports, ["bulk"])
    wait_tcp("127.0.0.1", ports[0])
    port, mport = free_port(), free_port()
    start_l4(daemons, workdir, [u.service_block("b", f"127.0.0.1:{port}",
                                                [f"127.0.0.1:{ports[0]}"], data_path=path)],
             metrics=f"127.0.0.1:{mport}")
    results = []
    threads = [threading.Thread(target=lambda: results.append(bulk_echo(port, 64)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for sent, got, n in results:
        assert n == 64 << 20 and sent == got
    text = u.metrics_text(mport)
    assert u.metric(text, "strata_l4_service_bytes_in_total", service="b") == 3 * (64 << 20)
    splices = u.metric(text, "strata_l4_splice_starts_total")
    if path == "splice":
        assert splices > 0
    else:
        assert splices == 0


def test_splice_waits_for_input_between_bursts(daemons, workdir):
    """A keep-alive flow that turned bulk stays on the splice path between
    answers: after each burst the direction waits for input (a poll), and
    the next burst, sent only once the client acknowledged the previous
    one, wakes it. Every burst arrives whole and in order, on one splice
    start, and the connection ends with FINs both ways."""
    bursts = [os.urandom(200 * 1024) for _ in range(6)]

    def handler(c, first):
        for b in bursts:
            c.sendall(b)
            if c.recv(1) != b"k":  # the client read it all
                raise AssertionError("no ack")
        c.shutdown(socket.SHUT_WR)
        if recv_all(c) != b"":
            raise AssertionError("bytes after the last ack")

    peer = RawPeer(handler)
    port, mport = free_port(), free_port()
    start_l4(daemons, workdir, [u.service_block("ka", f"127.0.0.1:{port}",
                                                [f"127.0.0.1:{peer.port}"], data_path="splice")],
             metrics=f"127.0.0.1:{mport}", workers=1)
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    for b in bursts:
        assert recv_all(c, len(b)) == b
        time.sleep(0.05)  # the source stays empty: the splice path waits
        c.sendall(b"k")
    assert recv_all(c) == b""  # the instance's FIN, passed on
    c.close()
    u.wait_for(lambda: u.metric(u.metrics_text(mport), "strata_l4_service_closes_total",
                                service="ka", reason="done") == 1, what="connection done")
    text = u.metrics_text(mport)
    assert u.metric(text, "strata_l4_splice_starts_total") == 1
    assert u.metric(text, "strata_l4_service_bytes_out_total", service="ka") == 6 * 200 * 1024
    assert not peer.errors


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.mark.parametrize("path", ["copy", "splice"])
def test_slow_reader_memory_bounded(daemons, workdir, path):
    """An instance pushes 256 MiB at a client that does not read: the
    balancer's memory stays flat (backpressure), then the client reads it
    all, intact."""
    chunk = os.urandom(1 << 20)
    total = 256

    def handler(c, first):
        for _ in range(total):
            c.sendall(chunk)
        c.shutdown(socket.SHUT_WR)
        recv_all(c)

    peer = RawPeer(handler)
    port = free_port()
    l4, _ = start_l4(daemons, workdir, [u.service_block(
        "s", f"127.0.0.1:{port}", [f"127.0.0.1:{peer.port}"], data_path=path,
        queue_limit="64k")], workers=1)
    base = rss_kib(l4.pid)
    c = socket.create_connection(("127.0.0.1", port), timeout=30)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    time.sleep(1.5)  # the instance fills every buffer on the way
    grown = rss_kib(l4.pid) - base
    # Bounded by the socket buffers and one loop turn of provided buffers,
    # far below what the instance tried to send.
    assert grown < 24 * 1024, f"RSS grew {grown} KiB while the client did not read"
    want = hashlib.sha256(chunk * total).hexdigest()
    h, n = hashlib.sha256(), 0
    while True:
        d = c.recv(1 << 20)
        if not d:
            break
        h.update(d)
        n += len(d)
    assert n == total << 20 and h.hexdigest() == want
    c.close()
    assert not peer.errors


def test_hostile_clients_do_not_disturb_others(daemons, workdir):
    """Silent clients, resets mid-stream and huge bursts run alongside a
    well-behaved client, whose round trips stay correct and quick."""
    ports = [free_port(), free_port(), free_port()]
    u.start_ppservers(daemons, ports, ["a", "b", "good"])
    for p in ports:
        wait_tcp("127.0.0.1", p)
    plain, tls, good = free_port(), free_port(), free_port()
    # The well-behaved client has its own instance (a separate process), so
    # what it measures is the balancer, not a busy Python peer; the abused
    # services have a max_conns, as an operator would set against floods,
    # so they cannot take every descriptor from the others.
    start_l4(daemons, workdir, [
        u.service_block("plain", f"127.0.0.1:{plain}", [f"127.0.0.1:{p}" for p in ports[:2]],
                        max_conns=300),
        u.service_block("tls", f"127.0.0.1:{tls}", [f"127.0.0.1:{p}" for p in ports[:2]],
                        sni=True, sni_timeout="2s", max_conns=300),
        u.service_block("good", f"127.0.0.1:{good}", [f"127.0.0.1:{ports[2]}"])])
    # Each kind of abuse runs in its own process (no shared GIL with the
    # measuring client), for the whole measurement.
    kinds = [("silent", plain), ("silent", tls), ("reset", plain), ("burst", plain),
             ("garbage", tls)]
    floods = [subprocess.Popen([sys.executable, str(u.HERE / "l4util.py"), "flood", k, str(p),
                                "5"]) for k, p in kinds]
    time.sleep(0.5)
    times = []
    retransmitted = 0  # well-behaved connections that resent a segment (a SYN included)
    deadline = time.monotonic() + 4
    n = 0
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        c = socket.create_connection(("127.0.0.1", good), timeout=5)
        u.read_line(c)
        c.sendall(b"ping %d" % n)
        assert c.recv(100) == b"ping %d" % n
        info = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
        retransmitted += struct.unpack_from("I", info, 100)[0] > 0  # tcpi_total_retrans
        c.close()
        times.append(time.monotonic() - t0)
        n += 1
    for f in floods:
        f.wait(10)
    # The flood saturates this 2-CPU box (Python peers and flooders), so
    # the bound is on latency, not on how many round trips fit in 4 s; and on
    # the bulk of it: one round trip in hundreds may meet a stall of the busy
    # box, which says nothing of the others. Seen once: 1.02 s, the size of
    # one SYN retransmission. Not a drop by strata-l4's listener: the good
    # service has its own listener and instance, whose accept queues never
    # held more than one; the thousands of TcpExtListenOverflows (=
    # ListenDrops) a run counts are the abused services' full queues: the
    # paused "tls" listener (max_conns) holding the garbage clients in its
    # 4096 backlog, as designed, and the Python instance's listen(1024)
    # that cannot accept as fast as the floods connect (no SYN cookies, no
    # TCPReqQFullDrop). In 8 runs in a network namespace of their own, none
    # of ~3000 well-behaved connections retransmitted anything (counted as
    # above). What can still drop a loopback SYN is the kernel's per-CPU
    # input queue (net.core.netdev_max_backlog, 1000; drops in
    # /proc/net/softnet_stat, not in the listen counters) when the whole
    # shared box floods loopback; the assertion's message says whether a
    # slow round trip was a retransmission.
    # Under ASan+UBSan strata-l4 is about three times slower while the
    # floods run at full speed: the same bounds, scaled (seen there: 99 round
    # trips, the slowest two 0.66 s).
    slow = 3 if sanitized("strata-l4") else 1
    times.sort()
    p99 = times[min(len(times) - 1, len(times) * 99 // 100)]
    assert n >= 20 and times[len(times) // 2] < 0.1 * slow and p99 < 0.5 * slow \
        and times[-1] < 3.0, \
        (times, f"{retransmitted} connections retransmitted")
