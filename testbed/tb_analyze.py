"""Figures from a drill's per-request records (tb_load.py output).

A record is one request: t0 when it started, t1 when it ended (answer or
error), ok, err, and who served it (l4, l7, be). Times are CLOCK_MONOTONIC
seconds; the drill passes the instants it caused (the fault) or observed
(the VIP arriving, the client's neighbour entry switching).
"""
import collections
import json


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def failed(records):
    return [r for r in records if not r["ok"]]


def in_flight(records, t):
    """Requests under way at instant t."""
    return [r for r in records if r["t0"] < t < r["t1"]]


def served_by(records, key, value, after=None, before=None):
    return [r for r in records if r["ok"] and r.get(key) == value
            and (after is None or r["t0"] >= after) and (before is None or r["t0"] < before)]


def error_kinds(records):
    c = collections.Counter(r["err"] for r in failed(records))
    return ", ".join(f"{k} {n}" for k, n in c.most_common()) or "none"


def first_ok(records, after, key=None, value=None):
    """The first successful answer that ended after `after` (optionally
    served by key=value)."""
    best = None
    for r in records:
        if r["ok"] and r["t1"] >= after and (key is None or r.get(key) == value):
            if best is None or r["t1"] < best["t1"]:
                best = r
    return best


def instance_by_client(records, before=None, after=None, fresh_only=True):
    """client -> the L7 instance of its last answer before `before`, or of
    its first answer after `after`."""
    out = {}
    rows = [r for r in records if r["ok"] and r.get("l7") and (not fresh_only or not r["ka"])]
    if before is not None:
        for r in sorted(rows, key=lambda r: r["t0"]):
            if r["t1"] < before:
                out[r["c"]] = r["l7"]
    else:
        for r in sorted(rows, key=lambda r: r["t0"], reverse=True):
            if r["t0"] >= after:
                out[r["c"]] = r["l7"]
    return out


def stickiness(before, after, among=None):
    """(clients that kept their L7 instance, clients seen both times),
    optionally only clients whose instance before was in `among`."""
    both = [c for c in before if c in after and (among is None or before[c] in among)]
    return sum(before[c] == after[c] for c in both), len(both)


def timeline(records, begin, end, step=0.1):
    """[(t - begin, answered per second, errors per second)] in `step` bins,
    by the time each request ended."""
    n = max(1, int((end - begin) / step + 0.5))
    ok = [0] * n
    err = [0] * n
    for r in records:
        i = int((r["t1"] - begin) / step)
        if 0 <= i < n:
            (ok if r["ok"] else err)[i] += 1
    return [(round(i * step, 3), ok[i] / step, err[i] / step) for i in range(n)]


def latency_ms(records, q):
    lat = sorted((r["t1"] - r["t0"]) * 1000 for r in records if r["ok"])
    if not lat:
        return None
    return lat[min(len(lat) - 1, int(q * len(lat)))]


def ms(t):
    return None if t is None else round(t * 1000, 1)


def pct(a, b):
    return None if not b else round(100.0 * a / b, 1)
