"""`-t` on every config in the repository: each file in configs/bad/ must be
refused with the exact error line it names, each example config in
configs/local, configs/testbed and configs/baremetal must pass.

The convention is documented in configs/bad/README.md, and the README's own
example is parsed here, so the documentation and the checker cannot drift.
"""
import pathlib
import re
import subprocess

from conftest import CRASH_MARKERS, ROOT, binary

BAD = ROOT / "configs" / "bad"
GOOD_DIRS = [ROOT / "configs" / d for d in ("local", "testbed", "baremetal")]
PROGRAMS = ("strata-l4", "strata-l7", "strata-vrrp")
HEADER = re.compile(r"^#\s*(expect|program):\s?(.*?)\s*$")
TIMEOUT = 30


def parse_header(text):
    """The `# expect:` / `# program:` fields of the leading comment block."""
    fields = {}
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        m = HEADER.match(line)
        if m:
            assert m.group(1) not in fields, f"'{m.group(1)}' given twice"
            fields[m.group(1)] = m.group(2)
    return fields


def program_for(path, fields):
    """`# program:` when given, else from the file name (l4*, l7*, vrrp*)."""
    if "program" in fields:
        return fields["program"]
    name = path.name
    for prefix, prog in (("vrrp", "strata-vrrp"), ("l4", "strata-l4"), ("l7", "strata-l7"),
                         ("strata-", None)):
        if name.startswith(prefix):
            return prog or name[: -len(path.suffix)]
    return None


def run_check(prog, conf, cwd):
    return subprocess.run([binary(prog), "-t", "-c", conf], cwd=cwd, capture_output=True,
                          text=True, timeout=TIMEOUT)


def crash_in(text):
    return [m for m in CRASH_MARKERS if m in text]


def check_bad(path):
    """Returns a list of problems with one configs/bad file (empty: fine)."""
    fields = parse_header(path.read_text(errors="replace"))
    problems = []
    for key in ("expect", "program"):
        if key not in fields:
            problems.append(f"{path.name}: no '# {key}:' line in the leading comments")
    if problems:
        return problems, None
    prog, expect = fields["program"], fields["expect"]
    if prog not in PROGRAMS:
        return [f"{path.name}: '# program: {prog}' is not one of {', '.join(PROGRAMS)}"], None
    if not expect.startswith(path.name + ":"):
        problems.append(f"{path.name}: the expected line must start with '{path.name}:'")
    out = run_check(prog, path.name, path.parent)
    lines = out.stderr.splitlines()
    if out.returncode != 1:
        problems.append(f"{path.name}: {prog} -t exited {out.returncode}, not 1")
    if expect not in lines:
        problems.append(f"{path.name}: stderr lacks the line\n    {expect}\n  it was:\n    "
                        + "\n    ".join(lines[-5:] or ["(empty)"]))
    if out.stdout.strip():
        problems.append(f"{path.name}: stdout should be empty, got {out.stdout.strip()!r}")
    if crash_in(out.stderr):
        problems.append(f"{path.name}: {crash_in(out.stderr)} in stderr:\n{out.stderr[-2000:]}")
    return problems, prog


def good_configs():
    files = []
    for d in GOOD_DIRS:
        if d.is_dir():
            files += sorted(p for p in d.rglob("*.conf") if p.is_file())
    return files


def ensure_certs():
    """The example L7 configs name the test certificates in run/certs."""
    gen = ROOT / "tools" / "certs"
    if gen.exists() and not (ROOT / "run" / "certs" / "ca.pem").exists():
        subprocess.run([str(gen), str(ROOT / "run" / "certs")], check=True, timeout=120,
                       capture_output=True)


def test_readme_documents_a_parseable_convention():
    readme = (BAD / "README.md").read_text()
    blocks = re.findall(r"```\n(.*?)```", readme, re.S)
    examples = [b for b in blocks if b.startswith("# expect:")]
    assert examples, "configs/bad/README.md has no example starting with '# expect:'"
    for ex in examples:
        fields = parse_header(ex)
        assert fields.get("program") in PROGRAMS, fields
        name, line, rest = fields["expect"].split(":", 2)
        assert name.endswith(".conf") and line.isdigit() and rest.startswith(" "), fields
        # the line the error names is a real line of the example
        assert 1 <= int(line) <= len(ex.splitlines())
    # the naming rule the good-config check relies on is the one documented
    assert program_for(pathlib.Path("l7-0.conf"), {}) == "strata-l7"
    assert program_for(pathlib.Path("vrrp-a.conf"), {}) == "strata-vrrp"
    assert program_for(pathlib.Path("l4.conf"), {}) == "strata-l4"
    assert program_for(pathlib.Path("edge.conf"), {}) is None


def test_header_parser_rejects_malformed_headers():
    assert parse_header("# expect: a.conf:1: x\n# program: strata-l4\nx = 1;\n") == {
        "expect": "a.conf:1: x", "program": "strata-l4"}
    # fields after the first setting are not headers
    assert parse_header("x = 1;\n# expect: a.conf:1: x\n") == {}
    try:
        parse_header("# expect: a\n# expect: b\n")
    except AssertionError:
        pass
    else:
        raise AssertionError("a repeated field must be refused")


def test_every_bad_config_is_refused_with_its_exact_line():
    files = sorted(p for p in BAD.glob("*.conf") if p.is_file())
    problems, counts = [], {p: 0 for p in PROGRAMS}
    for path in files:
        found, prog = check_bad(path)
        problems += found
        if prog in counts:
            counts[prog] += 1
    summary = ", ".join(f"{p}: {n}" for p, n in counts.items())
    print(f"configs/bad: {len(files)} files checked ({summary})")
    assert not problems, "\n".join(problems)
    assert sum(counts.values()) == len(files)


def test_every_example_config_passes():
    files = good_configs()
    if any(program_for(p, parse_header(p.read_text(errors="replace"))) == "strata-l7"
           for p in files):
        ensure_certs()
    problems, checked = [], 0
    for path in files:
        rel = str(path.relative_to(ROOT))
        prog = program_for(path, parse_header(path.read_text(errors="replace")))
        if prog == "none":
            continue  # documented opt-out for configs of other software
        if prog not in PROGRAMS:
            problems.append(f"{rel}: cannot tell which program reads it; add '# program: "
                            f"strata-l4|strata-l7|strata-vrrp' (or 'none') to its first lines")
            continue
        out = run_check(prog, rel, ROOT)
        checked += 1
        if out.returncode != 0 or out.stdout.splitlines() != [f"{rel}: ok"]:
            problems.append(f"{rel}: {prog} -t exited {out.returncode}\n  stdout: "
                            f"{out.stdout.strip()!r}\n  stderr: {out.stderr.strip()[-1500:]}")
        elif crash_in(out.stderr):
            problems.append(f"{rel}: {crash_in(out.stderr)} in stderr")
    print(f"example configs: {checked} of {len(files)} checked")
    assert not problems, "\n".join(problems)


def uses_shared_check(prog, workdir):
    """True when `prog -t` goes through cfg_check_main() (and cfg_load())."""
    out = run_check(prog, "absent.conf", workdir)
    return (out.returncode == 1
            and "absent.conf: cannot read: No such file or directory" in out.stderr.splitlines())


def test_checker_on_real_daemons(workdir):
    """The runner above, end to end, on daemons whose -t already uses the
    shared check: a correct expectation passes, a wrong one is reported."""
    adopters = [p for p in PROGRAMS if uses_shared_check(p, workdir)]
    print(f"programs using the shared -t: {', '.join(adopters) or 'none'}")
    assert adopters, "no daemon answers -t through cfg_check_main() yet"
    for prog in adopters:
        good = workdir / "syntax.conf"
        good.write_text(f"# expect: syntax.conf:4: syntax error\n# program: {prog}\n\n"
                        "x = = 1;\n")
        assert check_bad(good) == ([], prog)
        wrong = workdir / "wrong.conf"
        wrong.write_text(f"# expect: wrong.conf:3: syntax error\n# program: {prog}\n"
                         "x = 1;\ny = = 2;\n")
        problems, _ = check_bad(wrong)
        assert len(problems) == 1 and "stderr lacks the line" in problems[0], problems
        assert "wrong.conf:4: syntax error" in problems[0]
        unnamed = workdir / "other.conf"
        unnamed.write_text(f"# expect: syntax.conf:3: syntax error\n# program: {prog}\n"
                           "x = = 1;\n")
        problems, _ = check_bad(unnamed)
        assert any("must start with 'other.conf:'" in p for p in problems), problems
        missing = workdir / "nohdr.conf"
        missing.write_text("x = 1;\n")
        problems, _ = check_bad(missing)
        assert len(problems) == 2, problems
