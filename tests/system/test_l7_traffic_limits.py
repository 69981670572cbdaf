"""strata-l7 rate limits and per-client connection limits end to end
(docs/traffic.md): accuracy across two worker threads, the 429 with
Retry-After and RateLimit fields, buckets per PPv2 client address (never
a forgeable header), per API key and per route, dry run, and
max_conns_per_ip at the listener."""
import socket
import subprocess
import threading
import time

from l7traffic import Client, stack
from l7util import build, ppv2

OK = 'respond = { status = 200; body = "ok"; };'


def test_rate_limit_is_exact_across_two_workers(daemons, workdir):
    # 200/s with a bucket of 100, hammered from 16 connections spread over
    # both workers for 3 s: the allowed count is burst + rate x elapsed
    # (a shared table: no 2x overshoot), within 2 %. The bucket covers
    # half a second, so a load generator stalled that long on a busy
    # machine loses no tokens.
    l7, _ = stack(daemons, workdir, {}, f'{{ name = "all"; rate_limit = "flat"; {OK} }}',
                  top_extra='rate_limits = ( { name = "flat"; rate = "200/s"; burst = 100; } );',
                  workers=2)
    counts = {200: 0, 429: 0}
    sent = []  # (first, last) request times of each connection
    lock = threading.Lock()
    conns = [Client(l7.port) for _ in range(16)]
    stop = time.monotonic() + 3.0

    def run(c):
        n = {200: 0, 429: 0}
        first = last = time.monotonic()
        while last < stop:
            n[c.request().status] += 1
            last = time.monotonic()
        with lock:
            for k in n:
                counts[k] += n[k]
            sent.append((first, last))

    ts = [threading.Thread(target=run, args=(c,)) for c in conns]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for c in conns:
        c.close()
    # from the first request sent to the last one answered
    elapsed = max(b for _, b in sent) - min(a for a, _ in sent)
    expected = 100 + 200 * elapsed
    assert counts[429] > counts[200], counts  # it was really limiting
    print("rate accuracy", counts, round(expected, 1), round(counts[200] / expected, 4))
    assert abs(counts[200] - expected) <= 0.02 * expected, (counts, expected)
    assert l7.metric("strata_l7_ratelimit_requests_total", policy="flat",
                     result="allowed") == counts[200]
    assert l7.metric("strata_l7_ratelimit_requests_total", policy="flat",
                     result="limited") == counts[429]
    # both workers carried connections (16 connections over SO_REUSEPORT)
    turns = [int(x.split()[3]) for x in l7.ctl("show", "stats").stdout.splitlines()
             if x.startswith("worker ")]
    assert len(turns) == 2 and min(turns) > 0


def test_429_has_retry_after_and_ratelimit_fields(daemons, workdir):
    l7, _ = stack(daemons, workdir, {}, f'{{ name = "all"; rate_limit = "per-ip"; {OK} }}',
                  top_extra='rate_limits = ( { name = "per-ip"; rate = "2/m"; burst = 2; } );')
    with Client(l7.port) as c:
        assert c.request().status == 200
        assert c.request().status == 200
        r = c.request()
        assert r.status == 429
        assert 25 <= int(r.header("Retry-After")) <= 31  # one request per 30 s
        assert r.header("RateLimit-Policy") == '"per-ip";q=2;w=60'
        assert r.header("RateLimit").startswith('"per-ip";r=0;t=')
        assert r.header("Cache-Control") == "no-store"
        assert b"too many requests" in r.body
        # the connection stays usable (keep-alive) and stays limited
        assert c.request(method="HEAD").status == 429
    line = [x for x in l7.access_lines(want=4) if x["status"] == 429][0]
    assert line["term"] == "rate_limited" and line["rate_limit"] == "per-ip"


def test_buckets_per_ppv2_client_never_per_forwarded_header(daemons, workdir):
    l7, _ = stack(daemons, workdir, {}, f'{{ name = "all"; rate_limit = "per-ip"; {OK} }}',
                  top_extra='rate_limits = ( { name = "per-ip"; rate = "1/m"; burst = 1; } );',
                  proxy="required")

    def status(src, headers=()):
        with Client(l7.port, preamble=ppv2((src, 4000))) as c:
            return c.request(headers=headers).status

    assert status("10.77.0.1") == 200
    assert status("10.77.0.1", [("X-Forwarded-For", "10.77.9.9")]) == 429
    assert status("10.77.0.1", [("X-Real-IP", "10.77.9.8")]) == 429
    assert status("10.77.0.2") == 200  # another client: its own bucket


def test_header_route_keys_and_dry_run(daemons, workdir):
    top = ('rate_limits = ( { name = "api"; rate = "1/m"; key = "header:X-Api-Key"; },'
           ' { name = "global"; rate = "3/m"; key = "route"; },'
           ' { name = "watch"; rate = "1/m"; dry_run = true; } );')
    routes = (f'{{ name = "api"; match = {{ path = "/api"; }}; rate_limit = "api"; {OK} }},'
              f'{{ name = "g"; match = {{ path = "/g"; }}; rate_limit = "global"; {OK} }},'
              f'{{ name = "w"; rate_limit = "watch"; {OK} }}')
    l7, _ = stack(daemons, workdir, {}, routes, top_extra=top, proxy="required")

    def status(src, path, headers=()):
        with Client(l7.port, preamble=ppv2((src, 4000))) as c:
            return c.request(path=path, headers=headers).status

    assert status("10.77.0.1", "/api", [("X-Api-Key", "k1")]) == 200
    assert status("10.77.0.2", "/api", [("X-Api-Key", "k1")]) == 429  # same key
    assert status("10.77.0.1", "/api", [("X-Api-Key", "k2")]) == 200
    assert [status(f"10.77.1.{i}", "/g") for i in range(5)] == [200, 200, 200, 429, 429]
    assert [status("10.77.2.1", "/w") for _ in range(3)] == [200, 200, 200]
    assert l7.metric("strata_l7_ratelimit_requests_total", policy="watch",
                     result="dry_run") == 2
    assert "policy global rate=3/60000ms burst=3 key=route" in l7.ctl("show", "ratelimit").stdout


def test_max_conns_per_ip_at_the_listener(daemons, workdir):
    l7, _ = stack(daemons, workdir, {}, f'{{ name = "all"; {OK} }}', proxy="required",
                  listener_extra="max_conns_per_ip = 2;")

    def conn(src):
        c = Client(l7.port, preamble=ppv2((src, 4000)), timeout=5)
        return c

    a, b = conn("10.77.0.1"), conn("10.77.0.1")
    assert a.request().status == 200 and b.request().status == 200
    third = conn("10.77.0.1")
    third.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert third.at_eof(), "a third connection of the same client must be closed"
    third.close()
    other = conn("10.77.0.2")
    assert other.request().status == 200  # the limit is per client
    a.close()
    deadline = time.monotonic() + 3
    while True:  # the slot comes back once the closed connection is freed
        c = conn("10.77.0.1")
        try:
            if c.request().status == 200:
                break
        except (EOFError, OSError, socket.timeout):
            pass
        finally:
            c.close()
        assert time.monotonic() < deadline, "the client never got its slot back"
        time.sleep(0.05)
    b.close()
    other.close()
    assert l7.metric("strata_l7_connlimit_refused_total", listener="main") >= 1
    l7.d.wait_log("10.77.0.1 already has 2 connections open")
    assert "max_conns_per_ip=2" in l7.ctl("show", "connlimit").stdout


def test_max_conns_per_ip_without_proxy_protocol_counts_the_socket_peer(daemons, workdir):
    l7, _ = stack(daemons, workdir, {}, f'{{ name = "all"; {OK} }}',
                  listener_extra="max_conns_per_ip = 1;")
    deadline = time.monotonic() + 3
    while True:  # start_l7's own probe connection may still be counted
        a = Client(l7.port, timeout=5)
        try:
            if a.request().status == 200:
                break
        except (EOFError, OSError):
            a.close()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with a:
        with Client(l7.port, timeout=5) as b:
            assert b.at_eof()  # closed at accept, before reading a byte
        assert a.request().status == 200
    l7.d.wait_log("127.0.0.1 already has 1 connections open")


def test_http2_requests_share_the_limits(daemons, workdir):
    # h2c prior knowledge: every stream is one request through the same
    # policies; the 429 keeps its fields
    l7, _ = stack(daemons, workdir, {}, f'{{ name = "all"; rate_limit = "per-ip"; {OK} }}',
                  top_extra='rate_limits = ( { name = "per-ip"; rate = "2/m"; burst = 2; } );',
                  listener_extra="http2 = { h2c = true; };")
    url = f"http://127.0.0.1:{l7.port}/"
    got = [subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-o", "/dev/null", "-w",
                           "%{http_version} %{http_code}", url],
                          capture_output=True, text=True, timeout=20).stdout
           for _ in range(3)]
    assert got == ["2 200", "2 200", "2 429"], got
    r = subprocess.run(["curl", "-si", "--http2-prior-knowledge", url], capture_output=True,
                       text=True, timeout=20)
    head = r.stdout.lower()
    assert head.startswith("http/2 429") and "retry-after: " in head
    assert 'ratelimit-policy: "per-ip";q=2;w=60' in head


def test_a_flood_of_new_keys_evicts_itself_not_a_limited_client(daemons, workdir):
    # the smallest table (1029 buckets): 5000 one-request API keys fill it
    # and evict each other; the client being limited keeps its bucket
    # (its bucket is the furthest from full: eviction takes the closest)
    top = ('rate_limit_table = 1024;'
           'rate_limits = ( { name = "api"; rate = "5/m"; burst = 5; key = "header:X-Api-Key"; } );')
    l7, _ = stack(daemons, workdir, {}, f'{{ name = "all"; rate_limit = "api"; {OK} }}',
                  top_extra=top)
    with Client(l7.port) as c:
        assert [c.request(headers=[("X-Api-Key", "greedy")]).status
                for _ in range(7)] == [200] * 5 + [429] * 2
        for base in range(0, 5000, 100):
            c.send(b"".join(build(headers=[("X-Api-Key", f"k{i}")])
                            for i in range(base, base + 100)))
            assert all(c.response().status == 200 for _ in range(100))
        assert c.request(headers=[("X-Api-Key", "greedy")]).status == 429
    out = l7.ctl("show", "ratelimit").stdout
    table = dict(kv.split("=") for kv in out.split("table ")[1].split())
    assert table["capacity"] == "1029" and int(table["live"]) <= 1029
    assert int(table["evictions"]) >= 5000 - 1029, out
    assert 147 * 128 <= int(table["bytes"]) < 147 * 128 + 4096  # fixed, whatever the keys
