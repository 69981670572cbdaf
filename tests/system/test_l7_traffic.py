"""strata-l7 circuit breakers and retry budgets end to end (docs/traffic.md):
each breaker trigger (consecutive failures, error rate, latency), fail-fast
without contacting the server, the next server taking over, recovery
through half-open, forcing from stratactl, max_requests, max_pending, and the retry
budget under a failing backend."""
import signal
import socket
import threading
import time

from l7traffic import Client, breaker_state, load, served, stack, wait_state

ONE = '{ name = "all"; upstream = "app"; }'


def test_consecutive_failures_open_then_half_open_probes_close(daemons, workdir):
    l7, bes = stack(daemons, workdir, {"app": (["be-0"], (
        'retry = { tries = 1; }; breaker = { consecutive = 3; error_percent = 0; '
        'open = "300ms"; open_max = "2s"; half_open_probes = 2; on_open = "fail"; };'))}, ONE)
    be = bes["be-0"]
    with Client(l7.port) as c:
        # the backend starts failing: three 500s pass through, then it opens
        for _ in range(3):
            assert c.request(path="/status/500").status == 500
        wait_state(l7, "app", "be-0", 1)
        before = served(be)
        for _ in range(5):
            r = c.request()
            assert r.status == 503, r.body
        assert served(be) == before, "an open breaker must not contact the server"
    out = l7.ctl("show", "breakers").stdout
    assert "app be-0 open" in out and "reason=consecutive" in out, out
    l7.d.wait_log("breaker app/be-0 closed -> open (consecutive)")
    lines = l7.access_lines(want=8)
    assert sum(1 for x in lines if x["term"] == "breaker_open") == 5
    # open elapses: two good probes close it
    time.sleep(0.4)
    with Client(l7.port) as c:
        for _ in range(2):
            assert c.request().status == 200
    wait_state(l7, "app", "be-0", 0)
    l7.d.wait_log("breaker app/be-0 open -> half_open (open_elapsed)")
    l7.d.wait_log("breaker app/be-0 half_open -> closed (probes_ok)")
    assert l7.metric("strata_l7_breaker_transitions_total", upstream="app", to="open",
                     reason="consecutive") == 1
    assert l7.metric("strata_l7_breaker_transitions_total", to="closed",
                     reason="probes_ok") == 1
    assert l7.metric("strata_l7_breaker_rejected_total", verdict="open") == 5


def test_failed_probe_reopens(daemons, workdir):
    l7, bes = stack(daemons, workdir, {"app": (["be-0"], (
        'retry = { tries = 1; }; breaker = { consecutive = 2; error_percent = 0; '
        'open = "200ms"; half_open_probes = 1; on_open = "fail"; };'))}, ONE)
    with Client(l7.port) as c:
        for _ in range(2):
            assert c.request(path="/status/503").status == 503
        wait_state(l7, "app", "be-0", 1)
        time.sleep(0.3)
        assert c.request(path="/status/500").status == 500  # the probe fails
        wait_state(l7, "app", "be-0", 1)
        assert c.request().status == 503  # open again: not sent
    l7.d.wait_log("breaker app/be-0 half_open -> open (probe_failed)")


def test_error_rate_opens_and_the_next_server_takes_over(daemons, workdir):
    # be-0 dies mid-run: its connect errors open its breaker by error rate
    # and on_open = "next" sends everything to be-1
    l7, bes = stack(daemons, workdir, {"app": (["be-0", "be-1"], (
        'balance = "round_robin"; retry = { tries = 1; }; '
        'breaker = { consecutive = 0; error_percent = 50; min_requests = 10; window = "5s"; '
        'open = "30s"; };'))}, ONE)
    out, errors = load(l7.port, 0.3, conns=2)
    assert errors == 0 and {s for _, s in out} == {"be-0", "be-1"}
    bes["be-0"].stop(signal.SIGKILL)
    failed = 0
    deadline = time.monotonic() + 10
    while breaker_state(l7, "app", "be-0") != 1 and time.monotonic() < deadline:
        with Client(l7.port) as c:
            for _ in range(10):
                failed += c.request().status != 200
    assert breaker_state(l7, "app", "be-0") == 1
    assert failed >= 5  # half of the window, before the trip
    out, errors = load(l7.port, 0.5, conns=2)
    assert errors == 0 and len(out) > 20
    assert all(st == 200 and s == "be-1" for st, s in out), out[:5]
    assert l7.metric("strata_l7_breaker_transitions_total", server="be-0", to="open",
                     reason="error_rate") == 1


def test_slow_backend_opens_by_latency(daemons, workdir):
    l7, bes = stack(daemons, workdir, {"app": (["be-0"], (
        'retry = { tries = 1; }; breaker = { consecutive = 0; error_percent = 0; '
        'latency = "40ms"; latency_percentile = 90; min_requests = 4; window = "10s"; '
        'open = "30s"; on_open = "fail"; };'))}, ONE)
    with Client(l7.port) as c:
        for _ in range(10):
            assert c.request().status == 200  # fast: stays closed
        assert breaker_state(l7, "app", "be-0") == 0
        answers = []
        for _ in range(40):  # the backend slows down
            r = c.request(path="/delay/80")
            answers.append(r.status)
            if r.status == 503:
                break
    # p90 of n requests above 40 ms: more than n - ceil(0.9 n) of them slow
    # (nearest rank), with the ten fast ones in the window too
    assert answers[-1] == 503 and answers.count(200) >= 2, answers
    assert breaker_state(l7, "app", "be-0") == 1
    assert "reason=latency" in l7.ctl("show", "breakers", "app").stdout


def test_stratactl_forces_a_breaker_open_and_closed(daemons, workdir):
    l7, bes = stack(daemons, workdir, {"app": (["be-0", "be-1"], (
        'balance = "round_robin"; breaker = { open = "60s"; };'))}, ONE)
    r = l7.ctl("set", "breaker", "app", "be-0", "open")
    assert "app/be-0: open" in r.stdout
    out, errors = load(l7.port, 0.3, conns=2)
    assert errors == 0 and out and all(s == "be-1" for _, s in out)
    assert breaker_state(l7, "app", "be-0") == 1
    # a reload keeps the server, so its breaker (and its series) too
    l7.d.send(signal.SIGHUP)
    l7.d.wait_log("generation 2")
    assert breaker_state(l7, "app", "be-0") == 1
    assert "app be-0 open" in l7.ctl("show", "breakers").stdout
    l7.ctl("set", "breaker", "app", "be-0", "closed")
    assert breaker_state(l7, "app", "be-0") == 0
    out, errors = load(l7.port, 0.3, conns=2)
    assert errors == 0 and {s for _, s in out} == {"be-0", "be-1"}
    bad = l7.ctl("set", "breaker", "app", "nope", "open", check=False)
    assert bad.returncode != 0 and "no server 'nope'" in bad.stdout + bad.stderr
    assert l7.metric("strata_l7_breaker_transitions_total", server="be-0", reason="admin") == 2


def test_max_requests_fails_fast(daemons, workdir):
    l7, bes = stack(daemons, workdir, {"app": (["be-0"], (
        'breaker = { max_requests = 2; };'))}, ONE)
    res = []

    def slow():
        with Client(l7.port) as c:
            res.append(c.request(path="/delay/600").status)

    ts = [threading.Thread(target=slow) for _ in range(2)]
    for t in ts:
        t.start()
    time.sleep(0.25)
    with Client(l7.port) as c:
        assert c.request().status == 503  # two in flight: no third
    for t in ts:
        t.join()
    assert res == [200, 200]
    with Client(l7.port) as c:
        assert c.request().status == 200
    assert l7.metric("strata_l7_upstream_overflow_total", limit="max_requests") == 1


def test_retry_budget_under_a_failing_backend(daemons, workdir):
    # Both servers fail every request with 502. Without a budget every
    # request is tried twice (`tries`); with an empty budget never more than
    # once; with a small one retries stay under it while many run at once.
    fail = 'retry = { on = [ "502" ]; tries = 2; backoff = "0ms"; %s };'
    l7, bes = stack(daemons, workdir, {
        "free": (["be-0", "be-1"], fail % ""),
        "none": (["be-0", "be-1"], fail % "budget_percent = 0; budget_min = 0;"),
        "small": (["be-0", "be-1"], fail % "budget_percent = 10; budget_min = 1;")},
        '{ name = "free"; match = { query = { name = "u"; value = "free"; }; }; upstream = "free"; },'
        '{ name = "none"; match = { query = { name = "u"; value = "none"; }; }; upstream = "none"; },'
        '{ name = "small"; upstream = "small"; }')

    def total():
        return served(bes["be-0"]) + served(bes["be-1"])

    n = 20
    start = total()
    with Client(l7.port) as c:
        for _ in range(n):
            assert c.request(path="/status/502?u=free").status == 502
    assert total() - start == 2 * n
    start = total()
    with Client(l7.port) as c:
        for _ in range(n):
            assert c.request(path="/status/502?u=none").status == 502
    assert total() - start == n  # no retry at all
    assert l7.metric("strata_l7_retry_budget_exhausted_total", upstream="none") == n
    # many at once: at most one retry in flight (10 % of 8 is below the
    # minimum of 1), so the backends see far fewer than 2x
    start = total()
    out, errors = load(l7.port, 1.0, conns=8, path="/status/502")
    sent = total() - start
    assert errors == 0 and len(out) > 50 and all(st == 502 for st, _ in out)
    assert len(out) <= sent < 1.5 * len(out), (sent, len(out))
    assert l7.metric("strata_l7_retry_budget_exhausted_total", upstream="small") > 0


def test_retries_back_off_with_jitter(daemons, workdir):
    l7, bes = stack(daemons, workdir, {"app": (["be-0", "be-1"], (
        'retry = { on = [ "502" ]; tries = 2; backoff = "20ms"; backoff_max = "20ms"; };'))},
        ONE)
    n = 10
    with Client(l7.port) as c:
        for _ in range(n):
            assert c.request(path="/status/502").status == 502
    assert served(bes["be-0"]) + served(bes["be-1"]) == 2 * n
    # one wait per retry, each uniform in [0, 20 ms]
    assert l7.metric("strata_l7_retry_backoff_seconds_count", upstream="app") == n
    assert 0 <= l7.metric("strata_l7_retry_backoff_seconds_sum", upstream="app") <= 0.02 * n
    assert l7.metric("strata_l7_upstream_retries_total", upstream="app") == n


def test_max_pending_fails_fast_while_connects_hang(daemons, workdir):
    # A server whose accept queue is full: the kernel drops further SYNs, so
    # strata-l7's connects stay pending until the connect timeout.
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(0)
    filler = [socket.create_connection(hung.getsockname(), timeout=2)]
    probe = socket.socket()
    probe.settimeout(0.3)
    try:
        probe.connect(hung.getsockname())
        raise AssertionError("the accept queue is not full")
    except socket.timeout:
        pass
    finally:
        probe.close()
    l7, _ = stack(daemons, workdir, {"app": (["be-0"], (
        'breaker = { max_pending = 2; consecutive = 0; error_percent = 0; }; '
        'retry = { tries = 1; }; timeouts = { connect = "1500ms"; };'))}, ONE)
    text = l7.conf.read_text()
    be_port = int(text.split('address = "127.0.0.1:')[1].split('"')[0])
    l7.conf.write_text(text.replace(f"127.0.0.1:{be_port}", "127.0.0.1:%d" % hung.getsockname()[1]))
    assert "generation 2" in l7.ctl("reload").stdout
    res = []

    def pending():
        with Client(l7.port) as c:
            res.append(c.request().status)

    ts = [threading.Thread(target=pending) for _ in range(2)]
    for t in ts:
        t.start()
    time.sleep(0.3)
    with Client(l7.port) as c:
        assert c.request().status == 503  # two connects pending: no third
    assert all(t.is_alive() for t in ts), "answered before the connects timed out"
    for t in ts:
        t.join()
    assert res == [504, 504], res  # the connect timeout, as documented
    assert l7.metric("strata_l7_upstream_overflow_total", limit="max_pending") == 1
    hung.close()
    for s in filler:
        s.close()
