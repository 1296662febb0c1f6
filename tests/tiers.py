"""The test tiers and what each one needs on the machine.

One table, read twice: scripts/test.sh runs this file with the system Python before anything is
installed (`python3 tests/tiers.py preflight`) to decide which tiers it sets up, and the pytest plugin
tests/tier_plugin.py probes the same needs before each test of a tier. A missing prerequisite is one
line naming it and how to get it: the tier is skipped, or, with LEANOPS_REQUIRE_ALL_TIERS=1 (CI sets
it in .ci/run), it is an error, so a machine without Java never passes CI by skipping the Spark tests.

A test belongs to a tier by its marker (`@pytest.mark.spark`, ...); `slow` needs nothing beyond Python
and the tests with no tier marker are `fast`. Standard library only: it runs before .venv exists.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
REQUIRE_ALL_ENV = "LEANOPS_REQUIRE_ALL_TIERS"
PROBE_TIMEOUT_S = 60  # `java -version` on a loaded machine; only a hung binary gets near it


class Missing(Exception):
    """A prerequisite that is not there; the message says what was found instead."""


@dataclasses.dataclass(frozen=True)
class Need:
    """One prerequisite of a tier.

    `probe` returns a label of what it found ("Java 17.0.15") or raises Missing. `by_setup` needs come
    from PyPI or npm through the tier's setup script, so scripts/test.sh does not ask for them up front;
    `installable` says whether the setup script can install a missing system package (apt-get as root)."""
    name: str
    probe: Callable[[], str]
    hint: str
    by_setup: bool = False
    installable: Callable[[], str] | None = None


@dataclasses.dataclass(frozen=True)
class Tier:
    name: str  # the pytest marker ("fast": the tests without a tier marker)
    tests: str  # what its tests check
    needs: tuple[Need, ...] = ()
    setup: str | None = None  # the script that installs what the tier needs

    def missing(self) -> list[str]:
        """One line per need that is not there now (what pytest checks before a test of the tier)."""
        problems = []
        for need in self.needs:
            try:
                need.probe()
            except Missing as exc:
                problems.append(f"{need.name}: {exc}; {need.hint}")
        return problems

    def preflight(self) -> tuple[list[str], list[str]]:
        """(what is there, what is missing) before setup: needs the setup script installs are not asked for."""
        found, problems = [], []
        for need in self.needs:
            if need.by_setup:
                continue
            try:
                found.append(need.probe())
            except Missing as exc:
                if need.installable is None:
                    problems.append(f"{need.name}: {exc}; {need.hint}")
                    continue
                try:
                    found.append(f"{need.name} (to install with {need.installable()})")
                except Missing as cannot:
                    problems.append(f"{need.name}: {exc}, and {cannot}; {need.hint}")
        return found, problems


# -- probes -------------------------------------------------------------------------------------------

def _run(command: list[str]) -> str:
    """stdout + stderr of a version command, or Missing when it cannot run."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S,
                              env={**os.environ, "CHECKPOINT_DISABLE": "1"})  # terraform: no call home
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Missing(f"`{' '.join(command)}` did not run ({exc})") from None
    return done.stdout + done.stderr


def java_17() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home, "bin", "java")) if home else shutil.which("java")
    if not java or not os.access(java, os.X_OK):
        raise Missing(f"no java at {java}" if home else "`java` is not on PATH")
    match = re.search(r'version "([0-9._]+)', _run([java, "-version"]))
    if not match:
        raise Missing(f"`{java} -version` did not print a version")
    version = match.group(1)
    parts = version.split(".")
    major = int(parts[1] if parts[0] == "1" else parts[0])  # "1.8.0_392" is Java 8
    if major != 17:
        raise Missing(f"{java} is Java {major}")
    return f"Java {version}"


def apt_as_root() -> str:
    """apt-get that the setup scripts can run: as root, or through sudo."""
    if not shutil.which("apt-get"):
        raise Missing("there is no apt-get to install it (not Debian or Ubuntu)")
    if os.geteuid() != 0 and not shutil.which("sudo"):
        raise Missing("apt-get needs root and there is no sudo")
    return "apt-get (as root)" if os.geteuid() == 0 else "apt-get (through sudo)"


def sqlite_jdbc_jar() -> str:
    override = os.environ.get("LEANOPS_SQLITE_JDBC_JAR")
    candidates = [Path(override)] if override else [Path("/usr/share/java/sqlite-jdbc.jar"),
                                                    Path("/usr/share/java/xerial-sqlite-jdbc.jar")]
    for path in candidates:
        if path.is_file():
            return f"SQLite JDBC driver at {path}"
    raise Missing("not at " + " or ".join(str(p) for p in candidates))


def python_package(*modules: str) -> Callable[[], str]:
    """A probe for modules importable by the Python running the tests (the project's .venv)."""
    def probe() -> str:
        absent = [m for m in modules if importlib.util.find_spec(m) is None]
        if absent:
            raise Missing(f"{', '.join(absent)} not importable by {sys.executable}")
        return ", ".join(modules)
    return probe


def executable(path: Path, what: str) -> Callable[[], str]:
    def probe() -> str:
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise Missing(f"not at {path}")
        return f"{what} at {path}"
    return probe


def node_18() -> str:
    if not shutil.which("node"):
        raise Missing("`node` is not on PATH")
    version = _run(["node", "--version"]).strip().lstrip("v")
    if not re.match(r"\d+\.", version) or int(version.split(".")[0]) < 18:
        raise Missing(f"node is version {version!r}")
    if not shutil.which("npm"):
        raise Missing(f"Node.js {version} has no `npm` on PATH")
    return f"Node.js {version} with npm"


def terraform_17() -> str:
    if not shutil.which("terraform"):
        raise Missing("`terraform` is not on PATH")
    match = re.search(r"Terraform v(\d+)\.(\d+)\.(\d+)", _run(["terraform", "version"]))
    if not match:
        raise Missing("`terraform version` did not print a version")
    if (int(match.group(1)), int(match.group(2))) < (1, 7):
        raise Missing(f"terraform is {match.group(0)}")
    return match.group(0).replace(" v", " ")


def chromium() -> str:
    return executable(Path(os.environ.get("LEANOPS_CHROMIUM", "/usr/bin/chromium")), "Chromium")()


# -- the tiers ----------------------------------------------------------------------------------------

TIERS = (
    Tier("spark", "the Spark engine: its session, its conformance with the embedded engine, the Glue job scripts", (
        Need("Java 17", java_17, "install a Java 17 runtime (Debian/Ubuntu: apt-get install openjdk-17-jre-headless) "
                                 "or point JAVA_HOME at one"),
        Need("the SQLite JDBC driver", sqlite_jdbc_jar,
             "as root: apt-get install libxerial-sqlite-jdbc-java (scripts/setup-spark.sh does), "
             "or set LEANOPS_SQLITE_JDBC_JAR to a sqlite-jdbc jar", installable=apt_as_root),
        Need("PySpark 3.5 and the Iceberg Spark runtime", python_package("pyspark", "snowpark_connect_deps_iceberg"),
             "run bash scripts/setup-spark.sh", by_setup=True),
    ), "scripts/setup-spark.sh"),
    Tier("browser", "the dashboard in headless Chromium", (
        Need("Chromium", chromium, "as root: apt-get install chromium (scripts/setup-browser.sh does), "
                                   "or set LEANOPS_CHROMIUM to a Chromium binary", installable=apt_as_root),
        Need("Playwright for Python", python_package("playwright"), "run bash scripts/setup-browser.sh",
             by_setup=True),
    ), "scripts/setup-browser.sh"),
    Tier("terraform", "`terraform fmt` and, with a local provider mirror, validate and the mocked plans", (
        Need("Terraform 1.7 or later", terraform_17,
             "install it from https://developer.hashicorp.com/terraform/install (CI runs 1.11) and put it on PATH"),
    )),
    Tier("checkov", "checkov's policy checks of infra/terraform", (
        Need("checkov", executable(ROOT / ".venv-checkov" / "bin" / "checkov", "checkov"),
             "run bash scripts/setup-checkov.sh (its own venv, .venv-checkov)", by_setup=True),
    ), "scripts/setup-checkov.sh"),
    Tier("asl", "the rendered Step Functions definitions against the npm asl-validator", (
        Need("Node.js 18 or later", node_18, "install Node.js 18+ with npm (https://nodejs.org; Debian/Ubuntu: "
                                             "apt-get install nodejs npm)"),
        Need("the npm asl-validator",
             executable(ROOT / "tools" / "asl-validator" / "node_modules" / ".bin" / "asl-validator", "asl-validator"),
             "run bash scripts/setup-asl.sh", by_setup=True),
    ), "scripts/setup-asl.sh"),
    Tier("duckdb_iceberg", "tables read back by DuckDB's own Iceberg reader (tests/readers.py)", (
        Need("DuckDB's Iceberg reader",
             executable(ROOT / ".venv-duckdb-iceberg" / "bin" / "python", "the DuckDB reader's Python"),
             "run bash scripts/setup-duckdb-iceberg.sh (its own venv, .venv-duckdb-iceberg)", by_setup=True),
    ), "scripts/setup-duckdb-iceberg.sh"),
    Tier("slow", "the embedded runtime end to end on temporary homes (real Iceberg tables)"),
    Tier("fast", "unit tests (no tier marker)"),
)
BY_NAME = {tier.name: tier for tier in TIERS}


def require_all() -> bool:
    return os.environ.get(REQUIRE_ALL_ENV, "") not in ("", "0")


def preflight(out=sys.stderr) -> tuple[list[str], bool]:
    """Print what each tier has or lacks; (the tiers to set up, whether every tier can run)."""
    ready, complete = [], True
    width = max(len(t.name) for t in TIERS)
    for tier in TIERS:
        found, problems = tier.preflight()
        if not problems:
            ready.append(tier.name)
            what = ", ".join(found) or "nothing beyond Python"
            if tier.setup:
                what += f"; {tier.setup} installs the rest"
            print(f"    {tier.name:<{width}}  ok: {what}", file=out)
            continue
        complete = False
        verdict = "MISSING" if require_all() else "skipped"
        print(f"    {tier.name:<{width}}  {verdict}: {'; '.join(problems)}", file=out)
    return ready, complete


def main(argv: list[str]) -> int:
    if argv != ["preflight"]:
        print("usage: python3 tests/tiers.py preflight", file=sys.stderr)
        return 2
    print("==> Test tiers: what this machine has", file=sys.stderr)
    ready, complete = preflight()
    if not complete and require_all():
        print(f"    FAILED: {REQUIRE_ALL_ENV}=1 (as in CI) and a tier above cannot run here: install what it "
              "names, or unset the variable to skip that tier", file=sys.stderr)
        return 1
    print("\n".join(ready))  # stdout: the tiers scripts/test.sh sets up
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
