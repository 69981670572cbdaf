"""The drill registry and `testbed drill NAME|all`."""
import sys

import tb_drill
import tb_drills_l4
import tb_drills_tiers

DRILLS = {d.name: d for d in (
    tb_drills_l4.L4Hard, tb_drills_l4.L4Graceful, tb_drills_l4.L4GracefulKeepalive,
    tb_drills_l4.L4Link,
    tb_drills_tiers.L7Loss, tb_drills_tiers.BackendLoss, tb_drills_tiers.Reload,
    tb_drills_tiers.Drain)}


def run(name, quick=False):
    """Runs one drill; returns its result dict (saved in results/)."""
    return DRILLS[name](quick=quick).run()


def run_cli(name, quick=False):
    names = list(DRILLS) if name == "all" else [name]
    unknown = [n for n in names if n not in DRILLS]
    if unknown:
        print(f"testbed: unknown drill '{unknown[0]}'; drills: {' '.join(DRILLS)} all",
              file=sys.stderr)
        return 2
    rc = 0
    for n in names:
        result = run(n, quick)
        tb_drill.print_result(result)
        rc |= 0 if all(passed for _, passed in result["checks"]) else 1
    return rc
