"""The payload's own text of its numbers, for flattening (DuckDB would print them from a double).

DuckDB reads a JSON number into a double (an integer into BIGINT) and prints that: `1.10` becomes
`1.1`, `1E5` `100000.0`, `-0` `0`, `12345678901234567.89` `12345678901234568.0`. It prints the
payload's very text for a *plain* token: an integer other than `-0` of at most 16 digits, or a
decimal fraction of at most 16 characters (sign aside) with no exponent, no trailing zero after its
first decimal place and less than six zeros after `0.` (15 significant digits round-trip a double,
and DuckDB writes them without an exponent from 1e-6 to 1e21). Any other token is *lossy*.

`LOSSY_ROW_SQL` finds, in DuckDB, the payloads that may hold a lossy token (regular expressions; a
string that looks like one only costs a second look); `ExactNumbers` gives, for those rows only,
the exact text of each leaf that is a number (or an array holding a lossy number), parsing the
payload again in Python with the tokens kept as written. Flattening takes that text over DuckDB's.
"""
from __future__ import annotations

import json
import re

import msgspec

Path = tuple[str, ...]

_WS = r"[ \t\n\r]*"
_NUMBER_LEADS = (":", ",", r"\[")  # in a JSON object, a number follows ':', ',' or '[' (and whitespace)
_NUMBER_START = rf"[:,\[]{_WS}"
_LOSSY_TOKEN = re.compile(r"-0|-?[0-9.]*[eE].*|-?[0-9]+\.[0-9]+0|-?[0-9.]{17,}|-?0\.0{6}.*")
_LOSSY_BODY = (rf"(?:-0{_WS}[,}}\]]|-?[0-9]+(?:\.[0-9]+)?[eE]|"
               rf"-?[0-9]+\.[0-9]+0{_WS}[,}}\]]|-?[0-9.]{{17}}|-?0\.0{{6}})")
# The same rules as _LOSSY_TOKEN, over the whole payload text: true for every row with a lossy token.
LOSSY_ROW_PATTERN = _NUMBER_START + _LOSSY_BODY
# The same search as LOSSY_ROW_PATTERN, one pattern per character a number follows: a pattern that
# starts with one literal character lets RE2 skip to its occurrences (memchr) instead of stepping
# its automaton over every byte, so the three cost about a third of the one (bench/README.md).
LOSSY_ROW_SQL = "(" + " OR ".join(
    "regexp_matches(json_payload, '" + (lead + _WS + _LOSSY_BODY).replace("'", "''") + "')"
    for lead in _NUMBER_LEADS) + ")"
_ABSENT = object()


def lossy(token: str) -> bool:
    """Whether DuckDB may print this JSON number token otherwise than it is written."""
    return _LOSSY_TOKEN.fullmatch(token) is not None


def _number(token: str) -> msgspec.Raw:
    return msgspec.Raw(token)  # kept as written; msgspec writes it back verbatim


def _holds_lossy(value: object) -> bool:
    if isinstance(value, msgspec.Raw):
        return lossy(bytes(value).decode())
    if isinstance(value, list):
        return any(_holds_lossy(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_lossy(v) for v in value.values())
    return False


class ExactNumbers:
    """A DuckDB scalar function: payload -> for each leaf path, its exact text where DuckDB's would differ.

    The text is the number token as written for a number, the compact JSON of an array (numbers as
    written) for an array holding a lossy number, and NULL otherwise (DuckDB's value stands).
    """

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def __call__(self, payload: str) -> list[str | None]:
        try:
            doc = json.loads(payload, parse_int=_number, parse_float=_number, parse_constant=_number)
        except (ValueError, RecursionError):  # not this row's business: screening rejects bad JSON
            return [None] * len(self.paths)
        return [self._text(self._leaf(doc, path)) for path in self.paths]

    @staticmethod
    def _leaf(doc: object, path: Path) -> object:
        for key in path:
            if not isinstance(doc, dict):
                return _ABSENT
            doc = doc.get(key, _ABSENT)
        return doc

    @staticmethod
    def _text(value: object) -> str | None:
        if isinstance(value, msgspec.Raw):
            return bytes(value).decode()
        if isinstance(value, list) and _holds_lossy(value):
            return msgspec.json.encode(value).decode()
        return None


def register(con, name: str, paths: list[Path]) -> None:
    """(Re)define DuckDB function `name`(payload) -> VARCHAR[] for these leaf paths."""
    try:
        con.remove_function(name)
    except Exception:  # noqa: BLE001 - not defined yet on this connection (DuckDB raises InvalidInputException)
        pass
    con.create_function(name, ExactNumbers(paths), ["VARCHAR"], "VARCHAR[]", side_effects=False)
