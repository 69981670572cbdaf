"""strata-l4 choosing instances: distribution per algorithm, Maglev
stability (instance removed, two nodes with one config), health checks
taking instances out and back, connect retries, backups, drain and maint."""
import collections
import socket
import time

from conftest import binary, free_port, wait_tcp
import l4util as u


def start_l4(daemons, workdir, services, name="l4", **top):
    conf = workdir / f"{name}.conf"
    home = workdir if name == "l4" else workdir / name  # one admin socket each
    home.mkdir(exist_ok=True)
    sock = u.write_conf(conf, services, home, **top)
    d = daemons([binary("strata-l4"), "-c", conf], name=name, cwd=workdir)
    u.wait_l4(binary("stratactl"), sock)
    return d, conf, sock


def peers(daemons, n, status_dir=None):
    ports = [free_port() for _ in range(n)]
    names = [f"i{k}" for k in range(n)]
    u.start_ppservers(daemons, ports, names, status_dir=status_dir)
    for p in ports:
        wait_tcp("127.0.0.1", p)
    return ports, names


def addrs(ports):
    return [f"127.0.0.1:{p}" for p in ports]


def test_round_robin_follows_weights(daemons, workdir):
    ports, names = peers(daemons, 3)
    port = free_port()
    insts = [{"address": a, "weight": w} for a, w in zip(addrs(ports), (1, 2, 3))]
    start_l4(daemons, workdir, [u.service_block("rr", f"127.0.0.1:{port}", insts,
                                                balance="round_robin")], workers=1)
    got = collections.Counter(u.hello_name(port) for _ in range(60))
    assert got == {"i0": 10, "i1": 20, "i2": 30}


def test_random2_uses_every_instance_by_weight(daemons, workdir):
    ports, names = peers(daemons, 3)
    port = free_port()
    insts = [{"address": a, "weight": w} for a, w in zip(addrs(ports), (1, 1, 4))]
    start_l4(daemons, workdir, [u.service_block("r2", f"127.0.0.1:{port}", insts,
                                                balance="random2")], workers=1)
    got = collections.Counter(u.hello_name(port) for _ in range(120))
    assert set(got) == {"i0", "i1", "i2"}
    assert got["i2"] > got["i0"] and got["i2"] > got["i1"]


def test_least_conn_spreads_held_connections(daemons, workdir):
    ports, names = peers(daemons, 3)
    port = free_port()
    start_l4(daemons, workdir, [u.service_block("lc", f"127.0.0.1:{port}", addrs(ports),
                                                balance="least_conn")], workers=1)
    held = []
    for _ in range(9):
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        held.append(c)
    got = collections.Counter()
    for c in held:
        got[__import__("json").loads(u.read_line(c))["name"]] += 1
    assert got == {"i0": 3, "i1": 3, "i2": 3}
    for c in held:
        c.close()


def maglev_map(port, sources):
    return {s: u.hello_name(port, src=s) for s in sources}


SOURCES = [f"127.0.{a}.{b}" for a in (0, 1) for b in range(2, 62)]


def test_maglev_is_sticky_stable_and_same_on_two_nodes(daemons, workdir):
    """A client IP keeps its instance; two nodes with the same instances map
    clients alike (a VRRP failover keeps clients on their L7 instance);
    removing an instance by reload moves its clients and almost nobody
    else."""
    ports, names = peers(daemons, 3)
    pa, pb = free_port(), free_port()
    svc = lambda p, a: u.service_block("mg", f"127.0.0.1:{p}", a, balance="maglev")
    _, conf_a, sock_a = start_l4(daemons, workdir, [svc(pa, addrs(ports))], node_name="a")
    # Node b lists the instances in another order: names, not positions, count.
    start_l4(daemons, workdir, [svc(pb, list(reversed(addrs(ports))))], name="l4b",
             node_name="b")
    before = maglev_map(pa, SOURCES)
    assert maglev_map(pa, SOURCES[:20]) == {s: before[s] for s in SOURCES[:20]}
    assert maglev_map(pb, SOURCES) == before
    assert set(before.values()) == set(names)
    # Remove i2 and reload node a.
    u.write_conf(conf_a, [svc(pa, addrs(ports[:2]))], workdir, node_name="a")  # same socket
    u.ctl(binary("stratactl"), sock_a, "reload")
    after = maglev_map(pa, SOURCES)
    assert "i2" not in after.values()
    kept = [s for s in SOURCES if before[s] != "i2"]
    moved = [s for s in kept if after[s] != before[s]]
    assert len(moved) <= len(kept) // 20, moved  # Maglev: ~1% collateral, allow 5%


def test_http_health_takes_instance_out_and_back(daemons, workdir):
    status = workdir / "status"
    status.mkdir()
    ports, names = peers(daemons, 2, status_dir=status)
    port, mport = free_port(), free_port()
    health = {"type": "http", "interval": "150ms", "timeout": "100ms", "rise": 2, "fall": 2,
              "path": "/healthz"}
    _, _, sock = start_l4(daemons, workdir, [u.service_block(
        "hc", f"127.0.0.1:{port}", addrs(ports), balance="round_robin", health=health)],
        workers=1, metrics=f"127.0.0.1:{mport}")
    ctlb = binary("stratactl")
    assert {i["health"] for i in u.instances(ctlb, sock)} == {"up"}
    (status / "i1.status").write_text("503")
    u.wait_for(lambda: u.instances(ctlb, sock)[1]["health"] == "down", what="i1 down")
    row = u.instances(ctlb, sock)[1]
    assert row["available"] == "no" and row["last_check"] == "bad_status"
    hl = u.ctl(ctlb, sock, "show", "health").stdout.splitlines()
    cols = hl[0].lstrip("# ").split()
    rows = {r["instance"]: r for r in (dict(zip(cols, l.split())) for l in hl[1:])}
    h1 = rows[f"127.0.0.1:{ports[1]}"]
    assert (h1["check"], h1["interval_ms"], h1["rise"], h1["fall"]) == ("http", "150", "2", "2")
    assert h1["health"] == "down" and h1["last_check"] == "bad_status"
    assert rows[f"127.0.0.1:{ports[0]}"]["health"] == "up"
    assert {u.hello_name(port) for _ in range(10)} == {"i0"}
    text = u.metrics_text(mport)
    lab = dict(service="hc", instance=f"127.0.0.1:{ports[1]}")
    assert u.metric(text, "strata_l4_instance_up", **lab) == 0
    assert u.metric(text, "strata_l4_instance_health_transitions_total", to="down", **lab) == 1
    (status / "i1.status").write_text("200")
    u.wait_for(lambda: u.instances(ctlb, sock)[1]["health"] == "up", what="i1 up")
    assert {u.hello_name(port) for _ in range(10)} == {"i0", "i1"}
    text = u.metrics_text(mport)
    assert u.metric(text, "strata_l4_instance_health_transitions_total", to="up", **lab) == 1
    assert u.metric(text, "strata_l4_instance_available", **lab) == 1


def test_tcp_health_and_dead_instance(daemons, workdir):
    ports, names = peers(daemons, 1)
    dead = free_port()  # nothing listens there
    port = free_port()
    health = {"type": "tcp", "interval": "100ms", "timeout": "100ms", "rise": 1, "fall": 1}
    _, _, sock = start_l4(daemons, workdir, [u.service_block(
        "t", f"127.0.0.1:{port}", addrs([ports[0], dead]), health=health)])
    ctlb = binary("stratactl")
    u.wait_for(lambda: u.instances(ctlb, sock)[1]["health"] == "down", what="dead down")
    assert u.instances(ctlb, sock)[1]["last_check"] == "refused"
    assert u.instances(ctlb, sock)[0]["health"] == "up"


def test_connect_retry_reaches_live_instance(daemons, workdir):
    """Two instances refuse connections; with no health check they stay
    in the pool, and every client still reaches the live one through
    retries before it notices anything."""
    ports, names = peers(daemons, 1)
    dead = [free_port(), free_port()]
    port, mport = free_port(), free_port()
    _, _, sock = start_l4(daemons, workdir, [u.service_block(
        "rt", f"127.0.0.1:{port}", addrs(dead + ports), balance="round_robin",
        connect_retries=2)], workers=1, metrics=f"127.0.0.1:{mport}")
    for _ in range(9):
        hdr, echo, _ = u.converse(port, b"ping")
        assert hdr["name"] == "i0" and echo == b"ping"
    text = u.metrics_text(mport)
    assert u.metric(text, "strata_l4_service_connect_retries_total", service="rt") >= 9
    errs = sum(u.metric(text, "strata_l4_instance_connect_errors_total", service="rt",
                        instance=f"127.0.0.1:{d}", reason="refused") for d in dead)
    assert errs >= 9
    assert u.metric(text, "strata_l4_service_closes_total", service="rt",
                    reason="connect_failed") in (None, 0)


def test_retries_exhausted_resets_client(daemons, workdir):
    dead = [free_port(), free_port()]
    port = free_port()
    start_l4(daemons, workdir, [u.service_block("x", f"127.0.0.1:{port}", addrs(dead),
                                                connect_retries=1)])
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        data = c.recv(10)
    except ConnectionResetError:
        data = None
    assert data in (None, b"")


def test_backup_only_when_primaries_unusable(daemons, workdir):
    ports, names = peers(daemons, 2)
    port = free_port()
    insts = [{"address": addrs(ports)[0]}, {"address": addrs(ports)[1], "backup": True}]
    _, _, sock = start_l4(daemons, workdir, [u.service_block("bk", f"127.0.0.1:{port}", insts,
                                                             balance="round_robin")])
    assert {u.hello_name(port) for _ in range(8)} == {"i0"}
    ctlb = binary("stratactl")
    u.ctl(ctlb, sock, "set", "instance", "bk", addrs(ports)[0], "maint")
    assert {u.hello_name(port) for _ in range(8)} == {"i1"}
    u.ctl(ctlb, sock, "set", "instance", "bk", addrs(ports)[0], "ready")
    assert {u.hello_name(port) for _ in range(8)} == {"i0"}


def test_drain_keeps_existing_connections(daemons, workdir):
    ports, names = peers(daemons, 2)
    port = free_port()
    _, _, sock = start_l4(daemons, workdir, [u.service_block(
        "dr", f"127.0.0.1:{port}", addrs(ports), balance="round_robin")], workers=1)
    held = socket.create_connection(("127.0.0.1", port), timeout=5)
    first = __import__("json").loads(u.read_line(held))["name"]
    ctlb = binary("stratactl")
    addr = addrs(ports)[names.index(first)]
    u.ctl(ctlb, sock, "set", "instance", "dr", addr, "drain")
    row = [i for i in u.instances(ctlb, sock) if i["instance"] == addr][0]
    assert row["admin"] == "drain" and row["available"] == "no" and row["active"] == "1"
    assert first not in {u.hello_name(port) for _ in range(8)}
    held.sendall(b"still here")  # the drained instance still serves it
    got = b""
    while len(got) < 10:
        got += held.recv(100)
    assert got == b"still here"
    held.close()


def test_health_flapping_under_traffic(daemons, workdir):
    """Two of three instances flap up and down every few checks while
    clients keep connecting: every connection succeeds, the Maglev table
    is rebuilt on each transition, and (run against an ASan build) no
    worker ever reads a freed table."""
    import random
    import threading

    status = workdir / "status"
    status.mkdir()
    ports, names = peers(daemons, 3, status_dir=status)
    port, mport = free_port(), free_port()
    health = {"type": "http", "interval": "100ms", "timeout": "100ms", "rise": 1, "fall": 1}
    start_l4(daemons, workdir, [u.service_block("flap", f"127.0.0.1:{port}", addrs(ports),
                                                balance="maglev", health=health)],
             metrics=f"127.0.0.1:{mport}")
    stop, errors, done = threading.Event(), [], [0]

    def load(k):
        n = 0
        while not stop.is_set():
            try:
                assert u.converse(port, b"f", src=f"127.0.{k}.{2 + n % 200}")[1] == b"f"
                done[0] += 1
            except Exception as e:  # the test requires none
                errors.append(repr(e))
            n += 1

    def flap():
        rnd = random.Random(7)
        while not stop.is_set():
            for name in names[:2]:
                (status / f"{name}.status").write_text(rnd.choice(["200", "503"]))
            time.sleep(rnd.uniform(0.05, 0.25))

    threads = [threading.Thread(target=load, args=(k,)) for k in range(3)]
    threads.append(threading.Thread(target=flap))
    for t in threads:
        t.start()
    time.sleep(4)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[:5]
    assert done[0] > 50
    text = u.metrics_text(mport)
    flips = sum(u.metric(text, "strata_l4_instance_health_transitions_total", service="flap",
                         instance=a, to=to) or 0 for a in addrs(ports[:2]) for to in ("up", "down"))
    assert flips >= 6, flips


def test_connect_timeout_then_retry(daemons, workdir):
    """An instance whose accept queue is full drops SYNs: the connect times
    out after connect_timeout (the connection's timer cancels the connect),
    counts as `timeout`, and
    the client is served by the next instance."""
    ports, names = peers(daemons, 1)
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(0)
    fillers = []
    for _ in range(4):  # fill the accept queue; nobody ever accepts
        f = socket.socket()
        f.setblocking(False)
        try:
            f.connect(hole.getsockname())
        except BlockingIOError:
            pass
        fillers.append(f)
    time.sleep(0.2)
    port, mport = free_port(), free_port()
    dead = f"127.0.0.1:{hole.getsockname()[1]}"
    start_l4(daemons, workdir, [u.service_block(
        "ct", f"127.0.0.1:{port}", [dead] + addrs(ports), balance="round_robin",
        connect_timeout="300ms", connect_retries=1)], workers=1, metrics=f"127.0.0.1:{mport}")
    t0 = time.monotonic()
    hdr, echo, _ = u.converse(port, b"late")  # round robin starts with the dead one
    took = time.monotonic() - t0
    assert hdr["name"] == "i0" and echo == b"late"
    assert 0.25 < took < 2.0, took
    text = u.metrics_text(mport)
    assert u.metric(text, "strata_l4_instance_connect_errors_total", service="ct",
                    instance=dead, reason="timeout") == 1
    for f in fillers:
        f.close()
    hole.close()
