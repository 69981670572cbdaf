#!/usr/bin/python3
"""Figures from a drill's per-request records (tb_load.py output).

As a command, `tb_analyze.py RECORDS [--wall T]` summarises a load run made
anywhere (docs/deploy.md, drills on the real machines): failures and their
kinds, the windows in which requests failed or took over a second, which
L4 node answered when (the VIP's move), and how many clients kept their
L7 instance across it. --wall is the wall-clock time tb_load.py printed at
its start ("wall"), to print the windows as times of day.

A record is one request: t0 when it started, t1 when it ended (answer or
error), ok, err, and who served it (l4, l7, be). Times are CLOCK_MONOTONIC
seconds; the drill passes the instants it caused (the fault) or observed
(the VIP arriving, the client's neighbour entry switching).
"""
import collections
import json
import time


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


def windows(records, slow=1.0, gap=0.5):
    """[(start, end, n)] of requests that failed or took over `slow` s,
    merged when less than `gap` s apart (by start time)."""
    bad = sorted(r["t0"] for r in records if not r["ok"] or r["t1"] - r["t0"] > slow)
    out = []
    for t in bad:
        if out and t - out[-1][1] < gap:
            out[-1][1] = t
            out[-1][2] += 1
        else:
            out.append([t, t, 1])
    return out


def summary(records, wall=None):
    begin = min(r["t0"] for r in records)
    def when(t):
        if wall is None:
            return f"{t - begin:8.3f} s"
        w = wall + t - begin
        return time.strftime("%H:%M:%S", time.localtime(w)) + f".{int(w % 1 * 1000):03d}"

    lines = [f"requests {len(records)}, failed {len(failed(records))} ({error_kinds(records)}), "
             f"latency p50 {latency_ms(records, 0.5):.1f} ms, p99 {latency_ms(records, 0.99):.1f} ms"]
    for t0, t1, n in windows(records):
        lines.append(f"  trouble from {when(t0)} for {ms(t1 - t0)} ms: {n} requests failed or slow")
    nodes = {}
    for r in records:
        if r["ok"] and r.get("l4"):
            first, last = nodes.get(r["l4"], (r["t1"], r["t1"]))
            nodes[r["l4"]] = (min(first, r["t1"]), max(last, r["t1"]))
    for node, (first, last) in sorted(nodes.items(), key=lambda kv: kv[1][0]):
        lines.append(f"  answers from {node}: {when(first)} .. {when(last)}")
    if len(nodes) >= 2:
        order = sorted(nodes, key=lambda n: nodes[n][0])
        t_switch = nodes[order[1]][0]
        before = instance_by_client(records, before=t_switch)
        after = instance_by_client([r for r in records if r.get("l4") == order[1]],
                                   after=t_switch)
        kept, seen = stickiness(before, after)
        lines.append(f"  clients that kept their L7 instance across {order[0]} -> {order[1]}: "
                     f"{kept}/{seen}")
    return "\n".join(lines)


def main():
    import argparse
    ap = argparse.ArgumentParser(description="summarise tb_load.py records")
    ap.add_argument("records")
    ap.add_argument("--wall", type=float, help="tb_load.py's 'wall' start time")
    args = ap.parse_args()
    print(summary(load(args.records), args.wall))


if __name__ == "__main__":
    main()
