"""strata-l4's graceful drain on SIGTERM (docs/vrrp.md "Planned maintenance"):
new SYNs are dropped, not refused, so clients repeat them (by then to the
new VRRP master); established connections and those that completed their
handshake before the drain are served to the end; the process exits once
nothing is open and its listen addresses left the host, or after
drain_linger, or at drain_timeout."""
import signal
import socket
import time

from conftest import binary, free_port
import l4util as u
from test_l4_ops import addrs, peers, start_l4


def connect_outcome(port, wait=0.3):
    """What a new client sees within `wait` seconds: 'connected',
    'refused' (a RST) or 'silent' (the SYN was dropped)."""
    s = socket.socket()
    s.settimeout(wait)
    try:
        s.connect(("127.0.0.1", port))
        return "connected"
    except ConnectionRefusedError:
        return "refused"
    except socket.timeout:
        return "silent"
    finally:
        s.close()


def stats(sock):
    out = u.ctl(binary("stratactl"), sock, "show", "stats").stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def echo_all(conn, payload):
    conn.sendall(payload)
    got = b""
    while len(got) < len(payload):
        d = conn.recv(65536)
        assert d, f"EOF after {len(got)} of {len(payload)} bytes"
        got += d
    return got


def test_drain_drops_new_syns_and_finishes_established(daemons, workdir):
    ports = peers(daemons, 1)
    port = free_port()
    l4, _, sock = start_l4(daemons, workdir, [u.service_block("web", f"127.0.0.1:{port}",
                                                              addrs(ports))],
                           drain_timeout="30s", drain_linger="300ms", drain_close_idle=0)
    assert connect_outcome(port, wait=5) == "connected"
    assert stats(sock)["draining"] == "0"
    held = socket.create_connection(("127.0.0.1", port), timeout=10)
    u.read_line(held)
    l4.send(signal.SIGTERM)
    l4.wait_log("draining 1 connections")
    # Not refused: no RST comes back, the SYN is dropped and would be
    # repeated by the client's TCP (to the new master after a failover).
    for _ in range(3):
        assert connect_outcome(port) == "silent"
    st = stats(sock)
    assert st["draining"] == "1" and st["active"] == "1", st
    assert int(st["draining_ms"]) > 0
    # The established connection finishes its transfer, both ways.
    payload = bytes(range(256)) * 4096  # 1 MiB
    assert echo_all(held, payload) == payload
    assert l4.alive()
    held.shutdown(socket.SHUT_WR)
    assert held.recv(10) == b""
    held.close()
    l4.proc.wait(20)  # well before drain_timeout: nothing open for drain_linger
    assert l4.proc.returncode == 0
    assert "drained (nothing open for drain_linger), exiting" in l4.text()
    assert "drain timeout" not in l4.text()


def test_client_waiting_in_the_backlog_at_sigterm_is_served(daemons, workdir):
    """A client whose handshake completed before the drain (here held in
    the backlog by max_conns) is accepted and served, not reset."""
    ports = peers(daemons, 1)
    port = free_port()
    l4, _, sock = start_l4(daemons, workdir,
                           [u.service_block("web", f"127.0.0.1:{port}", addrs(ports),
                                            max_conns=1)],
                           workers=1, drain_timeout="30s", drain_linger="300ms",
                           drain_close_idle=0)
    first = socket.create_connection(("127.0.0.1", port), timeout=10)
    u.read_line(first)
    waiting = socket.create_connection(("127.0.0.1", port), timeout=10)  # handshake done
    u.wait_for(lambda: stats(sock)["accept_paused"] != "0", what="accept paused at max_conns")
    l4.send(signal.SIGTERM)
    l4.wait_log("draining 1 connections")
    assert echo_all(first, b"first") == b"first"
    first.close()
    assert b'"name": "i0"' in u.read_line(waiting)  # served, with its PROXY header
    assert echo_all(waiting, b"second") == b"second"
    waiting.close()
    l4.proc.wait(20)
    assert l4.proc.returncode == 0


def test_drain_ends_when_the_listen_address_leaves(daemons, workdir):
    """With every listen address a specific one, the drain ends as soon as
    nothing is open and the addresses left the host (strata-vrrp removed
    the VIP), long before drain_linger. In a private network namespace."""
    import netns

    with netns.Topology("l4gr") as topo:
        node = topo.node("n")
        node.addr_add("lo", "10.77.6.1/32")
        port = free_port()
        conf = workdir / "l4.conf"
        sock = u.write_conf(conf, [u.service_block("vip", f"10.77.6.1:{port}",
                                                   ["127.0.0.1:9"])], workdir,
                            drain_timeout="60s", drain_linger="60s")
        l4 = daemons(node.argv([binary("strata-l4"), "-c", conf]), name="l4", cwd=workdir)
        u.wait_l4(binary("stratactl"), sock)
        l4.send(signal.SIGTERM)
        l4.wait_log("exit once the listen addresses leave this host")
        time.sleep(0.3)
        assert l4.alive() and stats(sock)["draining"] == "1"  # the VIP is still here
        node.ip("addr", "del", "10.77.6.1/32", "dev", "lo")
        l4.proc.wait(10)
        assert l4.proc.returncode == 0
        assert "nothing open and every listen address left this host" in l4.text()


def test_idle_kept_connection_is_closed_at_drain(daemons, workdir):
    """A kept connection idle after an answer (a keep-alive client between
    requests) is closed during the drain, with a FIN: the client sees the
    end and would send its next request on a new connection. One that has
    not carried an exchange yet is left alone."""
    ports = peers(daemons, 1)
    port = free_port()
    l4, _, sock = start_l4(daemons, workdir, [u.service_block("web", f"127.0.0.1:{port}",
                                                              addrs(ports))],
                           drain_timeout="30s", drain_linger="300ms", drain_close_idle="50ms")
    kept = socket.create_connection(("127.0.0.1", port), timeout=10)
    u.read_line(kept)
    time.sleep(0.01)  # the answer in a later jiffy than the request
    assert echo_all(kept, b"GET / HTTP/1.1\r\n\r\n") == b"GET / HTTP/1.1\r\n\r\n"
    fresh = socket.create_connection(("127.0.0.1", port), timeout=10)
    u.read_line(fresh)  # only the instance has spoken: no exchange yet
    l4.send(signal.SIGTERM)
    l4.wait_log("draining 2 connections")
    assert kept.recv(10) == b""  # closed by strata-l4, not reset
    u.wait_for(lambda: stats(sock)["active"] == "1", what="one connection left")
    assert echo_all(fresh, b"late") == b"late"
    fresh.close()
    kept.close()
    l4.proc.wait(20)
    assert l4.proc.returncode == 0 and "drain timeout" not in l4.text()
