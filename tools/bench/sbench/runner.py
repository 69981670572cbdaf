"""The measurement loop: per scenario, peers interleaved within each
repetition (A B C, A B C, ...), each started fresh, checked, warmed up,
measured workload by workload, idled, stopped.
"""
import pathlib
import time

from . import load, peers, stats
from .scenarios import peer_workloads, phases

ROOT = pathlib.Path(__file__).resolve().parents[3]


class Ctx:
    """What every step needs: the process registry, ports, dirs, CPUs, mode."""

    def __init__(self, registry, tmp, bin_dir, mode, say):
        self.registry = registry
        self.ports = peers.Ports()
        self.tmp = tmp
        self.bin_dir = bin_dir
        self.mode = mode
        self.say = say
        self.cpu_proxy = 0
        self.cpu_load = 1
        # Both sides of 9k proxied connections (18k fds) fit the 20k limit.
        self.maxconn = 9500
        self.tls_values = {}
        self.deadline = time.monotonic() + mode.budget_s
        self.peer_seconds = []  # how long each measured peer repetition took
        self.peers_later = 0    # peers of the scenarios after this one (their first reps)

    def ensure_certs(self):
        """Test certificates (tools/certs: ECDSA P-256 and RSA-2048 for
        localhost) in the temp dir, once per bench."""
        if self.tls_values:
            return
        d = self.tmp / "certs"
        rc, out, err = self.registry.run([ROOT / "tools" / "certs", d], 60)
        if rc != 0:
            raise RuntimeError(f"tools/certs failed: {err.strip()[-300:]}")
        values = {"CA": d / "ca.pem"}
        for key in ("ecdsa", "rsa"):
            cert, priv = d / f"localhost-{key}.pem", d / f"localhost-{key}.key"
            pem = d / f"localhost-{key}-with-key.pem"  # HAProxy wants both in one file
            pem.write_text(cert.read_text() + priv.read_text())
            values.update({f"CERT_{key.upper()}": cert, f"KEY_{key.upper()}": priv,
                           f"PEM_{key.upper()}": pem})
        # Without a phase choosing the key type: ECDSA.
        values.update(CERT=values["CERT_ECDSA"], KEY=values["KEY_ECDSA"],
                      CERT_PEM=values["PEM_ECDSA"])
        self.tls_values = values


def peer_record(peer):
    return {"id": peer.id, "label": peer.label, "strata": peer.strata,
            "baseline": peer.baseline or None,
            "roles": [t.role for t in peer.tiers], "available": True, "reason": None,
            "check": None, "commands": [], "runs": [], "figures": {}}


def run_scenario(ctx, sc, only=()):
    """Measures every peer of a scenario; returns its result record."""
    chosen = [p for p in sc.peers if not only or p.id in only]
    if sc.scheme == "https":
        ctx.ensure_certs()
    recs = {p.id: peer_record(p) for p in chosen}
    backend, addr = peers.start_backend("echo" if sc.backend == "echo" else "nginx-pp", ctx)
    port = int(addr.rsplit(":", 1)[1])
    counter = load.echo_conns_counter(port) if sc.backend == "echo" else None
    skipped = []
    t0 = time.monotonic()
    try:
        for rep in range(ctx.mode.reps_for(sc.id)):
            if rep and _over_budget(ctx, [r for r in recs.values() if r["available"]]):
                skipped = list(range(rep + 1, ctx.mode.reps_for(sc.id) + 1))
                ctx.say(f"{sc.id}: repetitions {skipped} skipped to stay within "
                        f"{ctx.mode.budget_s} s")
                break
            for peer in chosen:
                rec = recs[peer.id]
                if not rec["available"]:
                    continue
                if not backend.alive():
                    raise RuntimeError(f"backend {addr} died: {backend.log_text()[-300:]}")
                _one_rep(ctx, sc, peer, rec, rep, addr, backend, counter)
    finally:
        ctx.registry.stop(backend)
    for rec in recs.values():
        rec["figures"] = stats.peer_figures(rec["runs"])
    result = {"id": sc.id, "title": sc.title, "about": sc.about,
              "reps": ctx.mode.reps_for(sc.id), "skipped_reps": skipped,
              "elapsed_s": round(time.monotonic() - t0, 1),
              "backend": {"kind": sc.backend, "address": addr, "command": backend.command},
              "peers": list(recs.values())}
    result["ratios"] = stats.ratios(result["peers"])
    result["targets"] = [stats.evaluate(t, result["peers"]) for t in sc.targets
                         if t["strata"] in recs]
    return result


def _over_budget(ctx, live):
    """True when one more repetition of these peers, plus the first
    repetition of every scenario still to come (ctx.peers_later), would end
    after the deadline, judged by the peer repetitions measured so far."""
    per = sum(ctx.peer_seconds) / len(ctx.peer_seconds) if ctx.peer_seconds else 0
    return time.monotonic() + per * (len(live) + ctx.peers_later) > ctx.deadline


def _one_rep(ctx, sc, peer, rec, rep, addr, backend, counter):
    """One repetition of one peer: a start, check and measurement per phase."""
    tag = f"{sc.id} rep {rep + 1}/{ctx.mode.reps_for(sc.id)} {peer.id}"
    with open("/proc/loadavg") as f:  # how busy the shared box was, for the reader
        rec.setdefault("loadavg", []).append(float(f.read().split()[0]))
    t0 = time.monotonic()
    parts = []
    for phase in phases(sc, ctx.mode):
        if not _one_phase(ctx, sc, peer, rec, rep, phase, addr, backend, counter, parts):
            return
    ctx.peer_seconds.append(time.monotonic() - t0)
    ctx.say(f"{tag}: " + " | ".join(parts) + f" ({time.monotonic() - t0:.0f} s)")


def _check(ctx, sc, peer, run, backend, phase):
    if sc.check == "pp":
        return load.check_pp(run.front_port, backend.workdir / "pp.log")
    if sc.scheme == "https":
        cert = peers.render_value(phase.values.get("CERT", "@CERT@"), ctx.tls_values)
        return load.check_tls(ctx, run.front_port, ctx.tls_values["CA"], cert)
    text = load.check_xff(run.front_port)
    if peer.traffic:
        text += "; " + load.check_traffic(ctx, run.workdirs[0] / "l7.sock")
    return text


def _one_phase(ctx, sc, peer, rec, rep, phase, addr, backend, counter, parts):
    """Starts the peer with the phase's configs, checks its plumbing and
    measures the phase's workloads; False when the peer is out of the
    scenario from now on (the record says why)."""
    try:
        run = peers.start(peer, ctx, addr, phase)
    except peers.Unavailable as e:
        rec["available"], rec["reason"] = False, str(e)
        ctx.say(f"{peer.id}: not available ({e})" + (f": {e.detail}" if e.detail else ""))
        return False
    try:
        rec["commands"] = _merge(rec["commands"], run.commands)
        try:
            check = _check(ctx, sc, peer, run, backend, phase)
        except (load.CheckFailed, OSError, ValueError, KeyError) as e:
            rec["available"], rec["reason"] = False, f"plumbing check failed: {e}"
            ctx.say(f"{peer.id}: not measured (plumbing check failed: {e})")
            return False
        rec.setdefault("checks", {}).setdefault(phase.name or "-", check)
        rec["check"] = "; ".join(rec["checks"].values())
        if peer.baseline:
            parts += _measure_paired(ctx, sc, peer, run, rec, rep, addr)
        else:
            parts += _measure(ctx, sc, peer, run, rec, rep, phase, counter)
        return True
    except (RuntimeError, OSError, peers.Unavailable) as e:
        rec["available"], rec["reason"] = False, f"failed in repetition {rep + 1}: {e}"
        ctx.say(f"{peer.id}: failed ({e})")
        return False
    finally:
        peers.stop(run, ctx)


def _measure_paired(ctx, sc, peer, run, rec, rep, addr):
    """A Strata variant against its baseline, both running at once: short
    small keep-alive runs alternate off/on, then on/off, so the load on the
    shared box hits both sides of each pair alike; each pair gives the
    ratio of CPU per request on/off (the overhead figure). The variant's
    own runs also count as its small runs."""
    base_peer = next(p for p in sc.peers if p.id == peer.baseline)
    base = peers.start(base_peer, ctx, addr)
    parts = []
    try:
        load.check_xff(base.front_port)
        for r in (base, run) if ctx.mode.warm else ():
            load.wrk_run(ctx, r.pids_by_role(), f"http://127.0.0.1:{r.front_port}/",
                         ctx.mode.conns, ctx.mode.warm)
        for i in range(ctx.mode.pairs):
            order = ("off", "on") if i % 2 == 0 else ("on", "off")
            pair = {}
            for side in order:
                r = run if side == "on" else base
                sock = run.workdirs[0] / "l7.sock"
                before = load.traffic_counts(ctx, sock) if side == "on" and peer.traffic \
                    else None
                pair[side] = load.wrk_run(ctx, r.pids_by_role(),
                                          f"http://127.0.0.1:{r.front_port}/",
                                          ctx.mode.conns, ctx.mode.pair_s)
                if before:
                    _count_limited(ctx, sock, pair[side], before)
            if not (run.alive() and base.alive()):
                raise RuntimeError("a process exited during the paired runs")
            small = dict(pair["on"], rep=rep, workload="small", scheme=sc.scheme)
            small["figures"] = stats.run_figures("small", small)
            res = {"rep": rep, "workload": "pair", "order": "/".join(order), **pair}
            res["figures"] = stats.run_figures("pair", res)
            rec["runs"] += [small, res]
            parts.append(_brief("pair", res))
    finally:
        peers.stop(base, ctx)
    return parts


def _count_limited(ctx, sock, res, before):
    """A run with the rate limit on: every request must have passed it and
    none been refused (the limit is never to be reached in a bench)."""
    allowed, limited, _ = load.traffic_counts(ctx, sock)
    allowed, limited = allowed - before[0], limited - before[1]
    res["ratelimit"] = {"allowed": allowed, "limited": limited}
    if limited or allowed < res["requests"]:
        res.setdefault("errors", {})["ratelimit"] = limited or res["requests"] - allowed


def _merge(old, new):
    return old + [c for c in new if c not in old]


def _measure(ctx, sc, peer, run, rec, rep, phase, counter):
    url = f"{sc.scheme}://127.0.0.1:{run.front_port}"
    mode = ctx.mode
    if mode.warm:
        if sc.scheme == "https":
            load.s_time_run(ctx, run.pids_by_role(), run.front_port, mode.warm, False)
        else:
            load.wrk_run(ctx, run.pids_by_role(), url + "/", mode.conns, mode.warm)
    parts = []
    for name, path, conns, secs, close in peer_workloads(peer, phase, mode):
        if name == "h2":
            res = load.h2load_run(ctx, run.pids_by_role(), url + path, conns, secs)
        elif name.startswith("hs-"):
            res = load.s_time_run(ctx, run.pids_by_role(), run.front_port, secs,
                                  name.startswith("hs-resumed"))
        else:
            res = load.wrk_run(ctx, run.pids_by_role(), url + path, conns, secs, close,
                               counter)
        if not run.alive():
            raise RuntimeError(f"a process exited during the {name} run")
        res.update(rep=rep, workload=name, scheme=sc.scheme,
                   figures=stats.run_figures(name, res, sc.scheme))
        rec["runs"].append(res)
        parts.append(_brief(name, res))
    if "idle" not in phase.workloads or (peer.workloads and "idle" not in peer.workloads):
        return parts
    try:
        res = load.idle_run(ctx, run.all_pids(), run.front_port, mode.idle)
        res.update(rep=rep, workload="idle", figures=stats.run_figures("idle", res))
        parts.append(_brief("idle", res))
    except RuntimeError as e:
        # The other figures stand; this one is reported as missing, with why.
        res = {"rep": rep, "workload": "idle", "error": str(e), "figures": {}}
        parts.append(f"idle FAILED: {e}")
    rec["runs"].append(res)
    return parts


def _brief(name, res):
    f = res["figures"]
    err = stats.errors_of(res)
    warn = f" ({err} errors)" if err else ""
    if name in ("small", "16k"):
        return (f"{name} {f.get(name + '.rps', 0):,.0f}/s "
                f"{f.get(name + '.cpu_us', 0):.2f} µs{warn}")
    if name == "conn":
        return f"conn {f.get('conn.cps', 0):,.0f}/s {f.get('conn.cpu_us', 0):.1f} µs{warn}"
    if name == "h2":
        return f"h2 {f.get('h2.rps', 0):,.0f}/s {f.get('h2.cpu_us', 0):.2f} µs{warn}"
    if name == "pair":
        on, off = (f"{res[k]['requests'] / res[k]['duration_us'] * 1e6:,.0f}/s "
                   f"{sum(res[k]['cpu_s'].values()) * 1e6 / res[k]['requests']:.2f} µs"
                   for k in ("on", "off"))
        return (f"{res['order']}: on {on}, off {off}: "
                f"{f.get('traffic.cpu_ratio', 0):.3f}×{warn}")
    if name.startswith("hs-"):
        key = stats.hs_key(name)
        return f"{name[3:]} {f.get(key, 0):,.0f}/CPU-s{warn}"
    if name == "bulk":
        return (f"bulk {f.get('bulk.mib_s', 0):,.0f} MiB/s "
                f"{f.get('bulk.cpu_s_gib', 0):.3f} s/GiB{warn}")
    return f"idle {f['idle.rss_b']:,.0f} B/conn rss {f['idle.slab_b']:,.0f} B/conn slab"


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
