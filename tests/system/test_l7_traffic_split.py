"""strata-l7 traffic splits end to end (docs/traffic.md "Traffic splits"):
ratios over 10k clients, stickiness by cookie and by PPv2 client address,
a blue/green switch with stratactl under load without a failed request,
forcing a side by header or cookie, run-time weights across reloads."""
import signal
import threading
import time

from l7traffic import Client, load, stack
from l7util import build, ppv2

SIDES = {"blue": (["blue-0"], ""), "green": (["green-0"], "")}


def split_route(blue, green, extra=""):
    return ('{ name = "app"; split = { sides = ( '
            f'{{ upstream = "blue"; weight = {blue}; }}, {{ upstream = "green"; weight = {green}; }} ); '
            f'{extra} }}; }}')


def test_canary_ratio_over_10k_cookie_clients(daemons, workdir):
    l7, _ = stack(daemons, workdir, SIDES, split_route(30, 70, 'sticky = "cookie:sid";'))
    per = {"blue": 0, "green": 0}
    n = 10000
    lock = threading.Lock()

    def run(first):
        mine = {"blue": 0, "green": 0}
        with Client(l7.port) as c:
            for base in range(first, first + n // 4, 100):  # pipelined, 100 at a time
                c.send(b"".join(build(headers=[("Cookie", f"a=1; sid=user-{i}")])
                                for i in range(base, base + 100)))
                for _ in range(100):
                    r = c.response()
                    assert r.status == 200
                    mine[r.json()["server"].split("-")[0]] += 1
        with lock:
            for k in mine:
                per[k] += mine[k]

    ts = [threading.Thread(target=run, args=(k * n // 4,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert per["blue"] + per["green"] == n
    assert abs(per["blue"] / n - 0.30) <= 0.02, per
    assert l7.metric("strata_l7_split_requests_total", route="app", why="cookie") == n
    assert l7.metric("strata_l7_split_requests_total", side="blue") == per["blue"]
    # a client stays on its side
    with Client(l7.port) as c:
        seen = {c.request(headers=[("Cookie", "sid=user-7")]).json()["server"]
                for _ in range(20)}
    assert len(seen) == 1
    assert "app blue=30 [0,3000) green=70 [3000,10000)" in l7.ctl("show", "splits").stdout


def test_ratio_and_stickiness_by_ppv2_client_address(daemons, workdir):
    l7, _ = stack(daemons, workdir, SIDES, split_route(50, 50), proxy="required")
    first = {}
    for i in range(600):
        src = f"10.77.{i // 200}.{i % 200 + 1}"
        with Client(l7.port, preamble=ppv2((src, 5000 + i))) as c:
            first[src] = c.request().json()["server"]
    blue = sum(1 for s in first.values() if s == "blue-0")
    assert 0.40 <= blue / len(first) <= 0.60, blue  # 600 clients: a loose band
    # the same address lands on the same side, whatever its port
    for src in list(first)[:50]:
        with Client(l7.port, preamble=ppv2((src, 9999))) as c:
            assert c.request().json()["server"] == first[src]
    assert l7.metric("strata_l7_split_requests_total", why="client_ip") == 650


def test_blue_green_switch_under_load_fails_no_request(daemons, workdir):
    l7, _ = stack(daemons, workdir, SIDES, split_route(100, 0))
    res = {}
    t = threading.Thread(target=lambda: res.update(v=load(l7.port, 2.5, conns=6)))
    t.start()
    time.sleep(1.0)
    l7.ctl("set", "split", "app", "blue=0,green=100")
    switched = time.monotonic()
    t.join()
    out, errors = res["v"]
    assert errors == 0 and len(out) > 300
    assert all(st == 200 for st, _ in out), [x for x in out if x[0] != 200][:5]
    sides = [s for _, s in out]
    assert sides[0] == "blue-0" and sides[-1] == "green-0"
    assert "blue-0" in sides[: len(sides) // 4] and "green-0" not in sides[: len(sides) // 4]
    # after the switch, every request goes to green
    with Client(l7.port) as c:
        assert {c.request().json()["server"] for _ in range(50)} == {"green-0"}
    assert time.monotonic() > switched
    assert l7.metric("strata_l7_split_requests_total", side="green") > 0
    assert "app blue=0 [0,0) green=100 [0,10000)" in l7.ctl("show", "splits").stdout
    assert l7.metric("strata_l7_split_weight", route="app", side="green") == 100
    assert l7.metric("strata_l7_split_weight", route="app", side="blue") == 0


def test_forcing_a_side_by_header_and_cookie(daemons, workdir):
    l7, _ = stack(daemons, workdir, SIDES, split_route(
        100, 0, 'force_header = "X-Strata-Side"; force_cookie = "strata_side";'))

    def side(headers):
        with Client(l7.port) as c:
            return c.request(headers=headers).json()["server"]

    assert side([]) == "blue-0"
    assert side([("X-Strata-Side", "green")]) == "green-0"  # even at weight 0
    assert side([("X-Strata-Side", "GREEN")]) == "green-0"  # names are caseless
    assert side([("Cookie", "x=1; strata_side=green")]) == "green-0"
    # the header wins over the cookie; an unknown name is ignored
    assert side([("X-Strata-Side", "blue"), ("Cookie", "strata_side=green")]) == "blue-0"
    assert side([("X-Strata-Side", "purple")]) == "blue-0"
    whys = [x.get("split") for x in l7.access_lines(want=6)]
    assert whys.count("header_forced") == 3 and whys.count("cookie_forced") == 1


def test_run_time_weights_survive_a_reload_that_keeps_them(daemons, workdir):
    l7, _ = stack(daemons, workdir, SIDES, split_route(100, 0))
    l7.ctl("set", "split", "app", "green=100,blue=0")
    bad = l7.ctl("set", "split", "app", "blue=0", check=False)  # green is 100 already: fine
    assert bad.returncode == 0
    bad = l7.ctl("set", "split", "app", "green=0", check=False)
    assert bad.returncode != 0  # both at 0: refused, weights unchanged
    bad = l7.ctl("set", "split", "app", "gren=5", check=False)
    assert bad.returncode != 0
    l7.d.send(signal.SIGHUP)
    l7.d.wait_log("generation 2")
    with Client(l7.port) as c:
        assert c.request().json()["server"] == "green-0"
    # a reload that changes the configured weights applies them
    l7.conf.write_text(l7.conf.read_text().replace("weight = 100;", "weight = 0;", 1)
                       .replace("weight = 0; } );", "weight = 100; } );", 1))
    l7.d.send(signal.SIGHUP)
    l7.d.wait_log("generation 3")
    assert "app blue=0 [0,0) green=100 [0,10000)" in l7.ctl("show", "splits").stdout
