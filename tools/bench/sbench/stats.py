"""Figures from raw runs, medians with min-max, ratios and targets.

Every figure is derived from one measured run (one wrk run or one idle
test); a peer's figure is the median over repetitions with the min and max
beside it. Ratios Strata/peer divide medians from the same bench run.
"""
import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    unit: str
    better: str  # "lower" or "higher"
    fmt: str


FIGURES = [
    Figure("small.rps", "keep-alive req/s, small response", "req/s", "higher", "{:,.0f}"),
    Figure("small.cpu_us", "CPU per small keep-alive request", "µs", "lower", "{:.2f}"),
    Figure("small.cpu_s_100k", "CPU per 100k small requests", "s", "lower", "{:.3f}"),
    Figure("small.p50_ms", "p50 latency, small", "ms", "lower", "{:.3f}"),
    Figure("small.p99_ms", "p99 latency, small", "ms", "lower", "{:.3f}"),
    Figure("small.upstream_per_100", "upstream connections opened per 100 requests", "",
           "lower", "{:.2f}"),
    Figure("16k.rps", "keep-alive req/s, 16 KiB response", "req/s", "higher", "{:,.0f}"),
    Figure("16k.cpu_us", "CPU per 16 KiB keep-alive request", "µs", "lower", "{:.2f}"),
    Figure("16k.cpu_s_100k", "CPU per 100k 16 KiB requests", "s", "lower", "{:.3f}"),
    Figure("16k.p99_ms", "p99 latency, 16 KiB", "ms", "lower", "{:.3f}"),
    Figure("conn.cps", "new connections/s (one request each)", "conn/s", "higher", "{:,.0f}"),
    Figure("conn.cpu_us", "CPU per new connection", "µs", "lower", "{:.2f}"),
    Figure("conn.cpu_s_10k", "CPU per 10k new connections", "s", "lower", "{:.3f}"),
    Figure("conn.upstream_per_100", "upstream connections opened per 100 client connections",
           "", "lower", "{:.1f}"),
    Figure("tls.full_ecdsa", "full TLS handshakes per CPU-second, ECDSA P-256", "/CPU-s",
           "higher", "{:,.0f}"),
    Figure("tls.resumed_ecdsa", "resumed TLS handshakes per CPU-second, ECDSA P-256",
           "/CPU-s", "higher", "{:,.0f}"),
    Figure("tls.full_rsa", "full TLS handshakes per CPU-second, RSA-2048", "/CPU-s",
           "higher", "{:,.0f}"),
    Figure("tls.resumed_rsa", "resumed TLS handshakes per CPU-second, RSA-2048", "/CPU-s",
           "higher", "{:,.0f}"),
    Figure("h2.rps", "HTTP/2 req/s (h2load, 10 streams per connection)", "req/s", "higher",
           "{:,.0f}"),
    Figure("h2.cpu_us", "CPU per HTTP/2 request", "µs", "lower", "{:.2f}"),
    Figure("traffic.cpu_ratio", "CPU per small request, rate limits and breakers on / off "
           "(paired runs)", "×", "lower", "{:.3f}"),
    Figure("bulk.mib_s", "bulk throughput, 256 MiB responses", "MiB/s", "higher", "{:,.0f}"),
    Figure("bulk.cpu_s_gib", "CPU per GiB of bulk transfer", "s", "lower", "{:.3f}"),
    Figure("idle.rss_b", "process memory per idle connection", "bytes", "lower", "{:,.0f}"),
    Figure("idle.slab_b", "kernel slab per idle connection (all sockets of the path)",
           "bytes", "lower", "{:,.0f}"),
    Figure("idle.fds", "descriptors the proxy held for the idle connections (proof they "
           "were open)", "", "lower", "{:,.0f}"),
]
BY_KEY = {f.key: f for f in FIGURES}


def figure(key):
    """The Figure for a key; per-role keys ("small.cpu_s_100k.l4") share their
    base figure's unit and direction."""
    if key in BY_KEY:
        return BY_KEY[key]
    base, _, role = key.rpartition(".")
    f = BY_KEY.get(base)
    if f is None:  # a figure an older bench wrote and this one no longer defines
        return Figure(key, key, "", "lower", "{:.4g}")
    return Figure(key, f"{f.label} ({role} tier)", f.unit, f.better, f.fmt)


def hs_key(workload):
    """The figure of a handshake run: hs-full-ecdsa -> tls.full_ecdsa."""
    _, kind, key = workload.split("-")
    return f"tls.{kind}_{key}"


def errors_of(res):
    if "on" in res:  # a pair of runs
        return errors_of(res["on"]) + errors_of(res["off"])
    return sum(res.get("errors", {}).values())


def run_figures(workload, res, scheme="http"):
    """The figures one run yields, as {key: value}."""
    if workload == "idle":
        n = res["connections"]
        return {"idle.rss_b": (res["rss_after"] - res["rss_before"]) / n,
                "idle.slab_b": (res["slab_after"] - res["slab_before"]) / n,
                "idle.fds": res["fds_after"] - res["fds_before"]}
    if workload == "pair":
        per = {k: sum(res[k]["cpu_s"].values()) / res[k]["requests"] for k in ("on", "off")
               if res[k]["requests"]}
        return {"traffic.cpu_ratio": per["on"] / per["off"]} if len(per) == 2 and per["off"] \
            else {}
    cpu = sum(res["cpu_s"].values())
    n, dur, out = res["requests"], res["duration_us"] / 1e6, {}
    if n == 0 and workload != "bulk":
        return out
    w = workload
    if w in ("small", "16k"):
        out[f"{w}.rps"] = n / dur
        out[f"{w}.cpu_us"] = cpu * 1e6 / n
        out[f"{w}.cpu_s_100k"] = cpu * 1e5 / n
        out[f"{w}.p50_ms"] = res["latency_us"]["p50"] / 1000
        out[f"{w}.p99_ms"] = res["latency_us"]["p99"] / 1000
        if "backend_conns_opened" in res:
            out[f"{w}.upstream_per_100"] = 100.0 * res["backend_conns_opened"] / n
    elif w == "conn":
        out["conn.cps"] = n / dur
        out["conn.cpu_us"] = cpu * 1e6 / n
        out["conn.cpu_s_10k"] = cpu * 1e4 / n
        if "backend_conns_opened" in res:
            out["conn.upstream_per_100"] = 100.0 * res["backend_conns_opened"] / n
    elif w.startswith("hs-"):
        if cpu > 0:
            out[hs_key(w)] = n / cpu
    elif w == "h2":
        out["h2.rps"] = n / dur
        out["h2.cpu_us"] = cpu * 1e6 / n
    elif w == "bulk" and res["bytes"] > 0:
        out["bulk.mib_s"] = res["bytes"] / 2**20 / dur
        out["bulk.cpu_s_gib"] = cpu / (res["bytes"] / 2**30)
    if len(res["cpu_s"]) > 1:
        per = {"small": 1e5, "16k": 1e5, "conn": 1e4}.get(w)
        for role, c in res["cpu_s"].items():
            if per:
                key = f"{w}.cpu_s_{'100k' if per == 1e5 else '10k'}.{role}"
                out[key] = c * per / n
    return {k: v for k, v in out.items() if k.rsplit(".", 1)[0] in BY_KEY or k in BY_KEY}


def aggregate(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def peer_figures(runs):
    """{key: {median, min, max, n}} over a peer's measured runs."""
    by_key = {}
    for run in runs:
        for key, val in run.get("figures", {}).items():
            by_key.setdefault(key, []).append(val)
    return {k: aggregate(v) for k, v in by_key.items()}


def best_peer(peers, key):
    """(peer id, median) of the best non-Strata peer for a figure, or None."""
    f = figure(key)
    cands = [(p["id"], p["figures"][key]["median"]) for p in peers
             if not p["strata"] and key in p.get("figures", {})]
    if not cands:
        return None
    pick = min if f.better == "lower" else max
    return pick(cands, key=lambda c: c[1])


def ratios(peers):
    """{strata id: {peer id or "best": {key: ratio}}}, from medians. A
    Strata variant (a peer with a baseline) is also divided by its baseline."""
    out = {}
    for s in (p for p in peers if p["strata"] and p.get("figures")):
        r = out.setdefault(s["id"], {})
        for key, agg in s["figures"].items():
            for p in peers:
                if (p["strata"] and p["id"] != s.get("baseline")) \
                        or key not in p.get("figures", {}):
                    continue
                den = p["figures"][key]["median"]
                if den:
                    r.setdefault(p["id"], {})[key] = agg["median"] / den
            best = best_peer(peers, key)
            if best and best[1]:
                r.setdefault("best", {})[key] = agg["median"] / best[1]
                r.setdefault("best_peer", {})[key] = best[0]
    return out


def evaluate(target, peers):
    """Fills a target's measured value and verdict from the scenario's peers.

    target: {"strata", "figure", "against" ("best", a peer id, or None for an
    absolute bound), "op" ("<=", ">=", "<"), "bound", "text"}."""
    t = dict(target, value=None, passed=None, against_peer=None)
    s = next((p for p in peers if p["id"] == t["strata"]), None)
    if not s or t["figure"] not in s.get("figures", {}):
        return t
    mine = s["figures"][t["figure"]]["median"]
    if t["against"] is None:
        value = mine
    else:
        if t["against"] == "best":
            best = best_peer(peers, t["figure"])
        else:
            p = next((p for p in peers if p["id"] == t["against"]), None)
            best = ((p["id"], p["figures"][t["figure"]]["median"])
                    if p and t["figure"] in p.get("figures", {}) else None)
        if not best or not best[1]:
            return t
        t["against_peer"] = best[0]
        value = mine / best[1]
    t["value"] = value
    t["passed"] = {"<=": value <= t["bound"], ">=": value >= t["bound"],
                   "<": value < t["bound"]}[t["op"]]
    return t


def change(old, new, better):
    """Relative change new/old - 1, and whether it is an improvement."""
    if not old:
        return None, None
    rel = new / old - 1.0
    return rel, (rel < 0) == (better == "lower")
