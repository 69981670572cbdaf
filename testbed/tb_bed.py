"""testbed up / down / status, and the readiness checks drills start from.

`up` creates what is missing (namespaces, bridges, links, addresses,
sysctls, then the daemons in dependency order) and waits until the whole
chain answers; `down` stops every daemon by PID, kills whatever else still
runs inside the testbed's namespaces (a crash of `up` may have lost a PID
file) and deletes the namespaces, which removes every link with them.
Neither touches the root namespace.
"""
import json
import os
import signal
import subprocess
import time

import tb_net
import tb_proc
import tb_topo


class BedError(RuntimeError):
    pass


Errors = (BedError, tb_proc.ProcError, tb_net.NetError)


def preflight():
    if os.geteuid() != 0:
        raise BedError("the testbed needs root (network namespaces, raw VRRP sockets): "
                       "run it with sudo")
    missing = [p for p in ("strata-l4", "strata-l7", "strata-vrrp", "strata-echo", "stratactl")
               if not (tb_topo.BIN / p).exists()]
    if missing:
        raise BedError(f"not built in {tb_topo.BIN}: {', '.join(missing)} (run make)")


def build_network():
    for ns in tb_topo.NAMESPACES:
        tb_net.add(ns)
    for ns in tb_topo.BRIDGES:
        tb_net.bridge(ns)
    for host, ifname, mac, br_ns, port, cidrs in tb_topo.LINKS:
        tb_net.veth(host, ifname, mac, br_ns, port)
        for cidr in cidrs:
            tb_net.addr_add(host, ifname, cidr)
    for ns, keys in tb_topo.SYSCTLS.items():
        for key, value in keys.items():
            tb_net.sysctl(ns, key, value)


def up(verbose=True):
    preflight()
    for path in (tb_topo.RUN, tb_topo.RUNFILES, tb_topo.LOGS, tb_topo.RESULTS):
        path.mkdir(parents=True, exist_ok=True)
    build_network()
    for d in tb_topo.daemons():
        was = tb_proc.pid_of(d)
        pid = tb_proc.start(d)
        if verbose:
            print(f"{d.name:7} {'running' if was else 'started'} (pid {pid}) in {d.ns}")
    wait_ready()
    if verbose:
        print(f"testbed up: VIP {tb_topo.VIP}:{tb_topo.VIP_PORT} on lb-a; "
              f"logs in {tb_topo.LOGS}")


def down(verbose=True):
    """Stops everything and deletes the namespaces. Returns what it did."""
    done = []
    for d in reversed(tb_topo.daemons()):
        # strata-vrrp resigns and removes the VIP on SIGTERM; the others
        # need no drain here, SIGINT is their fast exit.
        sig = signal.SIGTERM if d.binary == "strata-vrrp" else signal.SIGINT
        if tb_proc.stop(d, sig, timeout=10.0):
            done.append(f"stopped {d.name}")
    for ns in tb_topo.NAMESPACES:
        for pid in tb_net.pids(ns):
            try:
                os.kill(pid, signal.SIGKILL)
                done.append(f"killed leftover pid {pid} in {ns}")
            except ProcessLookupError:
                pass
    for ns in tb_topo.NAMESPACES:
        deadline = time.monotonic() + 5
        while tb_net.pids(ns) and time.monotonic() < deadline:
            time.sleep(0.05)
    for ns in tb_topo.HOSTS + list(tb_topo.BRIDGES):
        if tb_net.exists(ns):
            tb_net.delete(ns)
            done.append(f"deleted {ns}")
    left = [ns for ns in tb_topo.NAMESPACES if tb_net.exists(ns)]
    if left:
        raise BedError(f"could not delete namespaces: {', '.join(left)}")
    if tb_topo.RUNFILES.exists():
        for f in tb_topo.RUNFILES.iterdir():
            if f.suffix in (".pid", ".sock", ".state", ".tmp"):
                f.unlink(missing_ok=True)
    if verbose:
        print("\n".join(done) if done else "nothing was up")
        print("testbed down")
    return done


def is_up():
    return all(tb_net.exists(ns) for ns in tb_topo.NAMESPACES) and \
        all(tb_proc.pid_of(d) for d in tb_topo.daemons())


# --- what the daemons say ----------------------------------------------------------

def vrrp_state(node):
    """'MASTER', 'BACKUP', 'FAULT', 'INIT' from lb-NODE's state file, or None."""
    try:
        text = (tb_topo.RUNFILES / f"vrrp-{node}.state").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        f = line.split()
        if f and not line.startswith("#") and f[0] == "VI_1":
            return f[1]
    return None


def vip_holders():
    return [n for n in ("a", "b") if tb_topo.VIP + "/24" in tb_net.addrs(f"st-lb-{n}", "eth0")]


def l4_instances(node):
    """{address: health} from `show instances` of strata-l4 on lb-NODE."""
    ok, lines = tb_proc.admin(tb_topo.daemon(f"l4-{node}"), "show instances")
    out = {}
    for line in lines if ok else []:
        f = line.split()
        # service instance weight backup admin health available ...
        if len(f) >= 7 and not line.startswith("#") and f[0] == tb_topo.L4_SERVICE:
            out[f[1]] = {"admin": f[4], "health": f[5], "available": f[6] == "yes",
                         "active": int(f[8]) if len(f) > 8 and f[8].isdigit() else 0}
    return out


def l7_servers(name):
    """{server: {admin, health, avail, active}} from `show servers` of an L7."""
    ok, lines = tb_proc.admin(tb_topo.daemon(name), f"show servers {tb_topo.L7_UPSTREAM}")
    out = {}
    for line in lines if ok else []:
        f = line.split()
        if len(f) >= 7 and f[0] == tb_topo.L7_UPSTREAM:
            out[f[1]] = {"admin": f[3], "health": f[4], "available": f[5] == "yes",
                         "active": int(f[6]) if f[6].isdigit() else 0}
    return out


def _all_healthy():
    for node in ("a", "b"):
        inst = l4_instances(node)
        if len(inst) != len(tb_topo.L7) or not all(i["available"] for i in inst.values()):
            return f"l4-{node} sees L7 instances {inst or 'none'}"
    for name in tb_topo.L7:
        srv = l7_servers(name)
        if len(srv) != len(tb_topo.BACKENDS) or not all(s["available"] for s in srv.values()):
            return f"{name} sees backends {srv or 'none'}"
    if vrrp_state("a") != "MASTER" or vrrp_state("b") != "BACKUP":
        return f"VRRP lb-a {vrrp_state('a')}, lb-b {vrrp_state('b')}"
    if vip_holders() != ["a"]:
        return f"VIP held by {vip_holders() or 'nobody'}"
    try:
        status, _, _ = tb_net.http_get("st-client", tb_topo.VIP, tb_topo.VIP_PORT, "/ready",
                                       source=tb_topo.CLIENTS[0], timeout=1.0)
    except OSError as e:
        return f"GET from the client failed: {e}"
    return None if status == 200 else f"GET from the client answered {status}"


def wait_ready(timeout=20.0):
    """Waits until every tier is healthy, lb-a is master and holds the VIP and
    a request from the client namespace succeeds."""
    deadline = time.monotonic() + timeout
    why = "not checked"
    while time.monotonic() < deadline:
        for d in tb_topo.daemons():
            if not tb_proc.pid_of(d):
                raise BedError(f"{d.name} is not running:\n{tb_proc.tail(d)}")
        try:
            why = _all_healthy()
        except OSError as e:
            why = str(e)
        if why is None:
            return
        time.sleep(0.1)
    raise BedError(f"testbed not ready after {timeout}s: {why}")


def ctl(d, command):
    """stratactl -s SOCKET COMMAND for daemon `d`: (exit status, output lines)."""
    res = subprocess.run([str(tb_topo.BIN / "stratactl"), "-s", str(d.admin), "-t", "2"]
                         + command.split(), capture_output=True, text=True)
    return res.returncode, (res.stdout + res.stderr).rstrip("\n").splitlines()


def _rows(lines, first):
    return [line.split() for line in lines if line.split()[:1] == [first]]


def _summary():
    """One line per daemon with what stratactl says; returns (lines, all well)."""
    well = True
    out = []
    names = {v: k for k, v in tb_topo.L7.items()}
    for node in ("a", "b"):
        d = tb_topo.daemon(f"vrrp-{node}")
        rc, lines = ctl(d, "show") if tb_proc.pid_of(d) else (1, [])
        row = next(iter(_rows(lines, "VI_1")), None)
        well &= rc == 0 and row is not None
        out.append(f"{d.name:7} " + (f"VI_1 {row[3]}, priority {row[4]}, master {' '.join(row[6:-1])}"
                                     if row else "no answer"))
    for node in ("a", "b"):
        d = tb_topo.daemon(f"l4-{node}")
        rc1, svc = ctl(d, "show services") if tb_proc.pid_of(d) else (1, [])
        rc2, inst = ctl(d, "show instances") if tb_proc.pid_of(d) else (1, [])
        well &= rc1 == 0 and rc2 == 0
        s_row = next(iter(_rows(svc, tb_topo.L4_SERVICE)), None)
        conns = f"{s_row[5]} active / {s_row[6]} total connections" if s_row else "no answer"
        insts = ", ".join(f"{names.get(r[1].split(':')[0], r[1])} {r[5]}{'' if r[6] == 'yes' else ' (out)'}"
                          f" {r[8]} active" for r in _rows(inst, tb_topo.L4_SERVICE))
        out.append(f"{d.name:7} {conns}; L7 instances: {insts or '?'}")
    for name in tb_topo.L7:
        d = tb_topo.daemon(name)
        rc1, stats = ctl(d, "show stats") if tb_proc.pid_of(d) else (1, [])
        rc2, srv = ctl(d, f"show servers {tb_topo.L7_UPSTREAM}") if tb_proc.pid_of(d) else (1, [])
        well &= rc1 == 0 and rc2 == 0
        kv = dict(line.split(None, 1) for line in stats if len(line.split(None, 1)) == 2)
        bes = ", ".join(f"{r[1]} {r[4]}{'' if r[3] == 'ready' else ' ' + r[3]} {r[6]} active"
                        for r in _rows(srv, tb_topo.L7_UPSTREAM))
        out.append(f"{name:7} {kv.get('connections', '?')} client connections, "
                   f"{kv.get('upstream_requests', '?')} requests sent up; backends: {bes or '?'}")
    for name, addr in tb_topo.BACKENDS.items():
        try:
            _, _, body = tb_net.http_get("st-" + name, addr, tb_topo.BE_PORT, "/stats",
                                         timeout=1.0)
            st = json.loads(body)
            out.append(f"{name:7} {st['connections_active'] - 1} connections, "
                       f"{st['requests_total'] - 1} requests served")
        except (OSError, ValueError, KeyError):
            well = False
            out.append(f"{name:7} no answer")
    return out, well


def status(full=False):
    """Prints who runs, who is VRRP master, every tier's health and the
    connection counts, through stratactl (`full`: its whole output too).
    Returns 0 when every daemon runs and answers."""
    rc = 0
    missing = [ns for ns in tb_topo.NAMESPACES if not tb_net.exists(ns)]
    print("namespaces: " + (f"missing {' '.join(missing)}" if missing else
                            f"all {len(tb_topo.NAMESPACES)} present"))
    for d in tb_topo.daemons():
        pid = tb_proc.pid_of(d)
        rc |= 0 if pid else 1
        print(f"  {d.name:7} {d.ns:10} {'pid ' + str(pid) if pid else 'NOT RUNNING'}")
    if missing:
        return 1
    holders = ", ".join("lb-" + n for n in vip_holders()) or "nobody"
    print(f"\nVIP {tb_topo.VIP} held by: {holders}")
    lines, well = _summary()
    print("\n".join(lines))
    rc |= 0 if well else 1
    if full:
        for d in tb_topo.daemons():
            if d.admin is None or not tb_proc.pid_of(d):
                continue
            cmds = {"strata-vrrp": ["show"], "strata-l4": ["show instances", "show services"],
                    "strata-l7": [f"show servers {tb_topo.L7_UPSTREAM}", "show stats"]}[d.binary]
            for cmd in cmds:
                print(f"\n$ stratactl -s {os.path.relpath(d.admin)} {cmd}")
                print("\n".join(ctl(d, cmd)[1]))
    return rc
