"""strata-vrrp for operators: stratactl, /metrics, state file, notify
script, refused packets, privileges, start-up errors, virtual MAC, sync
groups and `-t`.
"""
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import binary
from netns import topology  # noqa: F401  (fixture)
from vrrp_lab import VIP4, Lab, advert4, inject, instance, outage, vrrp_config

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces")


@pytest.fixture
def lab(topology, workdir, daemons):
    return Lab(topology, workdir, daemons)


def pair(lab, workdir, a=None, b=None, **kw):
    lab.service("a")
    lab.service("b")
    # a is master before b starts: on a loaded machine b could otherwise win
    # the first election and hand over (three transitions instead of one).
    va = lab.vrrp("a", vrrp_config(workdir, "a", a or [instance(priority=200)], **kw))
    lab.wait_state("a", "MASTER")
    vb = lab.vrrp("b", vrrp_config(workdir, "b", b or [instance(priority=100)], **kw))
    lab.wait_state("b", "BACKUP")
    return va, vb


def metric(text, name, **labels):
    """The value of one series in Prometheus text, or None."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}} ") or (not labels and line.startswith(name + " ")):
            return float(line.split()[-1])
    return None


def test_stratactl_metrics_and_state_file(lab, workdir):
    va, vb = pair(lab, workdir)
    time.sleep(1.2)  # a publish tick
    show_a = lab.admin("a", "show")
    assert show_a.returncode == 0, show_a.stderr
    row = next(line.split() for line in show_a.stdout.splitlines() if line.startswith("VI_1"))
    assert row[1:6] == ["51", "eth0", "MASTER", "200", "200"]
    assert row[6] == "10.77.1.1"  # the master: us
    show_b = lab.admin("b", "show").stdout
    row = next(line.split() for line in show_b.splitlines() if line.startswith("VI_1"))
    assert row[3:5] == ["BACKUP", "100"] and row[6] == "10.77.1.1"
    assert lab.admin("b", "state").stdout.split() == ["VI_1", "BACKUP"]
    assert lab.admin("a", "state", "VI_1").stdout.split() == ["VI_1", "MASTER"]
    assert lab.admin("a", "state", "nope").returncode == 1

    ma, mb = lab.metrics(va), lab.metrics(vb)
    assert metric(ma, "strata_vrrp_state", instance="VI_1", state="MASTER") == 1
    assert metric(ma, "strata_vrrp_state", instance="VI_1", state="BACKUP") == 0
    assert metric(mb, "strata_vrrp_state", instance="VI_1", state="BACKUP") == 1
    assert metric(ma, "strata_vrrp_priority", instance="VI_1") == 200
    assert metric(ma, "strata_vrrp_adverts_sent_total", instance="VI_1") >= 5
    assert metric(mb, "strata_vrrp_adverts_received_total", instance="VI_1") >= 5
    assert metric(mb, "strata_vrrp_transitions_total", instance="VI_1") == 1
    assert metric(ma, "strata_vrrp_garp_sent_total", instance="VI_1") == 5
    assert metric(ma, "strata_vrrp_bad_packets_total", instance="VI_1", reason="bad_ttl") == 0
    # the same through the admin socket
    assert "strata_vrrp_state" in lab.admin("a", "metrics", "strata_vrrp_state").stdout

    lines = (workdir / "vrrp-a.state").read_text().splitlines()
    assert lines[0].startswith("#")
    f = lines[1].split()
    assert f[:6] == ["VI_1", "MASTER", "200", "51", "eth0", "10.77.1.1"]
    assert int(f[6]) > 1_600_000_000
    vb.stop()
    assert (workdir / "vrrp-b.state").read_text().splitlines()[1].split()[1] == "INIT"


def test_notify_script_runs_on_every_change_with_keepalived_arguments(lab, workdir):
    log = workdir / "notify.log"
    script = workdir / "notify.sh"
    script.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    script.chmod(0o755)
    va, vb = pair(lab, workdir, a=[instance(priority=200, notify=str(script))])
    va.stop()
    time.sleep(0.3)
    assert log.read_text().splitlines() == [
        "INSTANCE VI_1 BACKUP 200",
        "INSTANCE VI_1 MASTER 200",
        "INSTANCE VI_1 STOP 200",
    ]


def test_bad_and_foreign_packets_are_counted_never_acted_on(lab, workdir):
    va, vb = pair(lab, workdir)
    group = "224.0.0.18"
    src = "10.77.1.9"
    inject(lab.ns["c"], [
        advert4(src, group, 51, 254, [VIP4], ttl=64),                 # §7.1 TTL
        advert4(src, group, 51, 254, [VIP4], bad_csum=True),
        advert4(src, group, 51, 254, [VIP4], csum_v2=True),           # other style
        advert4(src, group, 51, 254, [VIP4], version=2),
        advert4(src, group, 51, 254, ["10.77.1.200"]),                # other VIPs
        advert4(src, group, 51, 254, [VIP4], adver_cs=0),
        advert4(src, group, 99, 254, ["10.77.1.99"]),                 # another VRID
    ])
    time.sleep(1.2)
    for d, node in ((va, "a"), (vb, "b")):
        m = lab.metrics(d)
        for reason in ("bad_ttl", "bad_version", "addr_mismatch", "bad_interval"):
            assert metric(m, "strata_vrrp_bad_packets_total", instance="VI_1",
                          reason=reason) == 1, (node, reason)
        assert metric(m, "strata_vrrp_bad_packets_total", instance="VI_1",
                      reason="bad_checksum") == 2
        assert metric(m, "strata_vrrp_unmatched_packets_total", interface="eth0",
                      reason="other_vrid") == 1
        assert "dropped" in d.text()
    assert lab.state("a") == "MASTER" and lab.state("b") == "BACKUP"
    assert metric(lab.metrics(vb), "strata_vrrp_transitions_total", instance="VI_1") == 1


def test_runs_with_net_raw_and_net_admin_only_realtime_and_locked(lab, workdir):
    va, vb = pair(lab, workdir)
    status = open(f"/proc/{va.pid}/status").read()
    caps = {k: int(v, 16) for k, v in re.findall(r"^(Cap\w+):\s+([0-9a-f]+)$", status, re.M)}
    net_raw_admin = (1 << 13) | (1 << 12)
    assert caps["CapEff"] == net_raw_admin
    assert caps["CapPrm"] == net_raw_admin
    assert caps["CapBnd"] == net_raw_admin
    assert caps["CapInh"] == 0 and caps["CapAmb"] == 0
    if "memory not locked: sanitizer build" not in va.text():
        assert int(re.search(r"VmLck:\s+(\d+)", status).group(1)) > 0
    chrt = subprocess.run(["chrt", "-p", str(va.pid)], capture_output=True, text=True).stdout
    assert "SCHED_RR" in chrt and "priority: 50" in chrt


def test_vip_already_present_is_a_clear_error(lab, workdir):
    lab.ns["a"].addr_add("eth0", "10.77.1.100/24")
    d = lab.vrrp("a", vrrp_config(workdir, "a", [instance(priority=200)]))
    assert d.proc.wait(10) == 1
    assert ("VI_1: VIP 10.77.1.100/24 is already present on eth0 and was not added by "
            "strata-vrrp") in d.text()


def test_missing_interface_is_a_clear_error(lab, workdir):
    d = lab.vrrp("a", vrrp_config(workdir, "a", [instance(interface="eth9")]))
    assert d.proc.wait(10) == 1
    assert "interface eth9: no such interface" in d.text()


def test_source_address_not_ours_is_a_clear_error(lab, workdir):
    d = lab.vrrp("a", vrrp_config(workdir, "a", [instance(source_address="10.77.1.2")]))
    assert d.proc.wait(10) == 1
    assert "VI_1: source_address 10.77.1.2 is not an address of eth0" in d.text()


def test_leftover_vip_of_a_crashed_run_is_reclaimed(lab, workdir):
    conf = vrrp_config(workdir, "a", [instance(priority=200)])
    d = lab.vrrp("a", conf)
    lab.wait_state("a", "MASTER")
    d.send(signal.SIGKILL)
    d.proc.wait(5)
    assert lab.has_vip("a")  # nobody removed it
    (workdir / "vrrp-a.state").unlink()  # the dead run's last word
    d2 = lab.vrrp("a", conf, name="vrrp-a-again")
    d2.wait_log("removing VIP 10.77.1.100/24 left on eth0 by an earlier run")
    lab.wait_state("a", "MASTER", timeout=3)
    assert lab.has_vip("a")


def test_virtual_mac_moves_with_the_vip(lab, workdir):
    vmac = "00:00:5e:00:01:33"
    va, vb = pair(lab, workdir, a=[instance(priority=200, use_vmac=True)],
                  b=[instance(priority=100, use_vmac=True)])
    link = lab.ns["a"].ip("-d", "link", "show", "vrrp.51").stdout
    assert vmac in link and "macvlan" in link and "addrgenmode none" in link
    assert VIP4 in lab.ns["a"].addrs("vrrp.51")
    assert lab.ns["a"].run("sysctl", "-n", "net.ipv4.conf.eth0.arp_ignore").stdout.strip() == "1"
    assert lab.ns["a"].run("sysctl", "-n", "net.ipv4.conf.eth0.arp_announce").stdout.strip() == "2"
    answers = lab.probe(0.5).result()
    assert {a[2] for a in answers} == {"a"}
    assert vmac in lab.ns["c"].ip("neigh", "show", VIP4).stdout
    probe = lab.probe(5, stop_after="b")
    time.sleep(0.3)
    t0 = time.monotonic()
    va.stop()
    assert outage(probe.result(), t0, "b") < 0.2
    assert VIP4 in lab.ns["b"].addrs("vrrp.51")
    assert vmac in lab.ns["c"].ip("neigh", "show", VIP4).stdout  # the same MAC, elsewhere
    # A's macvlan is gone and its sysctl restored.
    assert lab.ns["a"].ip("link", "show", "vrrp.51", check=False).returncode != 0
    assert lab.ns["a"].run("sysctl", "-n", "net.ipv4.conf.eth0.arp_ignore").stdout.strip() == "0"
    assert lab.ns["a"].run("sysctl", "-n", "net.ipv4.conf.eth0.arp_announce").stdout.strip() == "0"


def test_sync_group_fails_over_together(lab, workdir):
    flag = workdir / "vi2-ok"
    flag.write_text("")
    tracker = {"name": "chk", "type": "script", "command": f"test -f {flag}",
               "interval": "100ms"}
    groups = 'sync_groups = ( { name = "G"; instances = [ "VI_1", "VI_2" ]; } );'
    a = [instance(priority=200), instance("VI_2", vrid=52, priority=200,
                                          vips=["10.77.1.101/24"], track=["chk"])]
    b = [instance(priority=100), instance("VI_2", vrid=52, priority=100,
                                          vips=["10.77.1.101/24"])]
    lab.service("a")
    lab.service("b")
    lab.vrrp("a", vrrp_config(workdir, "a", a, trackers=[tracker], extra=groups))
    lab.vrrp("b", vrrp_config(workdir, "b", b, extra=groups))
    for name in ("VI_1", "VI_2"):
        lab.wait_state("a", "MASTER", instance_name=name)
        lab.wait_state("b", "BACKUP", instance_name=name)
    flag.unlink()  # only VI_2's tracker fails...
    for name in ("VI_1", "VI_2"):  # ...but the whole group moves
        lab.wait_state("a", "FAULT", instance_name=name, timeout=3)
        lab.wait_state("b", "MASTER", instance_name=name, timeout=3)
    assert lab.holders(VIP4) == ["b"] and lab.holders("10.77.1.101") == ["b"]
    flag.write_text("")
    for name in ("VI_1", "VI_2"):
        lab.wait_state("a", "MASTER", instance_name=name, timeout=3)


def test_config_check_names_file_and_line(workdir):
    conf = workdir / "bad.conf"
    conf.write_text('instances = ( { name = "VI_1"; interface = "eth0"; vrid = 51;\n'
                    '  priorty = 150; virtual_addresses = [ "10.77.1.100" ]; } );\n')
    out = subprocess.run([binary("strata-vrrp"), "-t", "-c", conf], capture_output=True,
                         text=True, timeout=10)
    assert out.returncode == 1
    assert out.stderr.strip() == (f"{conf}:2: instances[0].priorty: unknown key "
                                  "(did you mean 'priority'?)")
    conf.write_text('instances = ( { name = "VI_1"; interface = "eth0"; vrid = 51;\n'
                    '  priority = 150; virtual_addresses = [ "10.77.1.100" ]; } );\n')
    out = subprocess.run([binary("strata-vrrp"), "-t", "-c", conf], capture_output=True,
                         text=True, timeout=10)
    assert out.returncode == 0 and out.stdout.strip() == f"{conf}: ok"


def test_sighup_reload_applies_priority_and_refuses_structural_changes(lab, workdir):
    va, vb = pair(lab, workdir)
    vrrp_config(workdir, "a", [instance(priority=50)])  # rewrites vrrp-a.conf
    va.send(signal.SIGHUP)
    va.wait_log("configuration reloaded")
    lab.wait_state("b", "MASTER", timeout=2)  # B preempts the now lower A
    lab.wait_state("a", "BACKUP")
    assert lab.admin("a", "show").stdout.split("\n")[1].split()[4] == "50"
    # A structural change needs a restart: refused whole, nothing changes.
    vrrp_config(workdir, "a", [instance(priority=250, vips=["10.77.1.150/24"])])
    va.send(signal.SIGHUP)
    va.wait_log("reload refused, the running configuration stays: instance 'VI_1': "
                "virtual_addresses changed, which needs a restart")
    # So does a config that does not parse.
    (workdir / "vrrp-a.conf").write_text("instances = ( { nme = 1; } );\n")
    va.send(signal.SIGHUP)
    va.wait_log(f"reload refused, the running configuration stays: {workdir}/vrrp-a.conf:1: "
                "instances[0].nme: unknown key (did you mean 'name'?)")
    time.sleep(0.5)
    assert lab.state("a") == "BACKUP" and lab.state("b") == "MASTER"
    assert va.alive()
