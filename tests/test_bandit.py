"""bandit over the package (seed 004 §7, security): every finding is fixed or justified, and a new one fails.

Justified findings live in bandit.toml, counted per bandit test and per enclosing function, so the list
survives lines moving but not a new string-built query; inline `# nosec` comments must name the test
and say why.
"""
from __future__ import annotations

import ast
import collections
import json
import re
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: bandit[toml] brings tomli
    import tomli as tomllib

ROOT = Path(__file__).parents[1]
CONFIG = ROOT / "bandit.toml"
PACKAGE = "src/leanops"
NOSEC = re.compile(r"#\s*nosec\b(?P<rest>.*)$")
NOSEC_WITH_REASON = re.compile(r"^ (B\d{3})( B\d{3})*  # \S")  # `# nosec B608 B607  # why`

Findings = collections.Counter  # (test id, "path::function") -> how many


def run_bandit(target: str, cwd: Path = ROOT) -> list[dict]:
    done = subprocess.run([sys.executable, "-m", "bandit", "-c", str(CONFIG), "-r", target, "-f", "json", "-q"],
                          cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode in (0, 1), done.stderr  # 1: findings reported
    report = json.loads(done.stdout)
    assert report["errors"] == [], report["errors"]  # a file bandit could not parse is not a clean file
    return report["results"]


def enclosing(path: Path, line: int) -> str:
    """`Class.method` / `function` / `outer.inner` holding `line`, or `<module>`."""
    names: list[str] = []
    node: ast.AST = ast.parse(path.read_text(encoding="utf-8"))
    while True:
        inner = next((child for child in ast.iter_child_nodes(node)
                      if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                      and child.lineno <= line <= child.end_lineno), None)
        if inner is None:
            return ".".join(names) or "<module>"
        names.append(inner.name)
        node = inner


def counted(results: list[dict], cwd: Path = ROOT) -> Findings:
    return Findings((r["test_id"], f"{r['filename']}::{enclosing(cwd / r['filename'], r['line_number'])}")
                    for r in results)


def justified() -> Findings:
    groups = tomllib.loads(CONFIG.read_text(encoding="utf-8"))["tool"]["leanops"]["bandit-justified"]
    allowed = Findings()
    for group in groups:
        assert re.fullmatch(r"B\d{3}", group["test"]) and len(group["reason"].split()) >= 8, group
        for where, count in group["findings"].items():
            allowed[(group["test"], where)] += count
    return allowed


def unexplained(found: Findings, allowed: Findings) -> tuple[list[str], list[str]]:
    """(findings beyond the justified counts, justified entries with fewer findings than listed)."""
    new = [f"{test} {where} x{n}" for (test, where), n in sorted((found - allowed).items())]
    stale = [f"{test} {where} x{n}" for (test, where), n in sorted((allowed - found).items())]
    return new, stale


def test_every_bandit_finding_is_fixed_or_justified():
    new, stale = unexplained(counted(run_bandit(PACKAGE)), justified())
    assert not new, ("new bandit findings: fix them, or justify them inline (`# nosec BXXX  # why`) or in "
                     "bandit.toml:\n" + "\n".join(new))
    assert not stale, "bandit.toml lists findings that are gone: drop them:\n" + "\n".join(stale)


def test_a_new_finding_is_caught(tmp_path):
    """The comparison above fails on a finding nobody justified (here: a query built from an argument)."""
    package = tmp_path / "src" / "leanops"
    package.mkdir(parents=True)
    (package / "fresh.py").write_text(
        "def rows(con, table):\n"
        "    return con.execute(f\"SELECT * FROM {table} WHERE kind = 'x'\").fetchall()\n", encoding="utf-8")
    new, stale = unexplained(counted(run_bandit(PACKAGE, cwd=tmp_path), cwd=tmp_path), justified())
    assert new == ["B608 src/leanops/fresh.py::rows x1"]
    assert stale  # nothing of the real package is in there


def test_inline_nosec_names_the_test_and_why():
    loose = []
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = NOSEC.search(line)
            if match and not NOSEC_WITH_REASON.match(match["rest"]):
                loose.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not loose, "write `# nosec BXXX  # why`:\n" + "\n".join(loose)
