"""`testbed report`: docs/drills.md from the last saved run of each drill,
with one PNG timeline per drill (gnuplot) under docs/drills/.

The timeline shows answered requests and errors per second (100 ms bins,
by the time each request ended), the fault as a red line and what followed
(VIP on the new node, detection, ...) as green lines. The keepalived
comparison is copied from docs/vrrp.md ("Failover figures") when present.
"""
import json
import pathlib
import subprocess
import tempfile

import tb_topo

ORDER = ["l4-hard", "l4-graceful", "l4-graceful-ka", "l4-link", "l7-loss", "backend-loss",
         "reload", "drain"]
DOCS = tb_topo.ROOT / "docs"


def notes_for(r):
    """The drill's notes as the code has them now (older results lack them)."""
    import tb_drills
    cls = tb_drills.DRILLS.get(r["drill"])
    return (cls.notes if cls else "") or r.get("notes", "")


def results():
    out = []
    for name in ORDER:
        path = tb_topo.RESULTS / f"{name}.json"
        if path.exists():
            out.append(json.loads(path.read_text()))
    return out


def plot(result, png):
    """Writes the timeline of one result to `png` with gnuplot."""
    with tempfile.TemporaryDirectory() as tmp:
        data = pathlib.Path(tmp) / "t.dat"
        data.write_text("".join(f"{t} {ok} {err}\n" for t, ok, err in result["timeline"]))
        lines = [
            "set terminal pngcairo size 900,320 font 'DejaVu Sans,9'",
            f"set output '{png}'",
            f"set title \"{result['drill']}: {result['title']}\" noenhanced",
            "set xlabel 'seconds since the load started'",
            "set ylabel 'requests per second'",
            "set key top right",
            "set grid ytics",
            "set yrange [0:*]",
            "set offsets 0, 0, graph 0.25, 0",
        ]
        for i, (t, label) in enumerate(result["events"]):
            color = "#cc0000" if i == 0 else "#008800"
            lines.append(f"set arrow from {t}, graph 0 to {t}, graph 1 nohead "
                         f"lc rgb '{color}' dt {1 if i == 0 else 2} lw 1.5")
            lines.append(f"set label \"{label}\" at {t}, graph {0.97 - 0.07 * i} "
                         f"offset 0.5, 0 tc rgb '{color}' noenhanced")
        lines.append(f"plot '{data}' using 1:2 with steps lw 1.5 lc rgb '#1f5fa8' "
                     "title 'answered/s', "
                     f"'' using 1:3 with steps lw 1.5 lc rgb '#d62728' title 'errors/s'")
        script = pathlib.Path(tmp) / "t.gp"
        script.write_text("\n".join(lines) + "\n")
        subprocess.run(["gnuplot", str(script)], check=True, capture_output=True)


def keepalived_section():
    """The comparison table of docs/vrrp.md's "Failover figures", if any."""
    try:
        text = (DOCS / "vrrp.md").read_text()
    except OSError:
        return []
    if "## Failover figures" not in text:
        return []
    section = text.split("## Failover figures", 1)[1].split("\n## ", 1)[0]
    table = [line for line in section.splitlines() if line.startswith("|")]
    if not table:
        return []
    return ["## strata-vrrp and keepalived", "",
            "The VRRP layer alone, measured by the strata-vrrp tests with the same client probe "
            "for both daemons (copied from docs/vrrp.md, \"Failover figures\", where the "
            "method is described):", ""] + table + [""]


def summary_row(r):
    v = r["values"]
    key = {"l4-hard": ("takeover_s", "VIP takeover"), "l4-graceful": ("takeover_s", "VIP takeover"),
           "l4-graceful-ka": ("takeover_s", "VIP takeover"),
           "l4-link": ("takeover_s", "VIP takeover"), "l7-loss": ("detection_s", "detection"),
           "backend-loss": ("detection_s", "detection"), "drain": ("l7_out_s", "L7 out after")}
    main = ""
    if r["drill"] in key and v.get(key[r["drill"]][0]) is not None:
        main = f"{key[r['drill']][1]} {v[key[r['drill']][0]] * 1000:.0f} ms"
    checks = "all pass" if all(p for _, p in r["checks"]) else \
        "FAIL: " + "; ".join(w for w, p in r["checks"] if not p)
    return (f"| [{r['drill']}](#{r['drill']}) | {v['requests']} | {v['failed']} | {main} | "
            f"{checks} |")


def render(rs, png_dir_rel):
    out = ["# Failover drills", "",
           "<!-- Written by `testbed/testbed report` from run/testbed/results/; "
           "do not edit by hand. -->", "",
           "Each drill runs in the network-namespace testbed (docs/testbed.md: a client "
           "namespace with 30 addresses, lb-a and lb-b with strata-vrrp + strata-l4 on the "
           "VIP, three strata-l7, three strata-echo) under steady load from the client "
           "namespace: `testbed/tb_load.py` starts requests on a fixed schedule (open loop, "
           "so an outage shows as failures or late answers rather than a pause), the client "
           "addresses taking turns, and records every request's start, end, outcome and "
           "which L4 node, L7 instance and backend answered. Times come from one clock "
           "(CLOCK_MONOTONIC) shared by the load generator and the drill; the VIP's arrival "
           "and the client's neighbour entry are netlink events, the tiers' health views are "
           "admin-socket polls (an upper bound, at the stated resolution). The machine is a "
           "shared 2-core VM, so latencies include whatever else it was running.", "",
           "Run one with `sudo testbed/testbed drill NAME` (`all` for every drill), then "
           "`sudo testbed/testbed report`.", "",
           "| drill | requests | failed | main figure | checks |", "|---|---|---|---|---|"]
    out += [summary_row(r) for r in rs]
    out.append("")
    for r in rs:
        p = r["params"]
        out += [f"## {r['drill']}", "", f"**{r['title']}.** {r['what']}", "",
                f"Run {r['when']}{' (--quick)' if r['quick'] else ''}: {p['rate']:.0f} "
                f"requests/s ({p['mode']}), {p['warm']:.0f} s before the fault and "
                f"{p['after']:.0f} s after, {p['timeout']:.0f} s timeout per request.", "",
                "| figure | value |", "|---|---|"]
        out += [f"| {label} | {text} |" for label, text in r["figures"]]
        out.append("")
        out += [f"- {'✔' if passed else '✘ FAILED:'} {what}" for what, passed in r["checks"]]
        notes = notes_for(r)
        if notes:
            out += ["", notes]
        if r["events"]:
            out += ["", "Events (seconds after the load started): " +
                    "; ".join(f"{t:.3f} {label}" for t, label in r["events"]) + "."]
        out += ["", f"![{r['drill']} timeline]({png_dir_rel}/{r['drill']}.png)", ""]
    out += keepalived_section()
    return "\n".join(out).rstrip() + "\n"


def write(out_dir=None):
    """Writes drills.md (and drills/*.png) into out_dir (default docs/);
    returns the path of drills.md."""
    out = pathlib.Path(out_dir) if out_dir else DOCS
    rs = results()
    if not rs:
        raise SystemExit(f"testbed: no drill results in {tb_topo.RESULTS} "
                         "(run `testbed/testbed drill all` first)")
    png_dir = out / "drills"
    png_dir.mkdir(parents=True, exist_ok=True)
    for r in rs:
        plot(r, png_dir / f"{r['drill']}.png")
    md = out / "drills.md"
    md.write_text(render(rs, "drills"))
    return md
