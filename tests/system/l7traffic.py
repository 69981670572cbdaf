"""Helpers for the strata-l7 traffic-management system tests
(test_l7_traffic*.py): configs with breakers, rate limits and splits over
strata-echo backends, bounded load loops, breaker state from the metrics."""
import threading
import time

from conftest import free_port
from l7util import HOST, Client, echo_stats, l7_conf, start_echo, start_l7

NO_HEALTH = "health = { enabled = false; }; passive = { failures = 0; };"


def stack(daemons, workdir, upstreams, routes, top_extra="", listener_extra="", proxy="off",
          workers=1):
    """Backends named in `upstreams` ({name: ([server names], extra)}), one
    strata-l7 in front. Returns (l7, {server name: echo daemon})."""
    bes = {}
    ups = {}
    for uname, (names, extra) in upstreams.items():
        servers = []
        for n in names:
            if n not in bes:
                bes[n] = start_echo(daemons, n)
            servers.append((n, bes[n].port, ""))
        ups[uname] = (servers, NO_HEALTH + " " + extra)
    port = free_port()
    text = l7_conf(workdir, port, ups, routes=routes, top_extra=top_extra,
                   listener_extra=listener_extra, proxy=proxy)
    text = text.replace("workers = 1;", f"workers = {workers};")
    return start_l7(daemons, workdir, text, port), bes


def served(be):
    """Requests the backend answered, our own /stats requests excluded
    (each counts itself and stays counted)."""
    be.stats_asked = getattr(be, "stats_asked", 0) + 1
    return echo_stats(be.port)["requests_total"] - be.stats_asked


def breaker_state(l7, upstream, server):
    return int(l7.metric("strata_l7_breaker_state", upstream=upstream, server=server))


def wait_state(l7, upstream, server, want, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if breaker_state(l7, upstream, server) == want:
            return
        time.sleep(0.02)
    raise AssertionError(f"{upstream}/{server} breaker not in state {want}: "
                         + l7.ctl("show", "breakers").stdout)


def load(port, seconds, conns=4, path="/", request=None):
    """Keep-alive requests from `conns` threads for a bounded time; returns
    the list of (status, server or None) answers and the count of
    transport errors."""
    out, errors = [], [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def run():
        c = None
        while time.monotonic() < stop:
            try:
                if c is None:
                    c = Client(port)
                r = request(c) if request else c.request(path=path)
                server = None
                if r.status == 200 and r.body.startswith(b"{"):
                    server = r.json().get("server")
                with lock:
                    out.append((r.status, server))
            except (OSError, EOFError, ValueError):
                with lock:
                    errors[0] += 1
                if c:
                    c.close()
                c = None
        if c:
            c.close()

    ts = [threading.Thread(target=run) for _ in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out, errors[0]


__all__ = ["HOST", "Client", "stack", "served", "breaker_state", "wait_state", "load"]
