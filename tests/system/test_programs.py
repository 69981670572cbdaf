"""Every program builds and answers -V and -h."""
import subprocess

import pytest

from conftest import binary

PROGRAMS = ["strata-l4", "strata-vrrp", "strata-l7", "stratactl", "strata-echo"]


@pytest.mark.parametrize("prog", PROGRAMS)
def test_version_flag_prints_name_and_version(prog):
    out = subprocess.run([binary(prog), "-V"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0
    name, version = out.stdout.split()
    assert name == prog
    assert version.count(".") == 2


@pytest.mark.parametrize("prog", PROGRAMS)
def test_help_flag_prints_usage(prog):
    out = subprocess.run([binary(prog), "-h"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0
    assert out.stdout.startswith(f"usage: {prog}")


@pytest.mark.parametrize("prog", ["strata-l4", "strata-vrrp", "strata-l7", "strata-echo"])
def test_unknown_option_exits_2(prog):
    out = subprocess.run([binary(prog), "-Z"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 2
    assert "usage:" in out.stderr
