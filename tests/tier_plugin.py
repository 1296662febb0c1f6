"""pytest plugin for the test tiers of tests/tiers.py (loaded by tests/conftest.py).

- A test of a tier whose prerequisite is missing is skipped with the tier's reason (one line per tier
  under `-rs`), or fails with it when LEANOPS_REQUIRE_ALL_TIERS=1, as in CI.
- `--progress-by-file` (scripts/test.sh passes it) prints a line per finished test file, and each
  failure as it happens, instead of a dot per test.
- The run ends with the time each tier took. Under xdist the workers tag each report with its test's
  tier; the controller, which receives every report, adds them up and prints.
"""
from __future__ import annotations

import collections
import functools
import time

import pytest

import tiers

TIER_ATTR = "leanops_tier"  # set on each report; xdist carries a report's attributes to the controller
MARKER_TIERS = [t for t in tiers.TIERS if t.name != "fast"]


def pytest_addoption(parser):
    parser.addoption("--progress-by-file", action="store_true",
                     help="print a line per finished test file (and each failure at once) instead of a dot per test")


def pytest_configure(config):
    for tier in MARKER_TIERS:
        needs = ", ".join(n.name for n in tier.needs)
        config.addinivalue_line("markers", f"{tier.name}: {tier.tests}" + (f" (needs {needs})" if needs else ""))
    if not hasattr(config, "workerinput"):  # the xdist controller, or a run without xdist: it reports
        config.pluginmanager.register(Reporter(config), "leanops-tier-reporter")


def tier_of(item) -> tiers.Tier:
    """The first tier (in tiers.TIERS order) whose marker the test has; `fast` when it has none."""
    return next((t for t in MARKER_TIERS if item.get_closest_marker(t.name)), tiers.BY_NAME["fast"])


@functools.cache
def missing(tier_name: str) -> tuple[str, ...]:
    return tuple(tiers.BY_NAME[tier_name].missing())


def skip_or_fail_reason(tier_name: str) -> str | None:
    problems = missing(tier_name)
    return f"{tier_name} tier: {'; '.join(problems)}" if problems else None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before the fixtures: a test whose tiers cannot run here is skipped, or failed under the CI switch."""
    for tier in MARKER_TIERS:
        if item.get_closest_marker(tier.name) and (reason := skip_or_fail_reason(tier.name)):
            if tiers.require_all():
                pytest.fail(f"{reason} ({tiers.REQUIRE_ALL_ENV}=1)", pytrace=False)
            pytest.skip(reason)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(report, TIER_ATTR, tier_of(item).name)
    return report


def pytest_report_header(config):
    lines = []
    for tier in MARKER_TIERS:
        if reason := skip_or_fail_reason(tier.name):
            verdict = "FAILS" if tiers.require_all() else "SKIPPED"
            lines.append(f"{verdict}: {reason}")
    return lines or ["test tiers: every prerequisite is here (" + ", ".join(t.name for t in tiers.TIERS) + ")"]


def _tests(count: int) -> str:
    return f"{count:>5} test" + (" " if count == 1 else "s")


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m {rest:02d}s"


class Reporter:
    """Progress by file and the time per tier, on the process that prints (never on an xdist worker)."""

    def __init__(self, config) -> None:
        self.config = config
        self.by_file = config.getoption("progress_by_file") and config.get_verbosity() <= 0
        self.started = time.monotonic()
        self.expected: collections.Counter[str] = collections.Counter()  # tests per file
        self.finished: collections.Counter[str] = collections.Counter()
        self.outcomes: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        self.file_seconds: collections.Counter[str] = collections.Counter()
        self.worst: dict[str, str] = {}  # nodeid -> its outcome so far (a failed teardown fails a passed test)
        self.tier_tests: collections.Counter[str] = collections.Counter()
        self.tier_seconds: collections.Counter[str] = collections.Counter()
        self.total = 0
        self.workers: set[str] = set()  # the xdist workers that sent reports
        self.reporting = False

    def pytest_sessionstart(self, session):
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        if self.by_file and terminal is not None:
            terminal.showfspath = False  # without xdist it would name each file as it starts, then print nothing

    # -- what is to run ---------------------------------------------------------------------------
    def _expect(self, nodeids) -> None:
        if not self.expected:
            self.expected.update(nodeid.split("::")[0] for nodeid in nodeids)
            self.total = sum(self.expected.values())

    def pytest_collection_finish(self, session):
        self._expect(item.nodeid for item in session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids):
        self._expect(ids)  # every worker collects the same tests

    # -- the reports ------------------------------------------------------------------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_report_teststatus(self, report, config):
        status = yield
        if self.by_file and self.reporting and status and (status[1] or status[2]):
            return status[0], "", ""  # counted in the summary, no dot: the file's line says it
        return status  # the short summary at the end still gets its words (SKIPPED, FAILED)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logreport(self, report):
        self.reporting = True  # the terminal reporter asks for the test's status now, to print its dot
        try:
            result = yield
        finally:
            self.reporting = False
        self._count(report)
        return result

    def _count(self, report) -> None:
        nodeid, file = report.nodeid, report.nodeid.split("::")[0]
        if hasattr(report, "node"):
            self.workers.add(report.node.gateway.id)
        tier = getattr(report, TIER_ATTR, "fast")
        self.tier_seconds[tier] += report.duration
        self.file_seconds[file] += report.duration
        outcome = self._outcome(report)
        if outcome in ("failed", "error") and self.worst.get(nodeid) not in ("failed", "error") and self.by_file:
            self._write(f"{outcome.upper()} {nodeid}  (details at the end)", red=True)
        if _rank(outcome) > _rank(self.worst.get(nodeid, "passed")):
            self.worst[nodeid] = outcome
        if report.when != "teardown":
            return
        self.tier_tests[tier] += 1
        self.outcomes[file][self.worst.pop(nodeid, "passed")] += 1
        self.finished[file] += 1
        if self.by_file and self.finished[file] == self.expected.get(file):
            done = sum(self.finished.values())
            counts = ", ".join(f"{n} {what}{'s' if what == 'error' and n > 1 else ''}"
                               for what, n in sorted(self.outcomes[file].items(), key=_by_rank))
            self._write(f"{file}: {counts} in {_duration(self.file_seconds[file])}"
                        f"  [{done}/{self.total} tests, {_duration(time.monotonic() - self.started)} so far]",
                        red=any(w in self.outcomes[file] for w in ("failed", "error")))

    @staticmethod
    def _outcome(report) -> str:
        if report.failed:
            return "failed" if report.when == "call" else "error"
        if report.skipped:
            return "xfailed" if hasattr(report, "wasxfail") else "skipped"
        if report.when == "call" and hasattr(report, "wasxfail"):
            return "xpassed"
        return "passed"

    def _write(self, line: str, **markup) -> None:
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        if terminal is not None:
            terminal.write_line(line, **markup)

    # -- the end ----------------------------------------------------------------------------------
    def pytest_terminal_summary(self, terminalreporter):
        if not self.tier_tests:
            return
        terminalreporter.write_sep("-", "time per tier (test durations added up"
                                   + (f", run on {len(self.workers)} workers)" if self.workers else ")"))
        width = max(len(t.name) for t in tiers.TIERS)
        for tier in tiers.TIERS:
            if self.tier_tests[tier.name]:
                terminalreporter.write_line(f"{tier.name:<{width}}  {_tests(self.tier_tests[tier.name])}  "
                                            f"{_duration(self.tier_seconds[tier.name]):>9}")
        terminalreporter.write_line(f"{'all':<{width}}  {_tests(sum(self.tier_tests.values()))}  "
                                    f"{_duration(sum(self.tier_seconds.values())):>9}"
                                    f"  (wall clock {_duration(time.monotonic() - self.started)})")


RANKS = ("passed", "xpassed", "xfailed", "skipped", "failed", "error")


def _rank(outcome: str) -> int:
    return RANKS.index(outcome)


def _by_rank(item) -> int:
    return _rank(item[0])
