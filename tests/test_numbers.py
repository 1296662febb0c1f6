"""Flattening keeps a payload's numbers as written: DuckDB alone would print them from a double."""
import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from leanops import duck
from leanops.stages import numbers
from leanops.stages.flatten import flatten_texts

# A JSON number token (RFC 8259): -? int frac? exp?
TOKENS = st.builds(
    lambda sign, whole, frac, exp: sign + whole + frac + exp,
    st.sampled_from(["", "-"]),
    st.one_of(st.just("0"), st.from_regex(r"[1-9][0-9]{0,25}", fullmatch=True)),
    st.one_of(st.just(""), st.from_regex(r"\.[0-9]{1,25}", fullmatch=True)),
    st.one_of(st.just(""), st.from_regex(r"[eE][+-]?[0-9]{1,3}", fullmatch=True)),
)


def flat(*texts):
    rows, errors = flatten_texts(list(texts))
    assert errors == {}
    return rows


def test_the_issue_numbers_keep_their_digits():
    rows = flat('{"amount": 12345678901234567.89, "zero": -0, "tenth": 0.1000000000000000055511151231257827, '
                '"big": 123456789012345678901234567890123456.12, "e": 1E5, "cents": 12.50, "plain": 21.5}')
    assert rows == [{"amount": "12345678901234567.89", "zero": "-0", "tenth": "0.1000000000000000055511151231257827",
                     "big": "123456789012345678901234567890123456.12", "e": "1E5", "cents": "12.50",
                     "plain": "21.5"}]


def test_arrays_with_a_lossy_number_keep_it_and_others_stay_as_duckdb_writes_them():
    rows = flat('{"a": [1.10, "x", -0, {"k": 2.50}], "b": [1.5, "\\u00e9"]}')
    assert rows == [{"a": '[1.10,"x",-0,{"k":2.50}]', "b": '[1.5,"é"]'}]


def test_a_key_that_is_a_number_in_one_row_and_an_object_in_another():
    rows = flat('{"v": 1.50}', '{"v": {"w": 2.0e3}}', '{"v": 7}')
    assert rows == [{"v": "1.50"}, {"v_w": "2.0e3"}, {"v": "7"}]


def test_colliding_paths_keep_each_number():
    rows = flat('{"a_b": 1.10, "a": {"b": 2.20}}')
    assert rows == [{"a_b": "2.20", "a_b__2": "1.10"}]


def test_strings_that_look_like_numbers_are_untouched():
    rows = flat('{"s": "1.10", "t": "x:1.10,", "n": 1.10}')
    assert rows == [{"s": "1.10", "t": "x:1.10,", "n": "1.10"}]


@settings(max_examples=60, deadline=None)
@given(st.lists(TOKENS, min_size=1, max_size=6), st.sampled_from(["", " ", "\n\t "]))
def test_every_number_token_is_kept_as_written(tokens, ws):
    doc = "{" + ",".join(f'{ws}"k{i}"{ws}:{ws}{t}{ws}' for i, t in enumerate(tokens)) + "," + \
          f'"arr":{ws}[{ws}{(ws + "," + ws).join(tokens)}{ws}]' + "}"
    [row] = flat(doc)
    assert [row[f"k{i}"] for i in range(len(tokens))] == tokens
    assert json.loads(row["arr"], parse_float=str, parse_int=str) == tokens  # numbers as written, in order


@settings(max_examples=60, deadline=None)
@given(st.lists(TOKENS, min_size=1, max_size=200))
def test_a_token_deemed_plain_is_printed_by_duckdb_as_written_and_a_lossy_one_is_always_found(tokens):
    with duck.connect() as con:
        rows = con.execute(
            f"SELECT token, json_extract_string(json_payload, '$.a'), {numbers.LOSSY_ROW_SQL} "
            "FROM (SELECT token, '{\"a\":' || token || '}' AS json_payload FROM unnest($1::VARCHAR[]) t(token))",
            [tokens]).fetchall()
    for token, printed, found in rows:
        if numbers.lossy(token):
            assert found, token  # the row goes to the exact path
        else:
            assert printed == token  # DuckDB's own text is already exact


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=':,[]{}" \t\n-0123456789.eE', max_size=40), min_size=1, max_size=50))
def test_the_row_search_per_leading_character_finds_what_the_one_pattern_finds(texts):
    # LOSSY_ROW_SQL splits LOSSY_ROW_PATTERN by the character a number follows (it is faster so):
    # both must pick the very same rows
    with duck.connect() as con:
        rows = con.execute(f"SELECT json_payload, {numbers.LOSSY_ROW_SQL} FROM unnest($1::VARCHAR[]) t(json_payload)",
                           [texts]).fetchall()
    for text, found in rows:
        assert found == (re.search(numbers.LOSSY_ROW_PATTERN, text) is not None), text
