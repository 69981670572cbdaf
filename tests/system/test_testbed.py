"""The namespace testbed end to end: `up`, the client's address through both
tiers, the l4-hard, l4-graceful (fresh and keep-alive clients), l7-loss,
reload and drain drills with the figures the issue asks for, the report,
and `down` leaving nothing behind.

The testbed's namespace names are fixed, so the module holds the machine-
wide testbed lock from start to end (waiting up to 5 minutes for another
testbed command to finish) and always tears down. Its state (PID files,
logs, drill results) lives in $STRATA_BUILD/testbed-state, so a developer's
run/testbed/ and docs/drills.md are left alone. The drills run with
--quick load phases (2 s before the fault, 4 s after).
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import BIN, CRASH_MARKERS, ROOT

STATE = BIN.parent / "testbed-state"
os.environ["STRATA_TESTBED_RUN"] = str(STATE)
os.environ["STRATA_BUILD"] = str(BIN.parent)
sys.path.insert(0, str(ROOT / "testbed"))

import tb_bed  # noqa: E402
import tb_drills  # noqa: E402
import tb_lock  # noqa: E402
import tb_net  # noqa: E402
import tb_proc  # noqa: E402
import tb_report  # noqa: E402
import tb_topo  # noqa: E402

CLI = str(ROOT / "testbed" / "testbed")
CLI_ENV = dict(os.environ, STRATA_TESTBED_LOCKED="1")
ROOT_STATE = {}


def root_links():
    out = subprocess.run([tb_net.IP, "-o", "link", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def our_namespaces():
    return [ns for ns in tb_net.listed() if ns in tb_topo.NAMESPACES]


def cli(*args, timeout=120):
    return subprocess.run([CLI] + list(args), capture_output=True, text=True, env=CLI_ENV,
                          timeout=timeout)


@pytest.fixture(scope="module", autouse=True)
def bed():
    assert os.geteuid() == 0, "the testbed needs root (namespaces, raw sockets)"
    with tb_lock.Lock("tests/system/test_testbed.py", wait=300):
        tb_bed.down(verbose=False)  # whatever an interrupted run left
        shutil.rmtree(STATE, ignore_errors=True)
        ROOT_STATE["links"] = root_links()
        try:
            tb_bed.up(verbose=False)
            yield
        finally:
            tb_bed.down(verbose=False)
            shutil.rmtree(STATE, ignore_errors=True)


def test_up_again_is_idempotent_and_status_names_the_master():
    pids = {d.name: tb_proc.pid_of(d) for d in tb_topo.daemons()}
    res = cli("up")
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("running (pid") == len(pids), res.stdout
    assert {d.name: tb_proc.pid_of(d) for d in tb_topo.daemons()} == pids
    res = cli("status", "--full")
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert "VIP 10.77.0.100 held by: lb-a\n" in out
    assert "vrrp-a  VI_1 MASTER, priority 200" in out and "vrrp-b  VI_1 BACKUP" in out, out
    for node in ("l4-a", "l4-b"):
        line = next(x for x in out.splitlines() if x.startswith(node + " "))
        assert "L7 instances: l7-a up 0 active, l7-b up 0 active, l7-c up 0 active" in line
    for l7 in tb_topo.L7:
        line = next(x for x in out.splitlines() if x.startswith(l7 + " "))
        assert "backends: be-1 up 0 active, be-2 up 0 active, be-3 up 0 active" in line, line
    assert out.count("requests served") == 3
    # --full adds stratactl's own tables: 3 instances at each L4 node.
    assert out.count("\nhttp 10.77.2.1") == 6


def test_client_addresses_cross_both_tiers():
    seen = {}
    for client in tb_topo.CLIENTS[:6]:
        status, _, body = tb_net.http_get("st-client", tb_topo.VIP, tb_topo.VIP_PORT, "/who",
                                          source=client)
        assert status == 200
        doc = json.loads(body)
        hdr = {k.lower(): v for k, v in doc["headers"]}
        assert hdr["x-forwarded-for"] == client
        assert hdr["x-real-ip"] == client
        assert hdr["x-request-id"].startswith("l4-a-")  # the VRRP master's L4 answered
        assert hdr["x-strata-l7"] in tb_topo.L7
        assert doc["conn"]["peer"].split(":")[0] == tb_topo.L7[hdr["x-strata-l7"]]
        seen[client] = hdr["x-strata-l7"]
    # Maglev on the client address: asking again gives the same instance.
    for client, l7 in seen.items():
        _, _, body = tb_net.http_get("st-client", tb_topo.VIP, tb_topo.VIP_PORT, "/who",
                                     source=client)
        assert f'["X-Strata-L7","{l7}"]' in body.decode()


def test_l4_hard():
    r = tb_drills.run("l4-hard", quick=True)
    v = r["values"]
    assert v["takeover_s"] is not None and v["takeover_s"] < 1.0, r["figures"]
    assert v["first_answer_b_s"] is not None and v["first_answer_b_s"] < 1.5, r["figures"]
    assert v["failed_elsewhere"] == 0, r["figures"]
    assert v["failed"] <= v["in_flight_at_kill"] + v["sent_to_dead_node"]
    assert v["clients_compared"] >= 25, r["figures"]
    assert v["kept_l7_share"] >= 0.95, r["figures"]
    assert tb_bed.vrrp_state("a") == "MASTER" and tb_bed.vip_holders() == ["a"]


def test_l4_graceful():
    r = tb_drills.run("l4-graceful", quick=True)
    v = r["values"]
    # Zero: strata-l4 drops new SYNs (the clients repeat them to lb-b) and
    # strata-vrrp resigns only once strata-l4 has nothing open.
    assert v["failed"] == 0, r["figures"]
    assert v["requests"] >= 1000, r["figures"]
    assert v["resign_why"].startswith("strata-l4 has nothing open"), r["figures"]
    assert v["takeover_s"] is not None and v["takeover_s"] < 1.0, r["figures"]
    assert v["kept_l7_share"] >= 0.95, r["figures"]
    # strata-l4 left when the VIP did, not at drain_linger or drain_timeout.
    assert v["drain_end"] == "nothing open and every listen address left this host", r["figures"]
    assert v["drain_cut"] == 0 and v["drain_s"] < 6.0, r["figures"]


def test_l4_graceful_keepalive():
    r = tb_drills.run("l4-graceful-ka", quick=True)
    v = r["values"]
    # Kept connections are closed at a switch during the drain; the load
    # generator repeats such a request once on a new connection (counted in
    # `retried`, a success when the repeat succeeds). Nothing else fails.
    assert v["failed"] == 0, r["figures"]
    assert v["retried"] > 0, r["figures"]
    assert v["resign_why"].startswith("strata-l4 has nothing open"), r["figures"]
    assert v["drain_cut"] == 0, r["figures"]


def test_l7_loss():
    r = tb_drills.run("l7-loss", quick=True)
    v = r["values"]
    assert v["detection_s"] is not None and v["detection_s"] < 1.0, r["figures"]
    assert v["failed_after_kill"] == 0, r["figures"]
    assert v["failed"] <= v["in_flight_at_kill"], r["figures"]
    assert v["kept_l7_share"] >= 0.95, r["figures"]


def test_reload():
    r = tb_drills.run("reload", quick=True)
    v = r["values"]
    assert v["failed"] == 0, r["figures"]
    assert all(n >= 3 for n in v["reloaded"].values()), v["reloaded"]
    assert v["same_pid"] == 7 and not v["vip_moved"]


def test_drain():
    r = tb_drills.run("drain", quick=True)
    v = r["values"]
    assert v["failed"] == 0, r["figures"]
    assert v["l7_out_s"] is not None and v["l7_out_s"] < 2.0
    assert v["new_conns_on_drained_l7"] == 0 and v["on_drained_be"] == 0, r["figures"]
    assert v["ka_on_drained_l7"] > 0  # its keep-alive clients were not cut off


def test_report_has_every_drill_run_and_its_timeline(tmp_path):
    md = tb_report.write(tmp_path).read_text()
    for name in ("l4-hard", "l4-graceful", "l4-graceful-ka", "l7-loss", "reload", "drain"):
        assert f"## {name}" in md
        png = tmp_path / "drills" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.stat().st_size > 5000
    assert "VIP takeover (fault -> VIP on lb-b)" in md


def test_no_daemon_crashed():
    for d in tb_topo.daemons():
        text = d.log.read_text(errors="replace")
        for marker in CRASH_MARKERS:
            assert marker not in text, f"{d.name}: {marker}\n{text[-3000:]}"


def test_down_after_a_crash_halfway_leaves_nothing_in_the_root_namespace():
    res = cli("down")
    assert res.returncode == 0, res.stderr
    assert our_namespaces() == []
    # An `up` that died halfway: the network, one daemon, and its PID file lost.
    tb_bed.build_network()
    tb_proc.start(tb_topo.daemon("be-1"))
    tb_topo.daemon("be-1").pid_file.unlink()
    assert tb_net.pids("st-be-1")
    res = cli("down")
    assert res.returncode == 0, res.stderr
    assert "killed leftover pid" in res.stdout
    assert our_namespaces() == []
    res = cli("down")
    assert res.returncode == 0 and "nothing was up" in res.stdout
    assert root_links() == ROOT_STATE["links"]
