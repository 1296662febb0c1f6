"""The schema linter: classify each changed topic and block breaking changes nobody declared.

    leanops lint [--base REF] [SCHEMA_DIR] [--json]

    verdict = classify(old, new)  # TopicSchema | None each
    verdict.kind                  # ChangeKind.NUCLEAR_RESET: the most severe of verdict.changes
    verdict.problem               # 'events: NUCLEAR_RESET not declared: add "change": {...} to ...'

A topic's kind is the most severe of its changes (REMOVED > NUCLEAR_RESET > PURE_REMAP >
SCHEMA_EVOLVE > NEW_TABLE). PURE_REMAP and NUCLEAR_RESET must be declared in the new file's
`change` block, with a reason, by a declaration this branch wrote (one left over from an earlier
change does not count). Declaring more than needed is allowed with a warning. A removed file is
allowed only with --allow-removed TOPIC. The rules: leanops.schema.rules; the table:
docs/schema-lifecycle.md. Exit codes: 0 ok, 1 an undeclared breaking change, 2 an invalid file.
"""
from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Collection, Mapping
from pathlib import Path

import yaml

from leanops.config import DEFAULT_SCHEMAS
from leanops.errors import SchemaFileError, TerminalError
from leanops.schema import git
from leanops.schema.changes import BaseInvalid, Change, ChangeKind
from leanops.schema.diff import diff, overall_kind
from leanops.schema_file import SCHEMA_SUFFIXES, ChangeDeclaration, TopicSchema, parse_topic_schema


@dataclasses.dataclass(frozen=True)
class TopicVerdict:
    """One changed topic: its changes, their overall kind, the declaration, and what is wrong."""

    topic: str
    path: str
    kind: ChangeKind | None  # None: the file changed, its schema did not (description, formatting)
    changes: tuple[Change, ...]
    declared: ChangeKind | None  # the `change.kind` this branch declared (None: none, or a stale one)
    problem: str | None = None  # why this topic fails the lint
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.problem is None

    def as_dict(self) -> dict:
        return {"topic": self.topic, "path": self.path, "kind": self.kind.value if self.kind else None,
                "declared": self.declared.value if self.declared else None, "ok": self.ok,
                "problem": self.problem, "warnings": list(self.warnings),
                "changes": [c.as_dict() for c in self.changes]}


def classify(old: TopicSchema | None, new: TopicSchema | None, *, path: str | None = None,
             base: str = "the base", allow_removed: bool = False, changes: list[Change] | None = None
             ) -> TopicVerdict:
    """Classify `old` -> `new` and check the declaration. Pure.

    Args:
        old: the version at the base (None: the file is new).
        new: the version now (None: the file was removed).
        path: the file's path, for messages (default schemas/<topic>.json).
        base: the base's name, for messages.
        allow_removed: a removed file passes (--allow-removed).
        changes: the changes, when already known (default: diff(old, new)).
    """
    schema = new or old
    if schema is None:
        raise ValueError("classify needs at least one version")
    topic, path = schema.topic, path or f"{DEFAULT_SCHEMAS}/{schema.topic}.json"
    changes = diff(old, new) if changes is None else changes
    kind = overall_kind(changes)
    declaration = new.change if new is not None else None
    fresh = declaration is not None and (old is None or old.change != declaration)
    declared = ChangeKind(declaration.kind) if fresh else None
    problem, warnings = None, []
    if kind is ChangeKind.REMOVED:
        if not allow_removed:
            problem = (f"{topic}: {path} was removed: the topic's data will wait in RAW and its tables stop "
                       f"being updated; if that is intended, run with --allow-removed {topic}")
    elif kind is not None and kind.needs_declaration:
        problem = _undeclared(topic, path, base, kind, changes, declaration, declared)
        if problem is None and declared.severity > kind.severity:
            warnings.append(_more_than_needed(topic, declared, kind))
    elif declared is not None and declared != kind:
        warnings.append(_more_than_needed(topic, declared, kind) if kind else
                        f"{topic}: declares {declared.value} but no schema change was found")
    return TopicVerdict(topic, path, kind, tuple(changes), declared, problem, tuple(warnings))


def _undeclared(topic: str, path: str, base: str, kind: ChangeKind, changes: list[Change],
                declaration: ChangeDeclaration | None, declared: ChangeKind | None) -> str | None:
    wanted = f'"change": {{"kind": "{kind.value}", "reason": "..."}}'
    why = "; ".join(c.reason for c in changes if c.kind.needs_declaration)
    head = f"{topic}: {kind.value} not declared:"
    if declared is not None and declared.severity >= kind.severity:
        if declaration.reason.strip():
            return None
        return f'{topic}: {kind.value} declared without a reason: write why in {path} ({wanted}) ({why})'
    if declared is not None:
        return f"{head} {path} declares only {declared.value}; set {wanted} ({why})"
    if declaration is not None:
        return (f'{head} the "change" block of {path} is the one already at {base} (an earlier change); '
                f"write this change's kind and reason: {wanted} ({why})")
    return f"{head} add {wanted} to {path} ({why})"


def _more_than_needed(topic: str, declared: ChangeKind, kind: ChangeKind) -> str:
    return (f"{topic}: declares {declared.value} but the change classifies as {kind.value}; "
            f"set change.kind to {kind.value} unless a {declared.value} is what you mean")


@dataclasses.dataclass
class LintReport:
    """Every changed topic's verdict and every invalid file, collected before anything fails."""

    schema_dir: str
    base_ref: str
    base_commit: str
    topics: list[TopicVerdict] = dataclasses.field(default_factory=list)
    errors: list[SchemaFileError] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 2 if self.errors else 1 if any(not t.ok for t in self.topics) else 0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def as_dict(self) -> dict:
        return {"base": {"ref": self.base_ref, "commit": self.base_commit}, "schema_dir": self.schema_dir,
                "topics": [t.as_dict() for t in self.topics],
                "errors": [{"path": e.path, "field": p.field, "problem": p.problem,
                            "message": f"{e.path}: field '{p.field}': {p.problem}"}
                           for e in self.errors for p in e.problems],
                "notes": self.notes, "ok": self.ok, "exit_code": self.exit_code}


def _parse(path: str, data: bytes, form_only: bool = False) -> TopicSchema:
    """parse_topic_schema (which also checks the topic name), plus what only the linter checks: UTF-8
    text, no nesting deep enough to exhaust the parser, no duplicate keys (a reviewer reads the first,
    the parser keeps the last). `form_only`: defaults and semantic bounds are not cast (see lint_files)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SchemaFileError(path, "<file>", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    try:
        schema = parse_topic_schema(Path(path), text, form_only=form_only)
        duplicate = _duplicate_key(path, text)
    except RecursionError:
        raise SchemaFileError(path, "<file>", "nested too deeply to be a schema file") from None
    if duplicate is not None:
        raise SchemaFileError(path, "<file>", f"key {duplicate!r} appears twice in one object; the last one "
                                              "would win silently: keep one")
    return schema


class _Duplicate(Exception):
    def __init__(self, key: object) -> None:
        self.key = key


def _unique_pairs(pairs: list[tuple[str, object]]) -> dict:
    keys = [k for k, _ in pairs]
    for key in keys:
        if keys.count(key) > 1:
            raise _Duplicate(key)
    return dict(pairs)


class _UniqueKeyLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:  # the node's own keys: a `<<` merge may be overridden on purpose
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise _Duplicate(key)
            seen.add(key)
        return super().construct_mapping(node, deep)


def _duplicate_key(path: str, text: str) -> object | None:
    """The first key that appears twice in one object of an already parsed file, or None."""
    try:
        if path.endswith(".json"):
            json.loads(text, object_pairs_hook=_unique_pairs)
        else:
            yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506  # nosec B506  # _UniqueKeyLoader is a yaml.SafeLoader
    except _Duplicate as found:
        return found.key
    except TypeError:  # an unhashable YAML key: not ours to judge, the schema model rejected or took it
        return None
    return None


def _well_formed(files: Mapping[str, bytes], display) -> bool:
    """Whether every file passes all but the cast checks."""
    for name, data in files.items():
        try:
            _parse(display(name), data, form_only=True)
        except SchemaFileError:
            return False
    return True


def _by_topic(files: Mapping[str, bytes]) -> dict[str, list[str]]:
    """Topic -> its file names, in the pipeline's precedence (.json, then .yaml, then .yml)."""
    topics: dict[str, list[str]] = {}
    for name in sorted(files, key=lambda n: (Path(n).stem, SCHEMA_SUFFIXES.index(Path(n).suffix))):
        topics.setdefault(Path(name).stem, []).append(name)
    return topics


def lint_files(before: Mapping[str, bytes], after: Mapping[str, bytes], *, schema_dir: str = DEFAULT_SCHEMAS,
               base_ref: str = "main", base_commit: str = "", allow_removed: Collection[str] = ()) -> LintReport:
    """Lint schema files given as {file name: content} at the base and now. No git, no I/O."""
    report = LintReport(schema_dir, base_ref, base_commit)
    old_topics, new_topics = _by_topic(before), _by_topic(after)
    display = (lambda name: f"{schema_dir.rstrip('/')}/{name}") if schema_dir else (lambda name: name)
    # Every file's form first. When one is broken the lint exits 2 anyway: it is answered without loading
    # the casting rules (DuckDB), and the defaults' and bounds' casts are checked once every file is well formed.
    form_only = not _well_formed(after, display)
    for topic in sorted(old_topics.keys() | new_topics.keys()):
        old_names, new_names = old_topics.get(topic, []), new_topics.get(topic, [])
        if len(new_names) > 1:
            report.errors.append(SchemaFileError(display(new_names[0]), "<file>",
                                                 f"topic {topic!r} has several schema files "
                                                 f"({', '.join(new_names)}): keep one"))
            continue
        new_name = new_names[0] if new_names else None
        old_name = old_names[0] if old_names else None
        new = old = None
        if new_name is not None:
            try:
                new = _parse(display(new_name), after[new_name], form_only)
            except SchemaFileError as exc:
                report.errors.append(exc)
                continue
        if old_name is not None and new_name is not None and before[old_name] == after[new_name]:
            continue  # unchanged (a renamed suffix with other bytes is compared below)
        changes = None
        if old_name is not None:
            try:
                old = _parse(f"{base_ref}:{display(old_name)}", before[old_name], form_only)
            except SchemaFileError as exc:
                changes = [BaseInvalid("<file>", "; ".join(f"field '{p.field}': {p.problem}" for p in exc.problems),
                                       None, rule="base")]
                if new is None:
                    continue  # an invalid file removed: nothing ever ran on it
        path = display(new_name or old_name)
        report.topics.append(classify(old, new, path=path, base=base_ref, changes=changes,
                                      allow_removed=topic in allow_removed))
    return report


def lint_schemas(schema_dir: Path | None = None, base: str | None = None,
                 allow_removed: Collection[str] = ()) -> LintReport:
    """Lint the working tree's schema files against their versions at the merge base with `base`.

    Args:
        schema_dir: the schema directory (default $LEANOPS_SCHEMAS, else ./schemas).
        base: the git ref to compare with (default main, else origin/main).
        allow_removed: topics whose schema file may be removed.

    Raises:
        TerminalError: not in a git work tree, an unknown ref, no schema directory anywhere.
    """
    directory = Path(schema_dir or os.environ.get("LEANOPS_SCHEMAS") or DEFAULT_SCHEMAS)
    root = git.repo_root(directory)
    base_ref = git.resolve_base(root, base)
    before = git.files_at(root, base_ref.commit, git.relative_dir(root, directory))
    if not directory.is_dir() and not before:
        raise TerminalError(f"no schema directory {directory} (now or at {base_ref.ref}): pass SCHEMA_DIR "
                            "or set LEANOPS_SCHEMAS")
    report = lint_files(before, git.files_in(directory), schema_dir=str(directory), base_ref=base_ref.ref,
                        base_commit=base_ref.commit, allow_removed=allow_removed)
    if base_ref.note:
        report.notes.append(base_ref.note)
    return report
