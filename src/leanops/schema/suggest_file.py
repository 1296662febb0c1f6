"""The schema file `leanops schema suggest` writes: where it goes, what it keeps, how it reads.

    path = target_path(settings, "github", output=None)       # schemas/github.json (the topic's file if it has one)
    check_free(path, force=False)                            # refuses to overwrite
    text = render_document(schemas_dir, "github", curated, path.suffix)
    write_text(path, text, force=False)

The suggestion is the `curated` section. Every other section of the topic's current schema file is kept as
written: above all its `standardized` section, whose `column_map` named the very columns the suggestion
declares, so the file deploys over the topic as it runs today. The text is validated by the schema-file model
(casting checks included) before anything is written. This module loads neither DuckDB nor PyIceberg: the CLI
answers a refused overwrite before the data is read.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from leanops.config import Settings
from leanops.errors import LeanOpsError
from leanops.schema_file import SCHEMA_SUFFIXES, parse_topic_schema, schema_path

LINE_WIDTH = 110  # objects and lists that fit on one line are written on one (a column per line)


def target_path(settings: Settings, topic: str, output: str | None) -> Path | None:
    """Where the file goes: `output`, else the topic's schema file, else `<schemas>/<topic>.json`; None for '-'."""
    if output == "-":
        return None
    if output is not None:
        path = Path(output)
        if path.suffix not in SCHEMA_SUFFIXES:
            raise LeanOpsError(f"--output {output}: a schema file ends in .json, .yaml or .yml")
        if not path.parent.is_dir():
            raise LeanOpsError(f"--output {output}: no directory {path.parent}")
        return path
    if settings.schemas_uri:
        raise LeanOpsError(f"schema files live on S3 ({settings.schemas_uri}): write the suggestion to a local file "
                           "with --output FILE (or print it with --output -), then publish it with `leanops deploy`")
    return schema_path(settings.schemas_dir, topic) or settings.schemas_dir / f"{topic}.json"


def check_free(path: Path, force: bool) -> None:
    """Refuse to overwrite a file unless `force`, and a broken one always (its sections could not be kept).
    Reads the file's form only: no DuckDB."""
    if not path.exists():
        return
    try:
        has_curated = parse_topic_schema(path, form_only=True).curated is not None
    except LeanOpsError as exc:
        raise LeanOpsError(f"{path} exists and is not a valid schema file ({exc}): fix or remove it, or print the "
                           "suggestion with --output -") from exc
    if not force:
        holds = "it has a curated section" if has_curated else "it has no curated section yet"
        raise LeanOpsError(f"{path} exists ({holds}): --force writes the suggestion as its curated section, keeping "
                           "its other sections; --output - prints the suggestion instead")


def current_document(schemas_dir: Path, topic: str) -> dict:
    """The topic's schema file as written (validated first: a broken file is reported, not built upon), or {}."""
    path = schema_path(schemas_dir, topic)
    if path is None:
        return {}
    parse_topic_schema(path)
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def render_document(schemas_dir: Path, topic: str, curated: dict, suffix: str = ".json") -> str:
    """The topic's current file with `curated` in place of its curated section, as JSON or YAML text.

    Raises:
        SchemaFileError: the result is not a valid schema file (the file it would be is named).
    """
    current = current_document(schemas_dir, topic)
    document = {"topic": topic}
    for key, value in current.items():
        if key != "curated":
            document[key] = value
    document.setdefault("standardized", {})
    document["curated"] = curated
    order = ("topic", "description", "standardized", "curated")
    document = {**{k: document[k] for k in order if k in document}, **document}
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=LINE_WIDTH) \
        if suffix in (".yaml", ".yml") else _json(document) + "\n"
    parse_topic_schema(Path(f"{topic}{suffix}"), text=text)
    return text


def write_text(path: Path, text: str, force: bool) -> None:
    """Write the file: a new one exclusively (never over a file that appeared meanwhile), a replacement whole
    (a reader sees the old file or the new one, never half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not force:
        try:
            with path.open("x", encoding="utf-8") as handle:
                handle.write(text)
        except FileExistsError:
            check_free(path, force)
        return
    partial = path.with_name(f".{path.name}.suggest-tmp")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _json(value: object, indent: int = 0) -> str:
    """JSON with every object or list that fits on one line written on one, like the example schema files.

    >>> print(_json({"columns": {"id": {"type": "long", "cde": True}}}, 0))
    {"columns": {"id": {"type": "long", "cde": true}}}
    """
    flat = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, (dict, list)) or not value or indent + len(flat) <= LINE_WIDTH:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(k, ensure_ascii=False)}: {_json(v, indent + 2)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    return "[\n" + ",\n".join(f"{pad}{_json(v, indent + 2)}" for v in value) + "\n" + " " * indent + "]"
