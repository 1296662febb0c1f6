"""`leanops lint` as CI runs it: a temporary git repository with a main branch and a change on a branch."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

LEANOPS = Path(sys.executable).parent / "leanops"
EXAMPLES = Path(__file__).parents[1] / "src" / "leanops" / "examples" / "schemas"
WORKFLOW = Path(__file__).parents[1] / "examples" / "github-actions" / "schema-lint.yml"


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict:
    """No developer git config (signing, hooks, default branch) and no LEANOPS_SCHEMAS from conftest."""
    monkeypatch.delenv("LEANOPS_SCHEMAS", raising=False)
    return {**os.environ, "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


@pytest.fixture
def repo(tmp_path, env) -> Path:
    """main: schemas/{events,orders,payments}.json committed; HEAD: branch `feature` off main."""
    root = tmp_path / "repo"
    (root / "schemas").mkdir(parents=True)
    for source in sorted(EXAMPLES.glob("*.json")):
        (root / "schemas" / source.name).write_text(source.read_text())
    (root / "README.md").write_text("demo\n")
    git(root, env, "init", "-q", "-b", "main")
    git(root, env, "config", "user.name", "lint test")
    git(root, env, "config", "user.email", "lint@example.com")
    commit(root, env, "schemas on main")
    git(root, env, "checkout", "-q", "-b", "feature")
    return root


def git(root: Path, env: dict, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True, text=True).stdout


def commit(root: Path, env: dict, message: str) -> None:
    git(root, env, "add", "-A")
    git(root, env, "commit", "-q", "-m", message)


def lint(root: Path, env: dict, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(LEANOPS), "lint", *args], cwd=cwd or root, env=env, capture_output=True, text=True,
                          timeout=120)


def change(root: Path, topic: str, edit) -> None:
    path = root / "schemas" / f"{topic}.json"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc, indent=2))


def verdicts(done: subprocess.CompletedProcess) -> dict:
    return {t["topic"]: t for t in json.loads(done.stdout)["topics"]}


def test_no_change_is_ok(repo, env):
    done = lint(repo, env, "--base", "main", "schemas", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) | {"base": None} == {"base": None, "schema_dir": "schemas", "topics": [],
                                                        "errors": [], "notes": [], "ok": True, "exit_code": 0}


def test_evolve_and_new_table_pass(repo, env):
    change(repo, "orders", lambda d: d["curated"]["columns"].update(order_note={"type": "string"}))
    change(repo, "events", lambda d: d["curated"]["columns"]["event_reading_batterypct"].update(type="long"))
    (repo / "schemas" / "clicks.json").write_text(json.dumps({"topic": "clicks", "standardized": {}}))
    commit(repo, env, "evolve")
    done = lint(repo, env, "--base", "main", "schemas", "--json")
    assert done.returncode == 0, done.stderr
    topics = verdicts(done)
    assert {t: v["kind"] for t, v in topics.items()} == {"clicks": "NEW_TABLE", "events": "SCHEMA_EVOLVE",
                                                         "orders": "SCHEMA_EVOLVE"}
    [widen] = topics["events"]["changes"]
    assert widen == {"rule": "column_types", "change": "WidenType", "kind": "SCHEMA_EVOLVE",
                     "field": "curated.columns.event_reading_batterypct.type", "old": "int", "new": "long",
                     "reason": "curated.columns.event_reading_batterypct.type: int -> long widens in place"}


def test_undeclared_breaking_change_exits_1_until_declared(repo, env):
    change(repo, "orders", lambda d: d["curated"]["columns"]["order_amount"].update(type="int"))
    done = lint(repo, env, "--base", "main", "schemas", "--json")  # uncommitted: the working tree is linted
    assert done.returncode == 1, done.stderr
    assert verdicts(done)["orders"]["kind"] == "NUCLEAR_RESET" and not json.loads(done.stdout)["ok"]
    assert ('orders: NUCLEAR_RESET not declared: add "change": {"kind": "NUCLEAR_RESET", "reason": "..."} to '
            "schemas/orders.json (curated.columns.order_amount.type: decimal(18,2) -> int") in done.stderr
    text = lint(repo, env, "--base", "main", "schemas")
    assert text.returncode == 1 and "NUCLEAR_RESET" in text.stdout and "order_amount" in text.stdout

    change(repo, "orders", lambda d: d.update(change={"kind": "NUCLEAR_RESET", "reason": "amounts in cents"}))
    commit(repo, env, "declared")
    done = lint(repo, env, "--base", "main", "schemas", "--json")
    assert done.returncode == 0, done.stderr
    assert verdicts(done)["orders"]["declared"] == "NUCLEAR_RESET"


def test_the_declaration_must_be_new_on_the_branch(repo, env):
    git(repo, env, "checkout", "-q", "main")
    change(repo, "orders", lambda d: d.update(change={"kind": "NUCLEAR_RESET", "reason": "an old reset"}))
    commit(repo, env, "an earlier reset, merged")
    git(repo, env, "checkout", "-q", "-B", "feature")
    change(repo, "orders", lambda d: d["curated"]["columns"].pop("order_items"))
    done = lint(repo, env, "--base", "main", "schemas")
    assert done.returncode == 1 and "already at main" in done.stderr


def test_invalid_file_exits_2_with_path_and_field(repo, env):
    change(repo, "events", lambda d: d["curated"]["columns"].update(amount={"type": "decimal(40,2)"}))
    change(repo, "orders", lambda d: d["curated"]["columns"].pop("order_amount"))  # also undeclared: 2 wins
    done = lint(repo, env, "--base", "main", "schemas", "--json")
    assert done.returncode == 2
    report = json.loads(done.stdout)
    assert [(e["path"], e["field"]) for e in report["errors"]] == [("schemas/events.json",
                                                                    "curated.columns.amount.type")]
    assert verdicts(done)["orders"]["ok"] is False  # every finding is collected
    assert "schemas/events.json: field 'curated.columns.amount.type'" in done.stderr
    (repo / "schemas" / "payments.json").write_text("{not json")
    text = lint(repo, env, "--base", "main", "schemas")
    assert text.returncode == 2 and "schemas/payments.json: field '<file>': not valid JSON" in text.stderr


def test_an_invalid_file_is_answered_before_the_heavy_imports(repo, env):
    """Reading and validating a file needs no DuckDB, Arrow or PyIceberg: a broken one is answered at once."""
    from conftest import cli_imports
    for text, message in (("{not json", "not valid JSON"), ('{"topic": "payments", "curated": {"columns": '
                                                           '{"a": {"type": "text"}}}}', "unknown type 'text'")):
        (repo / "schemas" / "payments.json").write_text(text)
        done = cli_imports(["lint", "--base", "main", "schemas"], cwd=repo, env=env)
        assert done.exit_code == 2 and "schemas/payments.json: field" in done.output and message in done.output
        assert done.heavy == [], done.output


def test_removed_file_needs_allow_removed(repo, env):
    (repo / "schemas" / "payments.json").unlink()
    done = lint(repo, env, "--base", "main", "schemas", "--json")
    assert done.returncode == 1 and verdicts(done)["payments"]["kind"] == "REMOVED"
    assert lint(repo, env, "--base", "main", "schemas", "--allow-removed", "payments").returncode == 0


def test_default_base_is_the_merge_base_with_main(repo, env):
    """A column added on main after the branch point is not read as removed on the branch."""
    git(repo, env, "checkout", "-q", "main")
    change(repo, "events", lambda d: d["curated"]["columns"].update(city={"type": "string"}))
    commit(repo, env, "main moves on")
    git(repo, env, "checkout", "-q", "feature")
    change(repo, "orders", lambda d: d["curated"]["columns"].update(order_note={"type": "string"}))
    done = lint(repo, env, "--json", cwd=repo)  # no --base, no SCHEMA_DIR: main and ./schemas
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["base"]["ref"] == "main"
    assert report["base"]["commit"] == git(repo, env, "merge-base", "HEAD", "main").strip()
    assert list(verdicts(done)) == ["orders"]


def test_origin_main_when_there_is_no_local_main(repo, env, tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--branch", "feature", str(repo), str(clone)], env=env, check=True)
    assert git(clone, env, "branch", "--list", "main") == ""  # only origin/main
    change(clone, "events", lambda d: d["curated"]["columns"].pop("sessionid"))
    done = lint(clone, env, "schemas", "--json")
    assert done.returncode == 1 and json.loads(done.stdout)["base"]["ref"] == "origin/main"


def test_schema_dir_from_a_subdirectory_and_the_environment(repo, env):
    change(repo, "orders", lambda d: d["curated"]["columns"].update(order_note={"type": "string"}))
    inside = lint(repo, env, "--base", "main", ".", "--json", cwd=repo / "schemas")
    assert inside.returncode == 0 and list(verdicts(inside)) == ["orders"]
    from_env = lint(repo, {**env, "LEANOPS_SCHEMAS": str(repo / "schemas")}, "--base", "main", "--json",
                    cwd=repo / "schemas")
    assert from_env.returncode == 0 and list(verdicts(from_env)) == ["orders"]


def test_usage_errors_exit_2(repo, env, tmp_path):
    bad_ref = lint(repo, env, "--base", "no-such-branch", "schemas")
    assert bad_ref.returncode == 2 and "--base 'no-such-branch' is not a commit" in bad_ref.stderr
    option_like = lint(repo, env, "--base=--output=/tmp/x", "schemas")
    assert option_like.returncode == 2 and "is not a commit" in option_like.stderr
    (tmp_path / "plain" / "schemas").mkdir(parents=True)
    no_repo = lint(tmp_path / "plain", {**env, "GIT_CEILING_DIRECTORIES": str(tmp_path)}, "schemas")
    assert no_repo.returncode == 2 and "not in a git work tree" in no_repo.stderr
    missing = lint(repo, env, "--base", "main", "nowhere")
    assert missing.returncode == 2 and "no schema directory nowhere" in missing.stderr
    git(repo, env, "branch", "-m", "main", "trunk")
    no_main = lint(repo, env, "schemas")
    assert no_main.returncode == 2 and "pass --base REF" in no_main.stderr


def test_the_ci_example_runs_this_command():
    workflow = WORKFLOW.read_text()
    assert "fetch-depth: 0" in workflow
    assert "BASE_REF: ${{ github.base_ref }}" in workflow
    assert 'leanops lint --base "origin/$BASE_REF" schemas --json' in workflow
