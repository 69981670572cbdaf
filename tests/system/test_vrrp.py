"""strata-vrrp in network namespaces: election, failover as a client sees
it, preempt / nopreempt, trackers, unicast, split brain, observability.

Topology and probe: vrrp_lab.py. Every namespace is removed at the end of
its test, whatever happens.
"""
import os
import signal
import subprocess
import time

import pytest

from conftest import binary
from netns import topology  # noqa: F401  (fixture)
from vrrp_lab import (VIP4, VIP6, Lab, advert4, inject, instance, outage, vrrp_config)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces")

MDI_100 = 0.3 + (256 - 100) * 0.1 / 256  # Master_Down_Interval of a priority-100 backup


@pytest.fixture
def lab(topology, workdir, daemons):
    return Lab(topology, workdir, daemons)


def start_pair(lab, workdir, a_prio=200, b_prio=100, a_kw=None, b_kw=None, **common):
    conf_a = vrrp_config(workdir, "a", [instance(priority=a_prio, **common, **(a_kw or {}))])
    conf_b = vrrp_config(workdir, "b", [instance(priority=b_prio, **common, **(b_kw or {}))])
    lab.service("a")
    lab.service("b")
    va = lab.vrrp("a", conf_a)
    vb = lab.vrrp("b", conf_b)
    return va, vb


def test_higher_priority_is_elected_and_holds_the_vip(lab, workdir):
    va, vb = start_pair(lab, workdir)
    lab.wait_state("a", "MASTER")
    lab.wait_state("b", "BACKUP")
    time.sleep(0.3)
    assert lab.holders() == ["a"]
    answers = lab.probe(0.5).result()
    assert answers and {a[2] for a in answers} == {"a"}


def test_sigkill_of_master_moves_vip_within_master_down_interval(lab, workdir):
    va, vb = start_pair(lab, workdir)
    lab.wait_state("a", "MASTER")
    lab.wait_state("b", "BACKUP")
    probe = lab.probe(5, stop_after="b")
    time.sleep(0.5)
    t_kill = time.monotonic()
    va.send(signal.SIGKILL)
    answers = probe.result()
    lost = outage(answers, t_kill, "b")
    print(f"\nstrata-vrrp hard failure (SIGKILL), client outage: {lost * 1000:.0f} ms "
          f"(Master_Down_Interval {MDI_100 * 1000:.0f} ms)")
    assert lost < 0.6
    assert lab.state("b") == "MASTER"
    assert lab.has_vip("b")


def test_graceful_stop_sends_priority_zero_and_moves_vip_fast(lab, workdir):
    va, vb = start_pair(lab, workdir)
    lab.wait_state("a", "MASTER")
    lab.wait_state("b", "BACKUP")
    probe = lab.probe(5, stop_after="b")
    time.sleep(0.5)
    t_stop = time.monotonic()
    va.send(signal.SIGTERM)
    answers = probe.result()
    lost = outage(answers, t_stop, "b")
    print(f"\nstrata-vrrp graceful stop (priority 0), client outage: {lost * 1000:.0f} ms")
    assert lost < 0.2
    assert va.proc.wait(5) == 0
    assert "resigning" in va.text()
    assert not lab.has_vip("a")  # removed on the way out
    lab.wait_state("b", "MASTER")


def test_strata_l4_death_on_master_moves_vip_fast(lab, workdir):
    trackers = [{"name": "l4", "type": "strata-l4", "pid_file": f"{workdir}/l4-{n}.pid",
                 "admin_socket": f"{workdir}/l4-{n}.sock", "interval": "200ms",
                 "timeout": "100ms"} for n in ("a", "b")]
    svc_a = lab.service("a", pid_file=f"{workdir}/l4-a.pid", admin=f"{workdir}/l4-a.sock")
    lab.service("b", pid_file=f"{workdir}/l4-b.pid", admin=f"{workdir}/l4-b.sock")
    time.sleep(0.3)
    va = lab.vrrp("a", vrrp_config(workdir, "a", [instance(priority=200, track=["l4"])],
                                   trackers=[trackers[0]]))
    lab.vrrp("b", vrrp_config(workdir, "b", [instance(priority=100, track=["l4"])],
                              trackers=[trackers[1]]))
    lab.wait_state("a", "MASTER")
    lab.wait_state("b", "BACKUP")
    va.wait_log(f"watching strata-l4 pid {svc_a.pid}")
    probe = lab.probe(5, stop_after="b")
    time.sleep(0.5)
    t_kill = time.monotonic()
    os.kill(svc_a.pid, signal.SIGKILL)
    answers = probe.result()
    lost = outage(answers, t_kill, "b")
    print(f"\nstrata-l4 killed on the master, client outage: {lost * 1000:.0f} ms")
    assert lost < 0.2
    lab.wait_state("a", "FAULT")
    assert not lab.has_vip("a")
    # strata-l4 comes back: the pid file is seen (inotify), A leaves FAULT
    # and, being preferred, takes the VIP back.
    lab.service("a", pid_file=f"{workdir}/l4-a.pid", admin=f"{workdir}/l4-a.sock")
    lab.wait_state("a", "MASTER", timeout=5)
    lab.wait_state("b", "BACKUP")


def test_real_strata_l4_death_moves_vip_fast(lab, workdir):
    # The real strata-l4 serves the VIP on both nodes; the tracker has no
    # pid file and learns strata-l4's PID from its admin socket.
    la, sock_a = lab.strata_l4("a")
    lb, sock_b = lab.strata_l4("b")
    for n, prio, sock in (("a", 200, sock_a), ("b", 100, sock_b)):
        tracker = {"name": "l4", "type": "strata-l4", "admin_socket": str(sock),
                   "interval": "200ms", "timeout": "100ms"}
        lab.vrrp(n, vrrp_config(workdir, n, [instance(priority=prio, track=["l4"])],
                                trackers=[tracker]))
    lab.wait_state("a", "MASTER")
    lab.wait_state("b", "BACKUP")
    lab.vrrps["a"].wait_log(f"watching strata-l4 pid {la.pid}")
    # The first probe is answered before the instances start: no FAULT
    # while strata-l4 was fine all along.
    assert "-> FAULT" not in lab.vrrps["a"].text()
    answers = lab.probe(0.5).result()
    assert answers and {a[2] for a in answers} == {"a"}  # through strata-l4
    probe = lab.probe(5, stop_after="b")
    time.sleep(0.5)
    t_kill = time.monotonic()
    la.send(signal.SIGKILL)
    lost = outage(probe.result(), t_kill, "b")
    print(f"\nreal strata-l4 killed on the master, client outage: {lost * 1000:.0f} ms")
    assert lost < 0.2, lab.logs()
    lab.wait_state("a", "FAULT")
    assert lab.holders() == ["b"]


def test_preempt_higher_priority_takes_vip_back(lab, workdir):
    conf_a = vrrp_config(workdir, "a", [instance(priority=200)])
    va, vb = start_pair(lab, workdir)
    lab.wait_state("a", "MASTER")
    va.stop()
    lab.wait_state("b", "MASTER")
    va2 = lab.vrrp("a", conf_a, name="vrrp-a-again")
    lab.wait_state("a", "MASTER", timeout=3)
    lab.wait_state("b", "BACKUP")
    assert lab.holders() == ["a"]
    assert va2.alive()


def test_nopreempt_keeps_current_master(lab, workdir):
    va, vb = start_pair(lab, workdir, a_kw={"preempt": False})
    lab.wait_state("a", "MASTER")
    va.stop()
    lab.wait_state("b", "MASTER")
    conf_a = vrrp_config(workdir, "a", [instance(priority=200, preempt=False)])
    lab.vrrp("a", conf_a, name="vrrp-a-again")
    lab.wait_state("a", "BACKUP")
    time.sleep(1.5)  # several Master_Down_Intervals
    assert lab.state("a") == "BACKUP"
    assert lab.state("b") == "MASTER"
    assert lab.holders() == ["b"]


def test_preempt_delay_waits_before_taking_over(lab, workdir):
    va, vb = start_pair(lab, workdir, a_kw={"preempt_delay": "1500ms"})
    lab.wait_state("a", "MASTER")
    va.stop()
    lab.wait_state("b", "MASTER")
    conf_a = vrrp_config(workdir, "a", [instance(priority=200, preempt_delay="1500ms")])
    t0 = time.monotonic()
    lab.vrrp("a", conf_a, name="vrrp-a-again")
    lab.wait_state("a", "BACKUP")
    lab.wait_state("a", "MASTER", timeout=5)
    waited = time.monotonic() - t0
    assert 1.5 <= waited < 3.0, waited


def test_failing_script_tracker_lowers_priority_and_moves_vip(lab, workdir):
    flag = workdir / "healthy"
    flag.write_text("ok")
    tracker = {"name": "chk", "type": "script", "command": f"test -f {flag}",
               "interval": "100ms", "timeout": "1s", "fall": 2, "rise": 2, "weight": -150}
    lab.service("a")
    lab.service("b")
    lab.vrrp("a", vrrp_config(workdir, "a", [instance(priority=200, track=["chk"])],
                              trackers=[tracker]))
    lab.vrrp("b", vrrp_config(workdir, "b", [instance(priority=100)]))
    lab.wait_state("a", "MASTER")
    lab.wait_state("b", "BACKUP")
    flag.unlink()
    # priority 200 - 150 = 50 < 100: B preempts after Master_Down_Interval.
    lab.wait_state("b", "MASTER", timeout=3)
    lab.wait_state("a", "BACKUP")
    assert lab.holders() == ["b"]
    flag.write_text("ok")
    lab.wait_state("a", "MASTER", timeout=3)


def test_interface_tracker_down_puts_master_in_fault(lab, workdir, topology):
    # A second link on A, as an uplink whose loss must move the VIP.
    up = topology.node("up")
    topology.veth(lab.ns["a"], "uplink", up, "eth0")
    tracker = {"name": "uplink", "type": "interface", "interface": "uplink"}
    lab.service("a")
    lab.service("b")
    lab.vrrp("a", vrrp_config(workdir, "a", [instance(priority=200, track=["uplink"])],
                              trackers=[tracker]))
    lab.vrrp("b", vrrp_config(workdir, "b", [instance(priority=100)]))
    lab.wait_state("a", "MASTER")
    probe = lab.probe(5, stop_after="b")
    time.sleep(0.3)
    t0 = time.monotonic()
    up.link_set("eth0", "down")  # carrier lost on A's uplink
    lost = outage(probe.result(), t0, "b")
    assert lost < 0.3
    lab.wait_state("a", "FAULT")
    up.link_set("eth0", "up")
    lab.wait_state("a", "MASTER", timeout=3)


def test_own_interface_down_means_fault(lab, workdir):
    va, vb = start_pair(lab, workdir)
    lab.wait_state("a", "MASTER")
    lab.ns["a"].link_set("eth0", "down")
    lab.wait_state("a", "FAULT")
    lab.wait_state("b", "MASTER")
    lab.ns["a"].link_set("eth0", "up")
    lab.wait_state("a", "MASTER", timeout=3)
    lab.wait_state("b", "BACKUP")


def test_unicast_peers_elect_and_fail_over(lab, workdir):
    peers = {"a": "10.77.1.2", "b": "10.77.1.1"}
    conf = {n: vrrp_config(workdir, n, [instance(priority=p, unicast_peers=[peers[n]])])
            for n, p in (("a", 200), ("b", 100))}
    lab.service("a")
    lab.service("b")
    va = lab.vrrp("a", conf["a"])
    vb = lab.vrrp("b", conf["b"])
    lab.wait_state("a", "MASTER")
    lab.wait_state("b", "BACKUP")
    # An advert from a host that is not a peer is dropped and counted.
    inject(lab.ns["c"], [advert4("10.77.1.9", "10.77.1.2", 51, 254, [VIP4])] * 3)
    time.sleep(1.2)  # counters reach /metrics once a second
    assert lab.state("b") == "BACKUP"
    assert 'strata_vrrp_bad_packets_total{instance="VI_1",reason="unknown_peer"} 3' in \
        lab.metrics(vb)
    probe = lab.probe(5, stop_after="b")
    time.sleep(0.3)
    t_kill = time.monotonic()
    va.send(signal.SIGKILL)
    lost = outage(probe.result(), t_kill, "b")
    assert lost < 0.6, lab.logs()


def test_ipv6_unicast_peers(lab, workdir):
    peers = {"a": "fd77:1::2", "b": "fd77:1::1"}
    vips = [VIP6 + "/64"]
    for n, p in (("a", 200), ("b", 100)):
        lab.service(n, vip=VIP6)
        lab.vrrp(n, vrrp_config(workdir, n, [instance(vrid=53, priority=p, vips=vips,
                                                       unicast_peers=[peers[n]])]))
    lab.wait_state("a", "MASTER")
    lab.wait_state("b", "BACKUP")
    time.sleep(0.5)  # several adverts: B keeps hearing A, unicast, global source
    assert lab.state("b") == "BACKUP"
    assert lab.holders(VIP6) == ["a"]
    probe = lab.probe(5, stop_after="b", vip=VIP6)
    time.sleep(0.3)
    t_kill = time.monotonic()
    lab.vrrps["a"].send(signal.SIGKILL)
    assert outage(probe.result(), t_kill, "b") < 0.6, lab.logs()


def test_split_brain_heals_to_one_master(lab, workdir):
    va, vb = start_pair(lab, workdir)
    lab.wait_state("a", "MASTER")
    lab.wait_state("b", "BACKUP")
    lab.cut("b")
    lab.wait_state("b", "MASTER", timeout=2)  # B cannot hear A: both masters
    assert lab.state("a") == "MASTER"
    t0 = time.monotonic()
    lab.mend("b")
    lab.wait_state("b", "BACKUP", timeout=MDI_100)
    healed = time.monotonic() - t0
    print(f"\nsplit brain healed in {healed * 1000:.0f} ms")
    masters = [n for n in ("a", "b") if lab.state(n) == "MASTER"]
    assert masters == ["a"]
    time.sleep(2 * MDI_100)
    assert [n for n in ("a", "b") if lab.state(n) == "MASTER"] == ["a"]
    assert lab.holders() == ["a"]


def test_ipv6_election_failover_and_unsolicited_na(lab, workdir):
    vips = [VIP6 + "/64"]
    conf_a = vrrp_config(workdir, "a", [instance(vrid=52, priority=200, vips=vips)])
    conf_b = vrrp_config(workdir, "b", [instance(vrid=52, priority=100, vips=vips)])
    lab.service("a", vip=VIP6)
    lab.service("b", vip=VIP6)
    va = lab.vrrp("a", conf_a)
    lab.vrrp("b", conf_b)
    lab.wait_state("a", "MASTER")
    lab.wait_state("b", "BACKUP")
    assert lab.holders(VIP6) == ["a"]
    probe = lab.probe(5, stop_after="b", vip=VIP6)
    time.sleep(0.5)
    t_kill = time.monotonic()
    va.send(signal.SIGKILL)
    lost = outage(probe.result(), t_kill, "b")
    print(f"\nIPv6 hard failure, client outage: {lost * 1000:.0f} ms")
    assert lost < 0.6
    # The client's neighbour entry now names B's MAC: the NA overrode it.
    mac_b = lab.ns["b"].ip("-o", "link", "show", "eth0").stdout.split("link/ether ")[1].split()[0]
    neigh = lab.ns["c"].ip("-6", "neigh", "show", VIP6).stdout
    assert mac_b in neigh
