"""The bare-metal kit's systemd files, checked with systemd's own tools
(no systemd runs as PID 1 here): every unit parses without a warning,
its hardening keeps systemd's exposure score in the "OK" band, and the
sysusers/tmpfiles snippets create the strata user and the directories
the units write to, with the modes the units expect."""
import os
import pathlib
import re
import stat
import subprocess

import pytest

from conftest import BIN, ROOT

KIT = ROOT / "configs" / "baremetal" / "systemd"
UNITS = sorted(p.name for p in KIT.glob("*.service"))


def local_copy(tmp_path, unit):
    """The unit with its /usr/local/bin paths pointed at this build, since
    `verify` checks that every Exec* command exists."""
    text = (KIT / unit).read_text().replace("/usr/local/bin/", f"{BIN}/")
    path = tmp_path / unit
    path.write_text(text)
    return path


def test_the_kit_has_a_unit_per_daemon():
    assert UNITS == ["strata-l4.service", "strata-l7.service", "strata-vrrp.service"]


@pytest.mark.parametrize("unit", UNITS)
def test_units_parse_without_warnings(tmp_path, unit):
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(local_copy(tmp_path, unit))],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout + r.stderr == "", r.stdout + r.stderr


@pytest.mark.parametrize("unit", UNITS)
def test_units_are_hardened(tmp_path, unit):
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager",
                        str(local_copy(tmp_path, unit))],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", r.stdout)
    assert m, r.stdout + r.stderr
    # systemd's scale: 0 (sandboxed) .. 10 (exposed); below 4 reads "OK"
    assert float(m.group(1)) < 4.0, r.stdout


def test_sysusers_and_tmpfiles_create_the_user_and_directories(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    subprocess.run(["systemd-sysusers", f"--root={root}", str(KIT / "strata-sysusers.conf")],
                   check=True, capture_output=True, timeout=60)
    entry = [x for x in (root / "etc" / "passwd").read_text().splitlines()
             if x.startswith("strata:")]
    assert len(entry) == 1 and entry[0].endswith(":/usr/sbin/nologin"), entry
    uid, gid = int(entry[0].split(":")[2]), int(entry[0].split(":")[3])
    assert uid != 0 and gid != 0
    subprocess.run(["systemd-tmpfiles", f"--root={root}", "--create",
                    str(KIT / "strata-tmpfiles.conf")], check=True, capture_output=True,
                   timeout=60)
    units = "".join((KIT / u).read_text() for u in UNITS)
    for d, mode in (("run/strata", 0o770), ("var/log/strata", 0o750)):
        st = os.stat(root / d)
        assert stat.S_IMODE(st.st_mode) == mode and (st.st_uid, st.st_gid) == (uid, gid), d
    # the admin sockets live where the units may write
    assert "ReadWritePaths=/run/strata" in units
    for conf in (ROOT / "configs" / "baremetal").glob("*.conf"):
        for sock in re.findall(r'socket\s*=\s*"([^"]+)"', conf.read_text()):
            assert pathlib.PurePath(sock).parent == pathlib.PurePath("/run/strata"), (conf, sock)
