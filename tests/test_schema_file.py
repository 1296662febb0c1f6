"""The schema-file model stands alone: light to import, no S3 and no stages in it, and its value checks
(defaults, semantic bounds) still follow the casting rules."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from leanops.schema_file import TopicSchema, read_schema_dir

SOURCE = Path(__file__).parents[1] / "src" / "leanops" / "schema_file.py"


def _imported_modules(path: Path) -> set[str]:
    """Every module the file imports, at its top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_importing_the_model_pulls_no_heavy_library():
    code = ("import sys, json, leanops.schema_file; print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] "
            "in {'duckdb', 'pyarrow', 'pyiceberg', 'boto3', 'botocore', 'sqlalchemy', 'pandas'} "
            "or m.startswith(('leanops.stages', 'leanops.aws', 'leanops.catalog')))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_the_model_imports_neither_the_stages_nor_s3():
    """schema_file -> stages.casting -> schema_file was a loop; the S3 mirror lives in the AWS adapters."""
    modules = _imported_modules(SOURCE)
    assert not {m for m in modules if m.startswith(("leanops.stages", "leanops.aws", "boto3", "botocore"))}, modules
    assert "leanops.schema.default_rules" in modules  # the value checks, at validation time
    assert not {m for m in _imported_modules(SOURCE.parent / "schema" / "default_rules.py")
                if m == "leanops.schema_file"}
    from leanops.aws.schema_mirror import S3SchemaMirror, publish_schema_file, read_published  # noqa: F401
    import leanops.schema_file as model
    assert not hasattr(model, "S3SchemaMirror") and not hasattr(model, "publish_schema_file")


@pytest.mark.parametrize("section, message", [
    ({"curated": {"columns": {"idempotency_key": {"type": "string"}, "event_timestamp": {"type": "timestamp"},
                              "qty": {"type": "int", "default": "1.5"}}}}, "default '1.5' is not a valid int"),
    ({"curated": {"columns": {"idempotency_key": {"type": "string", "cde": True, "default": "x"},
                              "event_timestamp": {"type": "timestamp"}}}}, "cannot have a default"),
    ({"semantic": {"columns": {"qty": {"type": "int", "min": "ten"}}}}, "min 'ten' is not a valid int"),
])
def test_defaults_and_bounds_still_follow_the_casting_rules(section, message):
    with pytest.raises(ValidationError, match=message):
        TopicSchema.model_validate({"topic": "events", **section})


def test_valid_defaults_pass():
    schema = TopicSchema.model_validate({"topic": "events", "curated": {"columns": {
        "idempotency_key": {"type": "string"}, "event_timestamp": {"type": "timestamp", "default": "1768816800000"},
        "amount": {"type": "decimal(18,2)", "default": "0"}}}})
    assert schema.curated.columns["amount"].default == "0"


def test_read_schema_dir_reads_every_file_or_refuses_them_all(tmp_path):
    from leanops.errors import LeanOpsError, SchemaFileError
    with pytest.raises(LeanOpsError, match="no schema directory"):
        read_schema_dir(tmp_path / "missing")
    (tmp_path / "clicks.json").write_text('{"topic": "clicks"}')
    (tmp_path / "notes.txt").write_text("not a schema file")
    assert [(p.name, s.topic) for p, s in read_schema_dir(tmp_path)] == [("clicks.json", "clicks")]
    (tmp_path / "events.yaml").write_text("topic: [")
    with pytest.raises(SchemaFileError, match="events.yaml"):
        read_schema_dir(tmp_path)
