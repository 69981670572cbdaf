"""strata-l7 operations: reload under load with zero failed requests, a bad
config changes nothing, SIGTERM drain, SIGINT, metrics, privileges."""
import grp
import os
import pwd
import signal
import stat
import subprocess
import threading
import time
import urllib.request

from conftest import binary, free_port, wait_tcp
from l7util import Client, HOST, get, l7_conf, simple_stack, start_echo, start_l7
from test_l7_upstream import steady_load


def test_reload_under_load_fails_no_request(daemons, workdir):
    l7, bes = simple_stack(daemons, workdir, n_backends=2)
    res = {}
    t = threading.Thread(target=lambda: res.update(v=steady_load(l7.port, 3.0, conns=6)))
    t.start()
    for i in range(6):
        time.sleep(0.4)
        # alternate one server / both servers, with a new route each time
        servers = [(b.name, b.port, "") for b in bes[: 1 + i % 2]]
        routes = (f'{{ name = "r{i}"; match = {{ path = "/r{i}"; }}; '
                  f'respond = {{ status = 200; body = "r{i}"; }}; }}, '
                  '{ name = "all"; upstream = "echo"; }')
        l7.conf.write_text(l7_conf(workdir, l7.port, {
            "echo": (servers, "health = { enabled = false; };")}, routes=routes))
        l7.d.send(signal.SIGHUP)
    t.join()
    ok, failed = res["v"]
    assert failed == 0 and ok > 300
    l7.d.wait_log("generation 7")
    assert get(l7.port, "/r5").body == b"r5"
    assert l7.metric("strata_l7_config_reloads_total", result="ok") == 6


def test_bad_config_on_reload_changes_nothing(daemons, workdir):
    l7, (be,) = simple_stack(daemons, workdir)
    good = l7.conf.read_text()
    l7.conf.write_text(good.replace('upstreams = (', 'upstreams = ( { nme = "x"; },'))
    r = l7.ctl("reload", check=False)
    assert r.returncode == 1
    assert f"{l7.conf}:" in r.stderr and "nme" in r.stderr
    l7.d.send(signal.SIGHUP)
    l7.d.wait_log("reload failed, keeping the running configuration")
    assert get(l7.port).status == 200
    assert l7.metric("strata_l7_config_reloads_total", result="failed") == 2
    assert "generation 1" in l7.ctl("show", "stats").stdout


def test_sigterm_drains_in_flight_requests_and_closes_idle_ones(daemons, workdir):
    l7, (be,) = simple_stack(daemons, workdir)
    idle = Client(l7.port)
    assert idle.request().status == 200
    busy = Client(l7.port)
    busy.send(b"GET /delay/700 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.2)
    t0 = time.monotonic()
    l7.d.send(signal.SIGTERM)
    assert idle.at_eof(timeout=2)
    r = busy.response()
    assert r.status == 200 and r.header("connection") == "close"
    assert busy.at_eof(timeout=2)
    assert l7.d.proc.wait(5) == 0
    assert time.monotonic() - t0 < 2.5
    # no new connections once draining
    try:
        with Client(l7.port, timeout=1) as c:
            c.request()
        refused = False
    except (OSError, EOFError):
        refused = True
    assert refused


def test_drain_timeout_bounds_the_exit(daemons, workdir):
    l7, _ = simple_stack(daemons, workdir, top_extra='timeouts = { drain = "500ms"; };')
    c = Client(l7.port)
    c.send(b"GET /delay/5000 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.2)
    t0 = time.monotonic()
    l7.d.send(signal.SIGTERM)
    assert l7.d.proc.wait(5) == 0
    assert time.monotonic() - t0 < 2
    c.close()


def test_sigint_exits_at_once(daemons, workdir):
    l7, _ = simple_stack(daemons, workdir)
    c = Client(l7.port)
    c.send(b"GET /delay/5000 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.2)
    t0 = time.monotonic()
    l7.d.send(signal.SIGINT)
    assert l7.d.proc.wait(5) == 0
    assert time.monotonic() - t0 < 1.5
    c.close()


def test_metrics_endpoint_and_admin_views(daemons, workdir):
    mport = free_port()
    l7, (be,) = simple_stack(daemons, workdir,
                             top_extra=f'metrics = {{ listen = "127.0.0.1:{mport}"; }};')
    for _ in range(5):
        assert get(l7.port).status == 200
    get(l7.port, "/status/503")
    text = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=5).read().decode()
    assert 'strata_l7_requests_total{route="all",class="2xx"} 5' in text
    assert 'strata_l7_upstream_requests_total{upstream="echo",server="be-0",class="5xx"} 1' in text
    conns = [x for x in text.splitlines() if x.startswith('strata_l7_connections_total{listener="main"}')]
    assert conns and float(conns[0].split()[-1]) >= 6
    assert "strata_l7_request_duration_seconds_bucket" in text
    assert "strata_l7_upstream_pool_hits_total" in text
    for cmd in (["show", "upstreams"], ["show", "servers"], ["show", "listeners"],
                ["show", "stats"], ["help"]):
        assert l7.ctl(*cmd).stdout
    assert "be-0" in l7.ctl("show", "servers").stdout
    assert "main" in l7.ctl("show", "listeners").stdout


def test_privileges_are_dropped_after_binding(daemons, workdir):
    if os.geteuid() != 0:
        raise AssertionError("this test needs root (it checks the switch to nobody)")
    be = start_echo(daemons, "be")
    port = free_port()
    group = grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
    os.chmod(workdir, 0o755)
    text = l7_conf(workdir, port, {"a": ([("be", be.port, "")], "health = { enabled = false; };")},
                   top_extra=f'user = "nobody"; group = "{group}";')
    text = text.replace(f'admin = {{ socket = "{workdir / "l7.sock"}"; }};',
                        f'admin = {{ socket = "{workdir / "l7.sock"}"; group = "{group}"; }};')
    l7 = start_l7(daemons, workdir, text, port)
    assert get(port).status == 200
    status = open(f"/proc/{l7.d.pid}/status").read()
    uid_line = [x for x in status.splitlines() if x.startswith("Uid:")][0]
    assert uid_line.split()[1:] == [str(pwd.getpwnam("nobody").pw_uid)] * 4
    st = os.stat(l7.sock)
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert st.st_gid == grp.getgrnam(group).gr_gid
    assert "be" in l7.ctl("show", "servers").stdout


def test_check_mode_reports_file_and_line(workdir):
    bad = workdir / "bad.conf"
    bad.write_text('listeners = ( { name = "x"; listen = [ "127.0.0.1:1" ]; proxy_protocol = "sometimes"; } );\n'
                   'upstreams = ( );\nroutes = ( );\n')
    r = subprocess.run([binary("strata-l7"), "-t", "-c", str(bad)], capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.startswith(f"{bad}:1:")
