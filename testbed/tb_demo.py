#!/usr/bin/python3
"""What `make demo` shows between `up` and the drill: a short burst of
requests to the VIP from several client addresses, and each answer as the
backend saw it, so the client address can be followed through both tiers
(strata-l4 -> PROXY v2 -> strata-l7 -> X-Forwarded-For / X-Real-IP).

    testbed/tb_demo.py [--clients N] [--per-client K]
"""
import argparse
import collections
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import tb_load  # noqa: E402
import tb_net  # noqa: E402
import tb_topo  # noqa: E402


def burst(n_clients, per_client):
    rows = []
    for i in range(per_client):
        for client in tb_topo.CLIENTS[:n_clients]:
            status, _, body = tb_net.http_get("st-client", tb_topo.VIP, tb_topo.VIP_PORT,
                                              f"/demo/{i}", source=client)
            doc = json.loads(body)
            hdr = {k.lower(): v for k, v in doc["headers"]}
            rows.append({"client": client, "status": status,
                         "l4": tb_load.l4_node(hdr.get("x-request-id", "")),
                         "l7": hdr.get("x-strata-l7"), "be": doc["server"],
                         "peer": doc["conn"]["peer"], "xff": hdr.get("x-forwarded-for"),
                         "xri": hdr.get("x-real-ip"), "rid": hdr.get("x-request-id")})
    return rows


def show(rows):
    cols = [("client", "client"), ("l4", "L4 node"), ("l7", "L7 instance"),
            ("be", "backend"), ("peer", "backend's TCP peer"), ("xff", "X-Forwarded-For"),
            ("xri", "X-Real-IP"), ("rid", "X-Request-Id")]
    width = {k: max(len(title), *(len(str(r[k])) for r in rows)) for k, title in cols}
    print("  ".join(f"{title:<{width[k]}}" for k, title in cols))
    for r in rows:
        print("  ".join(f"{str(r[k]):<{width[k]}}" for k, _ in cols))
    same = sum(r["xff"] == r["client"] and r["xri"] == r["client"] for r in rows)
    print(f"\n{same}/{len(rows)} answers carry the client's own address in X-Forwarded-For and "
          "X-Real-IP,\nalthough every TCP connection the backends saw came from an L7 instance.")
    by_client = collections.defaultdict(set)
    for r in rows:
        by_client[r["client"]].add(r["l7"])
    steady = sum(len(v) == 1 for v in by_client.values())
    print(f"{steady}/{len(by_client)} clients were sent to one L7 instance every time "
          "(Maglev on the client address).")
    return same == len(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--per-client", type=int, default=2)
    args = ap.parse_args()
    return 0 if show(burst(min(args.clients, len(tb_topo.CLIENTS)), args.per_client)) else 1


if __name__ == "__main__":
    sys.exit(main())
