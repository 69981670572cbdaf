"""TLS end to end through the loopback stack of configs/local (tools/stack):
client -> strata-l4 :8443 (TLS passthrough, SNI peeked into the PPv2
AUTHORITY) -> strata-l7 :8140/:8141 (TLS terminated) -> strata-echo.

The stack uses the fixed ports of the DESIGN.md layout: like test_stack.py
this uses the local_stack fixture (conftest.py), which takes
run/test_stack.lock, so one stack runs at a time on the machine, and always
brings the stack down again."""
import json
import subprocess
import time

from conftest import BUILD, RUN

CA = RUN / "certs" / "ca.pem"


def curl(path, *args, src="127.0.0.1"):
    r = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", str(CA), "--interface",
                        src, *args, f"https://localhost:8443{path}"], capture_output=True,
                       text=True, timeout=15)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def l7_access():
    out = []
    for name in ("l7-0-access.log", "l7-1-access.log"):
        p = RUN / name
        if p.exists():
            out += [json.loads(x) for x in p.read_text().splitlines() if x]
    return out


def test_tls_through_l4_8443_keeps_the_client_address(local_stack):
    seen = {}
    for src in ("127.0.0.21", "127.0.0.22", "127.0.0.23", "127.0.0.24"):
        for proto in ("--http2", "--http1.1"):
            j = curl(f"/stack-tls{proto}", proto, src=src)
            hdr = {k.lower(): v for k, v in j["headers"]}
            assert hdr["x-forwarded-for"] == src and hdr["x-forwarded-proto"] == "https"
            assert hdr["x-request-id"].startswith("l4-local")
            seen[(src, proto)] = j["server"]
    assert set(seen.values()) <= {"be-0", "be-1", "be-2"}
    def ours():
        return [x for x in l7_access() if (x["path"] or "").startswith("/stack-tls")]
    deadline = time.monotonic() + 3
    while len(ours()) < 8 and time.monotonic() < deadline:
        time.sleep(0.05)  # the access log is written from the workers' tick
    lines = ours()
    assert len(lines) == 8
    assert {x["sni"] for x in lines} == {"localhost"}
    assert {x["proto"] for x in lines} == {"h2", "http/1.1"}
    # the SNI strata-l4 peeked (PPv2 AUTHORITY) matched the handshake's
    for inst in ("l7-0", "l7-1"):
        m = subprocess.run([str(BUILD / "bin" / "stratactl"), "-s", str(RUN / f"{inst}.sock"),
                            "metrics", "strata_l7_tls_authority_mismatch_total"],
                           capture_output=True, text=True, timeout=10).stdout
        assert all(line.endswith(" 0") for line in m.splitlines() if line and line[0] != "#")
