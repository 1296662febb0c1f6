"""Every rendered Step Functions definition passes the npm asl-validator (tools/asl-validator, installed by
scripts/setup-asl.sh; the `asl` tier, skipped with the reason when Node.js or the validator is missing), and
the definitions Terraform deploys are exactly what `leanops aws render` writes."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import LEANOPS
from leanops.aws.stepfunctions import render_all

ROOT = Path(__file__).resolve().parents[1]
VALIDATOR = ROOT / "tools" / "asl-validator" / "node_modules" / ".bin" / "asl-validator"
DEPLOYED = ROOT / "infra" / "terraform" / "modules" / "orchestration" / "definitions"
VALUES = {  # what Terraform substitutes: real-looking ARNs and names
    "fetch_active_topics_lambda_arn": "arn:aws:lambda:eu-west-1:111122223333:function:leanops-fetch-active-topics",
    "flow_step_lambda_arn": "arn:aws:lambda:eu-west-1:111122223333:function:leanops-flow-step",
    "topic_pipeline_state_machine_arn": "arn:aws:states:eu-west-1:111122223333:stateMachine:leanops-topic-pipeline",
    "standardized_job_name": "leanops-standardized-processor", "curated_job_name": "leanops-curated-processor",
    "semantic_job_name": "leanops-semantic-processor", "rebuilder_job_name": "leanops-historical-rebuilder",
    "maintenance_job_name": "leanops-table-maintenance",
    "file_processor_job_name": "leanops-file-processor", "file_manifests_table_name": "leanops_FileManifests",
    "alerts_topic_arn": "arn:aws:sns:eu-west-1:111122223333:leanops-alerts",
}


def validate(paths: list[Path]) -> subprocess.CompletedProcess:
    args = [str(VALIDATOR)]
    for path in paths:
        args += ["--json-path", str(path)]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


@pytest.mark.asl
def test_rendered_templates_and_concrete_definitions_are_valid(tmp_path):
    """`leanops aws render` as a user runs it, with and without --values."""
    values = tmp_path / "values.json"
    values.write_text(json.dumps(VALUES))
    for out, extra in ((tmp_path / "templates", []), (tmp_path / "concrete", ["--values", str(values)])):
        done = subprocess.run([LEANOPS, "aws", "render", "--out", str(out), "--json", *extra],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        files = sorted(out.glob("*.asl.json"))
        assert len(files) == 5
        checked = validate(files)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert checked.stdout.count("is valid") == 5, checked.stdout
    assert "${" not in "".join(p.read_text() for p in (tmp_path / "concrete").glob("*.json"))


@pytest.mark.asl
def test_the_validator_rejects_a_broken_definition(tmp_path):
    """The check can fail: a Choice pointing at a state that does not exist."""
    broken = render_all()["topic_pipeline.asl.json"]
    broken["States"]["CheckCuratedReady"]["Default"] = "NoSuchState"
    path = tmp_path / "broken.asl.json"
    path.write_text(json.dumps(broken))
    checked = validate([path])
    assert checked.returncode != 0 and "NoSuchState" in checked.stdout + checked.stderr


def test_missing_value_is_an_error(tmp_path):
    values = tmp_path / "values.json"
    values.write_text(json.dumps({k: v for k, v in VALUES.items() if k != "alerts_topic_arn"}))
    done = subprocess.run([LEANOPS, "aws", "render", "--out", str(tmp_path / "x"), "--values", str(values)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "alerts_topic_arn" in done.stderr


def test_terraform_deploys_the_rendered_definitions():
    """infra/terraform embeds the generated files, not hand copies: regenerate with
    `leanops aws render --out infra/terraform/modules/orchestration/definitions`."""
    rendered = render_all()
    on_disk = {p.name: json.loads(p.read_text()) for p in DEPLOYED.glob("*.asl.json")}
    assert on_disk == rendered
    index = json.loads((DEPLOYED / "placeholders.json").read_text())
    assert set(index) == set(rendered)
