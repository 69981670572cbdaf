"""tools/bench/bench --smoke: the benchmark scripts run end to end.

Not a performance test (timing is not pass/fail): it checks that the bench
starts its peers, proves the plumbing (over TLS and HTTP/2 too), measures,
writes a JSON file of the documented shape with real request and handshake
counts, renders its report, says why a peer is not available, stops every
process it started, and that tools/bench/compare reads what it wrote.
"""
import json
import os
import subprocess

import pytest

from conftest import BUILD, ROOT

BENCH = ROOT / "tools" / "bench" / "bench"
COMPARE = ROOT / "tools" / "bench" / "compare"
# What each peer of the smoke run measures (its k16 duration is 0).
WORKLOADS = {"l4": {"small", "conn", "bulk", "idle"}, "l7": {"small", "conn", "bulk", "idle"},
             "tls": {"hs-full-ecdsa", "hs-resumed-ecdsa", "h2"}}
TRAFFIC_MISSING = "strata-l7 has no rate-limit keys yet"


def _alive(pid, start_time):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return fields[0] != "Z" and int(fields[19]) == start_time


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("bench-smoke")
    proc = subprocess.run([BENCH, "--smoke", "--out", out_dir], capture_output=True, text=True,
                          timeout=180, env=dict(os.environ, STRATA_BUILD=str(BUILD)))
    files = sorted(out_dir.glob("results-*.json"))
    data = json.loads(files[0].read_text()) if files else None
    return proc, out_dir, files, data


def test_exits_0_and_writes_one_results_file(smoke):
    proc, _, files, data = smoke
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert len(files) == 1
    assert data["schema"] == 1 and data["mode"] == "smoke"
    assert data["machine"]["nproc"] >= 2 and "HAProxy" in data["machine"]["haproxy"]
    assert [s["id"] for s in data["scenarios"]] == ["l4", "l7", "tls"]
    assert data["elapsed_s"] < 120


def test_every_peer_is_measured_or_says_why_not(smoke):
    proc, _, _, data = smoke
    for sc in data["scenarios"]:
        ids = [p["id"] for p in sc["peers"]]
        assert ids[0].startswith("strata-"), ids
        for p in sc["peers"]:
            if p["strata"] and not p["available"]:
                assert p["reason"], p
                assert f"{p['id']}: not available (" in proc.stdout
                continue
            assert p["available"], f"{sc['id']}/{p['id']}: {p['reason']}"
            assert "127.0.0.77" in p["check"], p["check"]
            want = {"small", "pair"} if p["id"] == "strata-l7-traffic" else WORKLOADS[sc["id"]]
            assert {r["workload"] for r in p["runs"]} == want
            assert p["commands"] and all("taskset -c 0" in c for c in p["commands"])


def test_runs_have_real_counts_and_figures(smoke):
    # counts are not compared with a speed: the smoke also runs on
    # sanitizer builds on a busy machine
    _, _, _, data = smoke
    measured = [(sc, p) for sc in data["scenarios"] if sc["id"] != "tls"
                for p in sc["peers"] if p["runs"] and p["id"] != "strata-l7-traffic"]
    assert len(measured) >= 2  # haproxy-tcp and nginx-ka128 at least
    for sc, p in measured:
        runs = {r["workload"]: r for r in p["runs"]}
        for w in ("small", "conn"):
            assert runs[w]["requests"] > 0, (sc["id"], p["id"], runs[w])
            assert runs[w]["errors"]["status"] == 0
            assert sum(runs[w]["cpu_s"].values()) > 0
        assert runs["bulk"]["bytes"] > 2**20
        assert runs["idle"]["connections"] == 100
        assert runs["idle"]["fds_after"] >= runs["idle"]["fds_before"] + 100
        f = p["figures"]
        for key in ("small.rps", "small.cpu_us", "small.p99_ms", "conn.cps", "conn.cpu_us",
                    "bulk.mib_s", "bulk.cpu_s_gib", "idle.rss_b"):
            assert key in f and f[key]["n"] == 1, (p["id"], key)
            assert f[key]["min"] <= f[key]["median"] <= f[key]["max"]
        assert f["small.cpu_us"]["median"] > 0.5
        if sc["id"] == "l7":  # strata-echo counts the proxy's upstream connections
            assert "small.upstream_per_100" in f


def test_tls_handshakes_resume_and_h2_runs(smoke):
    _, _, _, data = smoke
    tls = next(sc for sc in data["scenarios"] if sc["id"] == "tls")
    measured = [p for p in tls["peers"] if p["runs"]]
    assert "haproxy-https" in [p["id"] for p in measured]
    for p in measured:
        # certificate compared with the configured one, client address over h2
        assert "localhost-ecdsa.pem served and verified" in p["check"], p["check"]
        assert "over HTTP/2 (ALPN h2" in p["check"], p["check"]
        runs = {r["workload"]: r for r in p["runs"]}
        full, resumed = runs["hs-full-ecdsa"], runs["hs-resumed-ecdsa"]
        assert full["requests"] > 0 and full["resumed"] == 0, full
        assert resumed["requests"] > 0 and resumed["resumed"] == resumed["requests"], resumed
        assert full["bytes_per_conn"] > 100  # the relayed GET / came back
        assert runs["h2"]["requests"] > 0 and sum(runs["h2"]["errors"].values()) == 0
        assert sum(runs["h2"]["cpu_s"].values()) > 0
        for key in ("tls.full_ecdsa", "tls.resumed_ecdsa", "h2.rps", "h2.cpu_us"):
            assert p["figures"][key]["median"] > 0, (p["id"], key)
    strata = next(p for p in tls["peers"] if p["id"] == "strata-l7-tls")
    if strata["runs"]:  # its targets are judged against nginx and HAProxy
        judged = {t["figure"]: t for t in tls["targets"] if t["value"] is not None}
        assert judged["h2.cpu_us"]["against_peer"] == "haproxy-https"


def test_traffic_row_is_measured_or_not_available(smoke):
    proc, _, _, data = smoke
    l7 = next(sc for sc in data["scenarios"] if sc["id"] == "l7")
    p = next(p for p in l7["peers"] if p["id"] == "strata-l7-traffic")
    target = next(t for t in l7["targets"] if t["strata"] == "strata-l7-traffic")
    if not p["available"] and not p["runs"]:
        assert p["reason"] == TRAFFIC_MISSING
        assert f"strata-l7-traffic: not available ({TRAFFIC_MISSING})" in proc.stdout
        assert target["value"] is None
        return
    assert p["available"], p["reason"]
    assert "rate limit 'bench' allowed" in p["check"] and "breaker windows counted" in p["check"]
    pairs = [r for r in p["runs"] if r["workload"] == "pair"]
    assert [r["order"] for r in pairs] == ["off/on", "on/off"]
    for r in pairs:
        for side in ("on", "off"):
            assert r[side]["requests"] > 0 and r[side]["errors"]["status"] == 0
            assert sum(r[side]["cpu_s"].values()) > 0
        # every request of the "on" run went through the limiter, none was refused
        assert r["on"]["ratelimit"]["limited"] == 0 and "ratelimit" not in r["on"]["errors"]
        assert r["on"]["ratelimit"]["allowed"] >= r["on"]["requests"]
        assert r["figures"]["traffic.cpu_ratio"] > 0
    small = [r for r in p["runs"] if r["workload"] == "small"]
    assert [r["requests"] for r in small] == [r["on"]["requests"] for r in pairs]
    assert target["against"] is None and target["value"] == pytest.approx(
        p["figures"]["traffic.cpu_ratio"]["median"])
    assert "strata-l7" in l7["ratios"]["strata-l7-traffic"]


def test_leaves_no_process_running(smoke):
    proc, _, _, data = smoke
    assert data["leftovers"] == []
    # wrk runs, backends and peers: several processes per measured peer
    assert len(data["processes"]) >= 10
    alive = [p for p in data["processes"]
             if p["start_time"] is not None and _alive(p["pid"], p["start_time"])]
    assert alive == []


def test_report_and_charts_are_written(smoke):
    _, out_dir, _, data = smoke
    md = (out_dir / "benchmarks-smoke.md").read_text()
    assert "## L4 alone" in md and "## L7 alone" in md and "## Headline targets" in md
    assert "## TLS termination and HTTP/2" in md
    assert "| figure | strata-l4 | haproxy-tcp" in md
    pngs = sorted(p.name for p in (out_dir / "charts-smoke").glob("*.png"))
    assert "l7-cpu.png" in pngs and "l4-rps.png" in pngs and "tls-handshakes.png" in pngs
    for png in (out_dir / "charts-smoke").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "](charts-smoke/l7-cpu.png)" in md


def test_render_rebuilds_the_same_report_from_the_json(smoke, tmp_path):
    _, out_dir, files, _ = smoke
    out = subprocess.run([BENCH, "--render", files[0], "--out", tmp_path], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    again = (tmp_path / "benchmarks-smoke.md").read_text()
    assert again == (out_dir / "benchmarks-smoke.md").read_text()
    assert (tmp_path / "charts-smoke" / "l7-cpu.png").exists()


def test_readme_table_quotes_every_target(smoke):
    _, _, files, data = smoke
    out = subprocess.run([BENCH, "--readme", files[0]], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    rows = [ln for ln in out.stdout.splitlines() if ln.startswith("| strata-")]
    assert len(rows) == sum(len(sc["targets"]) for sc in data["scenarios"])
    assert any(r.startswith("| strata-l7-tls | CPU per HTTP/2 request") for r in rows)


def test_compare_reads_results_and_flags_a_regression(smoke, tmp_path):
    _, _, files, data = smoke
    same = subprocess.run([COMPARE, files[0], files[0]], capture_output=True, text=True,
                          timeout=30)
    assert same.returncode == 0, same.stderr
    assert "no figure changed" in same.stdout
    # Double one peer's CPU per request: compare must call it a regression.
    peer = next(p for p in data["scenarios"][1]["peers"] if p["figures"])
    agg = peer["figures"]["small.cpu_us"]
    for k in ("median", "min", "max"):
        agg[k] *= 2
    worse = tmp_path / "worse.json"
    worse.write_text(json.dumps(data))
    out = subprocess.run([COMPARE, files[0], worse], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines()
                if peer["id"] in ln and "CPU per small keep-alive request" in ln)
    assert "+100.0%" in line and "WORSE" in line
    bad = subprocess.run([COMPARE, files[0], tmp_path / "missing.json"], capture_output=True,
                         text=True, timeout=30)
    assert bad.returncode == 2 and "missing.json" in bad.stderr
