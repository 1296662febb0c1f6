"""docs/seed-mapping.md: every state its "here" column names is a state of the generated definitions."""
import json
import re
from pathlib import Path

from leanops.orchestrate.flow import FLOW, TERMINAL

ROOT = Path(__file__).parents[1]
DEFINITIONS = ROOT / "infra" / "terraform" / "modules" / "orchestration" / "definitions"
STATE_NAME = re.compile(r"`([A-Z][a-z]+(?:[A-Z][a-z]*)+)`")  # `CheckForNewRawData`, not `NEW_TABLE`


def asl_states() -> set[str]:
    names: set[str] = set()

    def walk(states: dict) -> None:
        for name, state in states.items():
            names.add(name)
            for branch in state.get("Branches", []):
                walk(branch["States"])
            for key in ("ItemProcessor", "Iterator"):
                if key in state:
                    walk(state[key]["States"])

    for path in DEFINITIONS.glob("*.asl.json"):
        walk(json.loads(path.read_text(encoding="utf-8"))["States"])
    return names


def named_here() -> set[str]:
    """State names in the second column of the page's state tables (the first three sections)."""
    page = (ROOT / "docs" / "seed-mapping.md").read_text(encoding="utf-8")
    sections = page.split("\n## ")[1:4]
    assert [s.splitlines()[0] for s in sections] == [
        "The master orchestrator (seeds 000, 002)", "The topic pipeline (seeds 001, 004)",
        "The file manifest workflow (seed 003)"]
    names = set()
    for section in sections:
        for row in section.splitlines():
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
            if len(cells) == 2 and not set(cells[1]) <= {"-"}:
                names |= set(STATE_NAME.findall(cells[1]))
    return names


def test_every_state_the_mapping_names_exists():
    named, known = named_here(), asl_states() | set(FLOW) | set(TERMINAL)
    # the two CamelCase names there that are not states: an alert kind and a Map field
    assert '"MissingSemanticSchema"' in (ROOT / "src" / "leanops" / "orchestrate" / "flow.py").read_text()
    assert '"ToleratedFailurePercentage": 100' in (DEFINITIONS / "orchestrator_distributed.asl.json").read_text()
    named -= {"MissingSemanticSchema", "ToleratedFailurePercentage"}
    assert {"EnsureStandardizedTable", "SkipNoSchema", "HandleError"}.isdisjoint(named)  # seed names: left column
    assert {"GetAllCheckpoints", "RecordCurated", "NotifyFailure", "ProcessTopics", "UpdateStatusProcessing",
            "PauseTopic", "MissingSchema"} <= named
    assert named <= known, f"docs/seed-mapping.md names states that do not exist: {sorted(named - known)}"
