"""End to end through tools/stack (configs/local): client -> strata-l4 :8000
-> strata-l7 :8100/:8101 (PPv2) -> strata-echo :8200-:8202.

The stack uses the fixed ports of the DESIGN.md layout: the local_stack
fixture (conftest.py) takes a lock in run/ (one run at a time on the
machine) and always brings the stack down again, even when it fails."""
import json
import subprocess
import time

from conftest import BUILD, RUN
from l7util import Client

SOURCES = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"]


def l4_conn_ids():
    """client ip:port -> strata-l4 connection id, from its access log."""
    out = {}
    path = RUN / "l4-access.log"
    if path.exists():
        for line in path.read_text().splitlines():
            j = json.loads(line)
            out[j["client"]] = j["conn"]
    return out


def test_client_address_and_request_id_cross_both_tiers(local_stack):
    seen = []
    for src in SOURCES:
        with Client(8000, source=src) as c:
            port = c.sock.getsockname()[1]
            r = c.request(headers=[("X-Forwarded-For", "1.2.3.4"), ("X-Real-IP", "1.2.3.4")])
            assert r.status == 200
            j = r.json()
            assert j["server"] in ("be-0", "be-1", "be-2")
            assert r.echo_headers("x-forwarded-for") == [src]
            assert r.echo_headers("x-real-ip") == [src]
            fwd = r.echo_headers("forwarded")
            assert len(fwd) == 1 and fwd[0].startswith(f"for={src};")
            assert "1.2.3.4" not in json.dumps(j["headers"])
            seen.append((f"{src}:{port}", r.echo_headers("x-request-id")))
    # strata-l4 writes its line when the connection ends: wait for all five
    deadline = time.monotonic() + 5
    ids = {}
    while time.monotonic() < deadline:
        ids = l4_conn_ids()
        if all(k in ids for k, _ in seen):
            break
        time.sleep(0.1)
    for client, rid in seen:
        assert client in ids, (client, ids)
        assert rid == [ids[client]], (client, rid, ids[client])


def test_l4_health_checks_are_answered_by_each_l7_instance(local_stack):
    """strata-l4 checks the L7 tier with PPv2 LOCAL + GET /healthz; each
    instance answers them itself (never forwarding them to a backend)."""
    ctl = str(BUILD / "bin" / "stratactl")
    deadline = time.monotonic() + 5
    counts = {}
    while time.monotonic() < deadline:
        for name in ("l7-0", "l7-1"):
            out = subprocess.run([ctl, "-s", str(RUN / f"{name}.sock"), "metrics",
                                  "strata_l7_local_health_total"], capture_output=True,
                                 text=True, timeout=10).stdout
            vals = [float(x.split()[-1]) for x in out.splitlines() if x.startswith("strata_l7_local")]
            counts[name] = sum(vals)
        if all(v > 0 for v in counts.values()):
            break
        time.sleep(0.2)
    assert all(v > 0 for v in counts.values()), counts
    for i in range(20):
        with Client(8000, source=SOURCES[i % len(SOURCES)]) as c:
            assert c.request(path=f"/{i}").status == 200
