"""The readable report: docs/benchmarks.md (or a copy beside the JSON) with a
table and bar charts (gnuplot PNGs) per scenario, the headline targets, the
machine, the exact commands and the hand-written method (method.md).
"""
import pathlib
import shutil
import subprocess

from . import stats

HERE = pathlib.Path(__file__).resolve().parent.parent
METHOD = HERE / "method.md"

# Figures shown in each scenario's table, in order.
TABLE = [f.key for f in stats.FIGURES]

# (file suffix, title, y label, [(figure key, x label)])
CHARTS = [
    ("cpu", "CPU of the proxy process(es) per request", "µs of CPU",
     [("small.cpu_us", "small keep-alive"), ("16k.cpu_us", "16 KiB keep-alive"),
      ("conn.cpu_us", "new connection"), ("h2.cpu_us", "HTTP/2 request")]),
    ("rps", "Requests per second (proxy pinned to one CPU)", "per second",
     [("small.rps", "small keep-alive"), ("16k.rps", "16 KiB keep-alive"),
      ("conn.cps", "new connections"), ("h2.rps", "HTTP/2 requests")]),
    ("handshakes", "TLS handshakes per CPU-second of the proxy", "handshakes per CPU-second",
     [("tls.full_ecdsa", "full, ECDSA P-256"), ("tls.resumed_ecdsa", "resumed, ECDSA P-256"),
      ("tls.full_rsa", "full, RSA-2048"), ("tls.resumed_rsa", "resumed, RSA-2048")]),
    ("bulk", "Bulk transfer: CPU per GiB (256 MiB responses)", "CPU seconds per GiB",
     [("bulk.cpu_s_gib", "CPU per GiB")]),
    ("idle", "Memory per idle connection", "bytes",
     [("idle.rss_b", "process RSS"), ("idle.slab_b", "kernel slab, whole path")]),
]


def fmt(key, value):
    return stats.figure(key).fmt.format(value) if value is not None else "—"


def cell(agg, key):
    if not agg:
        return "—"
    if agg["n"] == 1:
        return fmt(key, agg["median"])
    return f"{fmt(key, agg['median'])} ({fmt(key, agg['min'])}–{fmt(key, agg['max'])})"


def _keys(sc):
    keys = [k for k in TABLE if any(k in p["figures"] for p in sc["peers"])]
    extra = sorted({k for p in sc["peers"] for k in p["figures"]} - set(TABLE))
    out = []
    for k in keys:  # per-tier CPU right under the total it splits
        out.append(k)
        out += [e for e in extra if e.rsplit(".", 1)[0] == k]
    return out


# Columns of the ratio table: (figure key, short header).
RATIO_COLS = [("small.cpu_us", "CPU / small req"), ("16k.cpu_us", "CPU / 16 KiB req"),
              ("conn.cpu_us", "CPU / new conn"), ("bulk.cpu_s_gib", "CPU / GiB"),
              ("tls.full_ecdsa", "full hs / CPU-s, ECDSA"),
              ("tls.resumed_ecdsa", "resumed hs / CPU-s, ECDSA"),
              ("tls.full_rsa", "full hs / CPU-s, RSA"),
              ("tls.resumed_rsa", "resumed hs / CPU-s, RSA"), ("h2.cpu_us", "CPU / h2 req"),
              ("small.rps", "small req/s"), ("16k.rps", "16 KiB req/s"),
              ("conn.cps", "new conn/s"), ("h2.rps", "h2 req/s"),
              ("small.p99_ms", "p99 small"), ("idle.rss_b", "RSS / idle conn")]


def scenario_table(sc):
    """Every figure (rows) of every peer (columns): median (min–max)."""
    head = ["figure"] + [p["id"] for p in sc["peers"]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in _keys(sc):
        f = stats.figure(key)
        label = f"{f.label}" + (f" ({f.unit})" if f.unit else "")
        row = [label] + [cell(p["figures"].get(key), key) for p in sc["peers"]]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def ratio_table(sc):
    """Strata/peer for the key figures, one row per pair, from medians; empty
    when no Strata peer was measured."""
    strata = [p["id"] for p in sc["peers"] if p["strata"] and p["figures"]]
    others = [p["id"] for p in sc["peers"] if not p["strata"] and p["figures"]]
    cols = [(k, h) for k, h in RATIO_COLS
            if any(k in sc["ratios"].get(s, {}).get("best", {}) for s in strata)]
    if not strata or not others or not cols:
        return ""
    head = ["Strata / peer"] + [h for _, h in cols]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    base = {p["id"]: p.get("baseline") for p in sc["peers"]}
    for s in strata:
        r = sc["ratios"][s]
        # A Strata variant is shown against what it varies; the others
        # against every peer and the best one.
        for o in [base[s]] if base[s] else others + ["best"]:
            name = f"{s} / {o}" if o != "best" else f"**{s} / best peer**"
            row = [name]
            for k, _ in cols:
                v = r.get(o, {}).get(k)
                cellv = f"{v:.2f}×" if v is not None else "—"
                if o == "best" and v is not None:
                    cellv = f"**{cellv}** ({r['best_peer'][k]})"
                row.append(cellv)
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def target_rows(targets):
    rows = []
    for t in targets:
        f = stats.figure(t["figure"])
        if t["value"] is None:
            got, verdict = "not measured", "—"
        elif t["against"] is None:
            sep = "" if f.unit == "×" else " "
            got = f"{fmt(t['figure'], t['value'])}{sep}{f.unit}".strip()
            verdict = "met" if t["passed"] else "**missed**"
        else:
            got = f"{t['value']:.2f}× {t['against_peer']}"
            verdict = "met" if t["passed"] else "**missed**"
        rows.append(f"| {t['strata']} | {t['text']} | {got} | {verdict} |")
    return rows


def readme_table(results):
    """The headline targets as the README quotes them: one row per target,
    Strata's figure (a ratio names the peer it divides by) and the verdict."""
    lines = ["| Strata | target | measured | verdict |", "|---|---|---|---|"]
    for sc in results["scenarios"]:
        peers = {p["id"]: p for p in sc["peers"]}
        for t in sc["targets"]:
            if t["value"] is None:
                p = peers.get(t["strata"])
                why = p["reason"] if p and p.get("reason") else "not measured"
                lines.append(f"| {t['strata']} | {t['text']} | {why} | — |")
                continue
            lines += target_rows([t])
    return "\n".join(lines)


def headline(results):
    lines = ["| Strata | target | measured | verdict |", "|---|---|---|---|"]
    for sc in results["scenarios"]:
        lines += target_rows(sc["targets"])
    return "\n".join(lines)


def _unavailable(sc):
    return [f"- **{p['id']}: not available** ({p['reason']})"
            for p in sc["peers"] if not p["available"] and not p["runs"]] + \
           [f"- **{p['id']}**: {p['reason']}" for p in sc["peers"]
            if not p["available"] and p["runs"]]


def _reps(results, sc):
    n = sc.get("reps", results["settings"]["reps"]) - len(sc.get("skipped_reps") or [])
    return f"{n} repetition{'s' if n != 1 else ''}"


def _load_range(results):
    loads = [v for sc in results["scenarios"] for p in sc["peers"] for v in p.get("loadavg", [])]
    return f"{min(loads):.1f}–{max(loads):.1f}" if loads else "?"


def write_markdown(results, path, chart_dir):
    m = results["machine"]
    rel = pathlib.Path(chart_dir).relative_to(pathlib.Path(path).parent)
    out = [f"# Benchmarks: Strata side by side with HAProxy and nginx", "",
           f"Generated by `tools/bench/bench` ({results['mode']} run, "
           f"{results['started']} – {results['finished']}, {results['elapsed_s']:.0f} s). "
           "Raw figures: `docs/bench/results.json` (compare two runs with "
           "`tools/bench/compare OLD NEW`).", ""]
    if results.get("note"):
        out += [f"> {results['note']}", ""]
    out += ["## Headline targets", "",
            "Ratios are Strata's median divided by the median of the peer named "
            "(the best other peer unless the target names one) in the same run; lower "
            "is better for CPU, higher for req/s and handshakes. The traffic-management "
            "figure is the median of paired on/off runs (see the L7 scenario).", "",
            headline(results), "",
            "## Machine", "",
            f"- {m['nproc']} CPUs: {m['cpu']}; kernel {m['kernel']}; "
            f"{m['mem_gib']:.0f} GiB RAM",
            f"- 1-minute load average when each peer started: {_load_range(results)} "
            "(the box is shared: absolute req/s move with it, CPU per request much less)",
            f"- {m['haproxy']}; {m['nginx']}; {m['wrk']}; {m.get('h2load', '?')}; "
            f"{m['strata']}", ""]
    out += [METHOD.read_text().strip(), ""] if METHOD.exists() else []
    out += _commands(results)
    for sc in results["scenarios"]:
        out += [f"## {sc['title']}", "", sc["about"], "",
                f"Backend: `{sc['backend']['command']}`", ""]
        out += _unavailable(sc)
        checks = [f"- {p['id']}: {p['check']}" for p in sc["peers"] if p.get("check")]
        if checks:
            out += ["", "Plumbing checked before measuring (client 127.0.0.77):", ""] + checks
        if sc.get("skipped_reps"):
            out += ["", f"Repetitions {sc['skipped_reps']} were skipped to keep the run "
                    "within its time budget."]
        out += ["", f"Median (min–max) over {_reps(results, sc)}.", "",
                scenario_table(sc), ""]
        rt = ratio_table(sc)
        if rt:
            out += ["Ratios Strata/peer, medians of this run (below 1× means less CPU, "
                    "latency or memory; above 1× means more req/s or handshakes):", "", rt, ""]
        if sc["targets"]:
            out += ["| Strata | target | measured | verdict |", "|---|---|---|---|"]
            out += target_rows(sc["targets"]) + [""]
        for suffix, title, _, _ in CHARTS:
            png = f"{sc['id']}-{suffix}.png"
            if (pathlib.Path(chart_dir) / png).exists():
                out.append(f"![{sc['title']}: {title}]({rel}/{png})")
        out.append("")
    pathlib.Path(path).write_text("\n".join(out).rstrip() + "\n")


def _commands(results):
    s = results["settings"]
    cmd = " ".join(["tools/bench/bench"] + results.get("argv", []))
    how = ("what `make bench` runs, here with Strata built from a clean export of the "
           "commit" if "--from-commit" in cmd else "what `make bench` runs")
    out = ["## Exact commands", "",
           f"This report: `{cmd}` ({how}); a short sanity run: "
           "`make bench QUICK=1`; a later run against this one: "
           "`tools/bench/compare docs/bench/results.json build/bench/results-<timestamp>.json`.",
           "",
           f"Proxies run on CPU {s['cpu_proxy']}, wrk, the backend and the idle-connection "
           f"helper on CPU {s['cpu_load']}. Configs: `tools/bench/conf/`, rendered into a "
           "temp dir (`$BENCH_TMP`) with the run's ports. Load, per workload "
           "(PORT = the front tier's listener):", "", "```"]
    out += results["commands"]["load"]
    out += ["```", "", "Peers (one line per process, front tier first; each is started "
            "after the tier behind it listens):", "", "```"]
    for sc in results["scenarios"]:
        for p in sc["peers"]:
            for c in p["commands"]:
                out.append(f"# {sc['id']}/{p['id']}: {c}")
    out += ["```", ""]
    return out


def write_charts(results, chart_dir):
    """One PNG per scenario and chart kind; returns the files written."""
    if not shutil.which("gnuplot"):
        return []
    chart_dir = pathlib.Path(chart_dir)
    chart_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for sc in results["scenarios"]:
        measured = [p for p in sc["peers"] if p["figures"]]
        for suffix, title, ylabel, keys in CHARTS:
            keys = [(k, x) for k, x in keys if any(k in p["figures"] for p in measured)]
            if not keys or not measured:
                continue
            png = chart_dir / f"{sc['id']}-{suffix}.png"
            _gnuplot(png, f"{sc['title']}: {title}", ylabel, keys, measured)
            written.append(png)
    return written


def _gnuplot(png, title, ylabel, keys, peers):
    dat = png.with_suffix(".dat")
    rows = []
    for key, xlabel in keys:
        vals = []
        for p in peers:
            a = p["figures"].get(key)
            vals += [a["median"], a["min"], a["max"]] if a else [0, 0, 0]
        rows.append(f'"{xlabel}" ' + " ".join(f"{v:.6g}" for v in vals))
    dat.write_text("\n".join(rows) + "\n")
    plots = []
    for i, p in enumerate(peers):
        c = 2 + 3 * i
        xt = ":xtic(1)" if i == 0 else ""
        plots.append(f"'{dat}' using {c}:{c + 1}:{c + 2}{xt} title '{p['id']}'")
    script = "\n".join([
        "set terminal pngcairo size 900,420 font 'DejaVu Sans,10'",
        f"set output '{png}'",
        f"set title '{title}'",
        f"set ylabel '{ylabel}'",
        "set style data histograms",
        "set style histogram errorbars gap 2 lw 1",
        "set style fill solid 0.8 border -1",
        "set boxwidth 0.9",
        "set yrange [0:*]",
        "set grid ytics",
        "set key outside right top vertical",
        "plot " + ", ".join(plots)])
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True,
                       capture_output=True, timeout=30)
    finally:
        dat.unlink(missing_ok=True)
