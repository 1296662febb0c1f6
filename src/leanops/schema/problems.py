"""What is wrong with a schema file, in plain words: the one translation of pydantic's validation errors.

    try:
        TopicSchema.model_validate(data)
    except ValidationError as exc:
        problems(exc, TopicSchema)  # [SchemaProblem('curated.merge_keys', "unknown field 'merge_keys' (did you
                                    #   mean 'merge_key'?)"), ...]

pydantic reports every field-level mistake of a document at once; `problems` turns each into a
`SchemaProblem` from its type, location and context (`ValidationError.errors()`), never from pydantic's
own wording, which names Python types ("Input should be a valid dictionary"), says "Extra inputs are not
permitted" for a typo, and prefixes a validator's message with "Value error,". The model's validators
raise messages that read on their own, and its cross-field checks (a merge key that is not a column, a
partition transform that does not fit its column) report through `collect`, which adds them to the
field errors instead of stopping at the first: a file with three mistakes gets three problems.

Light on purpose (pydantic and the standard library): the schema-file model imports it.
"""
from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_core.core_schema import ErrorType

from leanops.errors import SchemaProblem

PROBLEM = "schema_problem"  # the error type of the model's own checks: its message is the problem
_PYDANTIC_TYPES = frozenset(typing.get_args(ErrorType))

# what a value must be, by pydantic's error type (its `*_type` and `*_parsing` families)
_EXPECTED = {
    "string": "a string", "int": "a whole number", "float": "a number", "bool": "true or false",
    "dict": "an object", "model": "an object", "model_attributes": "an object", "list": "a list",
    "decimal": "a number", "finite_number": "a finite number",
}
_BOUNDS = {"greater_than_equal": ("ge", "at least"), "greater_than": ("gt", "more than"),
           "less_than_equal": ("le", "at most"), "less_than": ("lt", "less than")}


class Found(NamedTuple):
    """A problem a model's own check found: the location relative to the model, the message, the value."""

    loc: tuple[str | int, ...]
    message: str
    value: Any = None


def did_you_mean(word: object, candidates: Iterable[str]) -> str:
    """` (did you mean 'x'?)` when a candidate is close to `word`, else ''."""
    close = difflib.get_close_matches(str(word), list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def collect(handler: Callable[[Any], Any], data: Any, found: Iterable[Found]) -> Any:
    """For a `model_validator(mode="wrap")`: validate `data` with `handler`, and raise its field errors
    together with the problems the model's cross-field checks `found` (read from the raw `data`, so they
    are reported even when another field is wrong); the model when there is nothing to report."""
    details: list[InitErrorDetails] = []
    try:
        model = handler(data)
    except ValidationError as exc:
        model = None
        details = [_detail(error) for error in exc.errors()]
    details += [InitErrorDetails(type=PydanticCustomError(PROBLEM, f.message), loc=f.loc, input=f.value)
                for f in found]
    if details:
        raise ValidationError.from_exception_data("schema file", details)
    return model


def raise_found(found: Sequence[Found]) -> None:
    """For a field validator with several problems (one per list entry or dict key): report them all."""
    if found:
        raise ValidationError.from_exception_data("schema file", [
            InitErrorDetails(type=PydanticCustomError(PROBLEM, f.message), loc=f.loc, input=f.value)
            for f in found])


def _detail(error: dict) -> InitErrorDetails:
    """An error of `ValidationError.errors()` back as the details it was made from (to raise it again)."""
    kind = error["type"]
    detail = InitErrorDetails(type=kind if kind in _PYDANTIC_TYPES else PydanticCustomError(kind, error["msg"]),
                              loc=error["loc"], input=error.get("input"))
    if "ctx" in error and kind in _PYDANTIC_TYPES:
        detail["ctx"] = error["ctx"]
    return detail


def problems(exc: ValidationError, root: type[BaseModel]) -> list[SchemaProblem]:
    """Every error of `exc` (raised validating a `root` document) in plain words, each at its JSON path,
    in the order pydantic found them; a union's alternatives are one problem, repeats are dropped."""
    ordered: list[SchemaProblem | str] = []  # a str: the path of a union's errors, worded once all are seen
    unions: dict[str, list[dict]] = {}
    for error in exc.errors(include_url=False):
        loc, tag = _split_union_tag(root, tuple(error["loc"]))
        if tag is None:
            ordered.append(SchemaProblem(json_path(loc), _message(root, loc, error)))
            continue
        path = json_path(loc)
        if path not in unions:
            ordered.append(path)
        unions.setdefault(path, []).append(error)
    worded = [SchemaProblem(item, _union_message(unions[item])) if isinstance(item, str) else item
              for item in ordered]
    return list(dict.fromkeys(worded))


def json_path(loc: Sequence[str | int]) -> str:
    """`curated.columns.amount.default`, `curated.partition_by[1]`; `<file>` for the document itself."""
    text = ""
    for step in loc:
        if step == "[key]":  # pydantic's marker for an error in a dict's key: the key is the place
            continue
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text or "<file>"


def _message(root: type[BaseModel], loc: tuple, error: dict) -> str:
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    if kind == PROBLEM or kind not in _PYDANTIC_TYPES:
        return error["msg"]  # the model's own words
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error") or "is not valid")
    if kind == "extra_forbidden":
        return _unknown_field(root, loc)
    if kind == "missing":
        return "is required but missing"
    if kind == "literal_error":
        allowed = _literal_values(root, loc)
        return (f"unknown value {value!r}{did_you_mean(value, allowed)} — valid: {', '.join(allowed)}"
                if allowed else f"must be one of {ctx.get('expected')}, not {describe(value)}")
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        return f"must be {words} {ctx.get(key)}, not {describe(value)}"
    if kind == "invalid_key" or (loc and loc[-1] == "[key]"):
        return f"a name here must be a string, not {describe(value)}"
    family = kind.removesuffix("_type").removesuffix("_parsing").removesuffix("_from_float")
    if kind == "int_from_float":
        return f"must be a whole number, not {describe(value)}"
    if family == "string" and isinstance(value, (bool, int, float)):  # YAML's `default: 5`, JSON's `5`
        return f"must be a string, not {describe(value)}: write it in quotes, \"{describe(value, bare=True)}\""
    if family in _EXPECTED:
        return f"must be {_EXPECTED[family]}, not {describe(value)}"
    return f"is not valid ({kind.replace('_', ' ')}): {describe(value)}"


def _union_message(errors: list[dict]) -> str:
    """A value that is none of a union's alternatives (`min: str | float | int`)."""
    wanted = []
    for error in errors:
        family = error["type"].removesuffix("_type").removesuffix("_parsing")
        noun = _EXPECTED.get(family)
        if noun and noun not in wanted:
            wanted.append(noun)
    if "a number" in wanted and "a whole number" in wanted:  # `float | int`: any number will do
        wanted.remove("a whole number")
    value = errors[0].get("input")
    return f"must be {' or '.join(wanted) or 'another kind of value'}, not {describe(value)}"


def describe(value: Any, bare: bool = False) -> str:
    """A value as a reader of the file sees it, short: the number 5, the text 'abc', a list, an object.
    `bare`: a number or true/false as it is written (5, true)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value) if bare else f"the number {value}"
    if isinstance(value, str):
        return f"the text {value[:60] + '...' if len(value) > 60 else value!r}"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


# ---- where an error is in the model: the field names a typo is compared with, a Literal's values ----

def _unknown_field(root: type[BaseModel], loc: tuple) -> str:
    key = loc[-1] if loc else ""
    model = _model_at(root, loc[:-1])
    if model is None:
        return f"unknown field {key!r}"
    names = [f.alias or name for name, f in model.model_fields.items()]
    where = json_path(loc[:-1])
    takes = "the file" if where == "<file>" else where
    return f"unknown field {key!r}{did_you_mean(key, names)} — {takes} takes: {', '.join(names)}"


def _literal_values(root: type[BaseModel], loc: tuple) -> list[str]:
    annotation = _annotation_at(root, loc)
    if typing.get_origin(annotation) is typing.Literal:
        return [str(v) for v in typing.get_args(annotation)]
    return []


def _model_at(root: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    annotation = _annotation_at(root, loc)
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _split_union_tag(root: type[BaseModel], loc: tuple) -> tuple[tuple, str | None]:
    """pydantic names the alternative of a union (`min: str | float | int`) in the location of each of its
    errors (`..., 'min', 'float'`): the location without it, and the tag (None: no union on the way)."""
    annotation: Any = root
    for index, step in enumerate(loc):
        annotation = _unwrap(annotation)
        if _alternatives(annotation):
            return loc[:index] + loc[index + 1:], str(step)
        annotation = _step(annotation, step)
        if annotation is None:
            return loc, None
    return loc, None


def _annotation_at(root: type[BaseModel], loc: tuple) -> Any:
    """The type the model expects at `loc` (None when the path leaves the model)."""
    annotation: Any = root
    for step in loc:
        annotation = _step(_unwrap(annotation), step)
        if annotation is None:
            return None
    return _unwrap(annotation)


def _step(annotation: Any, step: str | int) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, field in annotation.model_fields.items():
            if step in (name, field.alias):
                return field.annotation
        return None
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin in (list, tuple) and args:
        return args[0]
    return None


def _unwrap(annotation: Any) -> Any:
    """`X | None` -> X, `Annotated[X, ...]` -> X; a union of several types stays as it is."""
    while True:
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        members = _union_members(annotation)
        if members is not None and len(members) == 1:
            annotation = members[0]
            continue
        return annotation


def _union_members(annotation: Any) -> list | None:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    return None


def _alternatives(annotation: Any) -> bool:
    members = _union_members(annotation)
    return members is not None and len(members) > 1
