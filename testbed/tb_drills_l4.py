"""The L4 failover drills: the VIP leaves lb-a (killed, stopped, cut off).

Each drill runs under steady load from the client namespace (tb_drill.Drill)
and measures what a client saw. Faults are real: signals to the daemons'
PIDs, a bridge port taken down.
"""
import os
import re
import signal
import threading
import time

import tb_analyze as A
import tb_bed
import tb_drill
import tb_net
import tb_proc
import tb_topo
from tb_watch import Monitor, neigh_to, vip_added, vip_deleted

MAC = {"a": "02:77:00:00:00:01", "b": "02:77:00:00:00:02"}
VIP = tb_topo.VIP


def wait_for(pred, timeout, step=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


class Failover(tb_drill.Drill):
    """The VIP leaves lb-a for lb-b: watch it arrive there (netlink) and the
    client's neighbour entry move to lb-b's MAC (netlink, in st-client)."""

    def prepare(self):
        self.neigh = self.monitor(Monitor("st-client", "neigh"))
        self.addr_b = self.monitor(Monitor("st-lb-b", "address"))
        time.sleep(0.2)  # both subscribed before anything happens

    def during(self):
        wait_for(lambda: self.addr_b.first(vip_added(VIP), self.t_fault), 5.0)

    def takeover(self, records, t0=None):
        """Figures common to the failovers, timed from `t0` (the fault by
        default); returns the instant from which the client sends to lb-b
        (its neighbour entry switched)."""
        t0 = self.t_fault if t0 is None else t0
        t_vip = self.addr_b.first(vip_added(VIP), t0)
        t_flip = self.neigh.first(neigh_to(VIP, MAC["b"]), t0)
        first_b = A.first_ok(records, t0, "l4", "l4-b")
        self.values["takeover_s"] = None if t_vip is None else t_vip - t0
        self.values["client_switch_s"] = None if t_flip is None else t_flip - t0
        self.values["first_answer_b_s"] = None if first_b is None else first_b["t1"] - t0
        origin = "fault" if t0 == self.t_fault else "removal from lb-a"
        self.figure(f"VIP takeover ({origin} -> VIP on lb-b)", A.ms(self.values["takeover_s"]),
                    "ms")
        self.figure("client neighbour entry -> lb-b's MAC", A.ms(self.values["client_switch_s"]),
                    "ms")
        self.figure(f"first answer from lb-b after the {origin}",
                    A.ms(self.values["first_answer_b_s"]), "ms")
        if t_vip is not None:
            self.event("VIP on lb-b", t_vip)
        if first_b is not None:
            self.event("first answer from lb-b", first_b["t1"])
        self.check("VIP takeover under 1 s (100 ms adverts)",
                   t_vip is not None and t_vip - t0 < 1.0)
        return t_flip if t_flip is not None else t_vip

    def stickiness(self, records, t_switch):
        before = A.instance_by_client(records, before=self.t_fault)
        after = A.instance_by_client([r for r in records if r.get("l4") == "l4-b"],
                                     after=t_switch or self.t_fault)
        kept, seen = A.stickiness(before, after)
        self.values["kept_l7"] = kept
        self.values["clients_compared"] = seen
        self.values["kept_l7_share"] = kept / seen if seen else None
        self.figure("clients that kept their L7 instance (Maglev on both nodes)",
                    f"{kept}/{seen} ({A.pct(kept, seen)} %)")
        return kept, seen

    def restore(self):
        # Back to lb-a as master (it preempts) with nothing left behind.
        tb_bed.up(verbose=False)


class L4Hard(Failover):
    name = "l4-hard"
    title = "SIGKILL strata-vrrp and strata-l4 on the master"
    what = ("Both processes on lb-a die at once (strata-vrrp first, so it cannot resign): "
            "lb-b becomes master after Master_Down_Interval (3 x 100 ms + skew). "
            "lb-a's kernel still holds the VIP and answers with resets until the "
            "client's neighbour entry moves to lb-b.")
    notes = ("The failures are the requests sent to lb-a between the kill and the moment the "
             "client's neighbour entry for the VIP switched to lb-b (about the takeover time "
             "times the request rate): lb-a's kernel still holds the VIP, has no listener any "
             "more, and answers with a reset. (A machine that dies outright drops them "
             "instead, and the client repeats its SYN after 1 s, by then to lb-b.) Requests "
             "that started after the switch all succeed, and every client stays on its L7 "
             "instance because both L4 nodes build the same Maglev table.")

    def fault(self):
        vrrp, l4 = tb_proc.Exit(tb_topo.daemon("vrrp-a")), tb_proc.Exit(tb_topo.daemon("l4-a"))
        for watch in (vrrp, l4):
            if watch.pid:
                os.kill(watch.pid, signal.SIGKILL)
        self.event("SIGKILL vrrp-a, l4-a", self.t_fault)
        gone = [vrrp.wait(), l4.wait()]
        self.values["exit_s"] = None if None in gone else max(gone) - self.t_fault

    def analyze(self, records):
        t0 = self.t_fault
        t_switch = self.takeover(records) or t0
        # On the dead node: under way at the kill, or sent to lb-a's MAC
        # before the client's neighbour entry switched.
        at_kill = A.in_flight(records, t0)
        gap = [r for r in records if t0 <= r["t0"] < t_switch]
        exposed = {r["seq"] for r in at_kill + gap}
        bad = A.failed(records)
        elsewhere = [r for r in bad if r["seq"] not in exposed]
        self.values.update(in_flight_at_kill=len(at_kill), sent_to_dead_node=len(gap),
                           failed_elsewhere=len(elsewhere))
        self.figure("both processes gone after the signal", A.ms(self.values["exit_s"]), "ms")
        self.figure("requests in flight on lb-a at the kill", len(at_kill))
        self.figure("requests sent to lb-a before the client switched", len(gap))
        self.figure("failed among those (on the dead node)", len(bad) - len(elsewhere))
        self.figure("failed anywhere else", len(elsewhere))
        self.check("failures only among requests in flight on the dead node", not elsewhere)
        kept, seen = self.stickiness(records, t_switch)
        self.check("at least 95 % of clients keep their L7 instance",
                   seen and kept >= 0.95 * seen)


class L4Graceful(Failover):
    name = "l4-graceful"
    title = ("SIGTERM to strata-l4 and strata-vrrp on the master: strata-l4 drains, "
             "strata-vrrp resigns once nothing is open")
    what = ("strata-l4 on lb-a gets SIGTERM, then strata-vrrp on lb-a (the order of "
            "`systemctl stop`, docs/vrrp.md \"Planned maintenance\"). strata-l4's listeners "
            "drop new SYNs instead of answering them with resets, and its open exchanges run "
            "to completion while lb-a still holds the VIP; strata-vrrp polls strata-l4 every "
            "10 ms and sends its priority-0 advert once nothing is open (shutdown_wait), so "
            "lb-b takes over after Skew_Time; strata-l4 exits when the VIP has left lb-a.")
    notes = ("Requests whose SYN reached lb-a after the drain began lose only that SYN: the "
             "client repeats it after its 1 s initial RTO, by then to lb-b (the 1 s step in "
             "the latency maximum): delayed, not failed. Nothing is under way on lb-a when its "
             "VIP goes, because strata-vrrp resigns only after strata-l4 reported no open "
             "connection for a drain at least 300 ms old (a handshake lb-a answered just "
             "before the drain has that long to complete and be counted). Before this, the "
             "drill resigned first and drained after, and an exchange under way at the VIP's "
             "removal could be lost (lb-a can no longer send from the VIP, lb-b resets the "
             "client's next segment): 0 to 26 per failover in earlier runs.")

    def prepare(self):
        self.addr_a = self.monitor(Monitor("st-lb-a", "address"))
        super().prepare()
        self.logs_at = {n: tb_topo.daemon(n).log.stat().st_size for n in ("l4-a", "vrrp-a")}

    def fault(self):
        l4, vrrp = tb_topo.daemon("l4-a"), tb_topo.daemon("vrrp-a")
        self.exits = {}
        # Watched while the load runs, so the exit instants are the real ones.
        self.watchers = [threading.Thread(target=self.watch_exit, args=(n, tb_proc.Exit(d)),
                                          daemon=True) for n, d in (("l4", l4), ("vrrp", vrrp))]
        for w in self.watchers:
            w.start()
        tb_proc.signal_daemon(l4, signal.SIGTERM)
        self.event("SIGTERM l4-a (drain)", self.t_fault)
        tb_proc.signal_daemon(vrrp, signal.SIGTERM)
        self.event("SIGTERM vrrp-a", time.monotonic())

    def watch_exit(self, name, exit_watch):
        self.exits[name] = exit_watch.wait(15.0)

    def log_since(self, name):
        with open(tb_topo.daemon(name).log, "rb") as f:
            f.seek(self.logs_at[name])
            return f.read().decode(errors="replace")

    def drained(self):
        """Waits for both processes on lb-a to exit; returns (seconds from
        the signal to strata-l4's exit, connections it closed at
        drain_timeout, why it ended, why strata-vrrp resigned)."""
        for w in self.watchers:
            w.join(16.0)
        t = self.exits.get("l4")
        l4_log, vrrp_log = self.log_since("l4-a"), self.log_since("vrrp-a")
        cut = re.search(r"drain timeout: closing (\d+) connections", l4_log)
        end = re.search(r"drained \((.*)\), exiting", l4_log)
        why = re.search(r"resigning after \d+ ms: (.*)", vrrp_log)
        return ((None if t is None else t - self.t_fault), int(cut.group(1)) if cut else 0,
                end.group(1) if end else None, why.group(1) if why else None)

    def analyze(self, records):
        t_gone = self.addr_a.first(vip_deleted(VIP), self.t_fault)
        if t_gone is not None:
            self.event("VIP removed from lb-a", t_gone)
        t_switch = self.takeover(records, t_gone or self.t_fault) or self.t_fault
        self.values["vip_removed_s"] = None if t_gone is None else t_gone - self.t_fault
        t_gone = t_gone or self.t_fault
        # Client-side view: requests started but not finished at the removal
        # are those whose SYN lb-a dropped (they repeat it to lb-b) and any
        # exchange lb-a still served, which the wait is there to prevent.
        spanning = A.in_flight(records, t_gone)
        dropped = [r for r in records if self.t_fault <= r["t0"] and r["ok"]
                   and r["t1"] - r["t0"] >= 0.9]
        self.values.update(in_flight_at_removal=len(spanning), syn_repeated=len(dropped))
        self.figure("VIP removed from lb-a after the signals (strata-l4 had nothing open)",
                    A.ms(self.values["vip_removed_s"]), "ms")
        self.figure("requests under way (client side) when the VIP was removed", len(spanning))
        self.figure("requests that succeeded after repeating their SYN (>= 0.9 s)", len(dropped))
        took, cut, end, why = self.drained()
        self.values.update(drain_s=took, drain_cut=cut, drain_end=end, resign_why=why)
        self.figure("strata-vrrp resigned because", why or "n/a")
        self.figure("strata-l4 on lb-a exited after the signal", A.ms(took), "ms")
        if took is not None:
            self.event("strata-l4 on lb-a exited", self.t_fault + took)
        self.figure("strata-l4's drain ended because", end or "n/a")
        self.figure("connections lb-a still held at drain_timeout (closed)", cut)
        self.check("strata-vrrp resigned once strata-l4 had nothing open",
                   why is not None and why.startswith("strata-l4 has nothing open"))
        self.check("no failed requests", self.values["failed"] == 0)
        kept, seen = self.stickiness(records, t_switch)
        self.check("at least 95 % of clients keep their L7 instance",
                   seen and kept >= 0.95 * seen)


class L4GracefulKeepalive(L4Graceful):
    name = "l4-graceful-ka"
    mode = "mixed"
    title = ("l4-graceful with keep-alive clients too: strata-l4 closes each kept "
             "connection at a switch, the clients repeat the request on a new one")
    what = ("The l4-graceful sequence under mixed load: half the requests on fresh "
            "connections, half on one kept connection per client address. A kept "
            "connection never ends by itself, so strata-l4 closes it during the drain once "
            "it is idle at a switch (the last byte went to the client, was acknowledged, and "
            "drain_close_idle passed: between a whole answer and the next request), and "
            "strata-vrrp resigns once nothing is open.")
    notes = ("The load generator repeats a request once on a new connection when a reused "
             "keep-alive connection was closed before any byte of the answer, as HTTP "
             "clients do (RFC 9112 §9.3.1: a GET is idempotent); it counts those in "
             "\"keep-alive requests retried\" and counts them as succeeded when the repeat "
             "succeeds. The repeat's SYN is dropped by lb-a until the VIP leaves, so it "
             "reaches lb-b 1 s later. Any other error, a closed connection after part of an "
             "answer included, is a failure.")


class L4Link(Failover):
    name = "l4-link"
    title = "the master's frontend link cut"
    what = ("lb-a's port on the frontend switch goes down, so lb-a's eth0 loses its carrier: "
            "strata-vrrp on lb-a goes to FAULT and drops the VIP, lb-b hears no adverts and "
            "takes over after Master_Down_Interval. Connections on lb-a are cut off.")
    notes = ("Requests sent while lb-a was unreachable and before the client switched lose "
             "their SYN and succeed when it is repeated 1 s later, to lb-b; those whose "
             "second SYN still found the client's neighbour entry on lb-a, and exchanges "
             "under way on lb-a at the cut, time out (2 s here).")
    timeout = 2.0

    def fault(self):
        tb_net.ip("st-fe", "link", "set", "lb-a", "down")
        self.event("lb-a frontend port down", self.t_fault)

    def analyze(self, records):
        t0 = self.t_fault
        t_switch = self.takeover(records) or t0
        at_cut = A.in_flight(records, t0)
        gap = [r for r in records if t0 <= r["t0"] < t_switch]
        exposed = {r["seq"] for r in at_cut + gap}
        bad = A.failed(records)
        elsewhere = [r for r in bad if r["seq"] not in exposed]
        self.values.update(in_flight_at_cut=len(at_cut), sent_to_cut_node=len(gap),
                           failed_elsewhere=len(elsewhere))
        self.figure("requests in flight on lb-a at the cut", len(at_cut))
        self.figure("requests sent towards lb-a before the client switched", len(gap))
        self.figure("failed anywhere else", len(elsewhere))
        self.check("failures only among requests in flight on the cut node", not elsewhere)
        kept, seen = self.stickiness(records, t_switch)
        self.check("at least 95 % of clients keep their L7 instance",
                   seen and kept >= 0.95 * seen)

    def restore(self):
        tb_net.ip("st-fe", "link", "set", "lb-a", "up")
        super().restore()
