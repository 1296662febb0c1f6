"""Flattening rules: nesting, arrays, empty objects, nulls, unicode, collisions, hostile keys."""
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from leanops.naming import column_name
from leanops.stages.flatten import flatten_texts


def flat(*docs, reserved=frozenset()):
    rows, errors = flatten_texts([d if isinstance(d, str) else json.dumps(d) for d in docs], reserved)
    return rows, errors


def test_deep_nesting_and_scalars():
    rows, _ = flat({"a": {"b": {"c": {"d": {"e": {"f": "deep"}}}}}, "n": 1, "f": 1.5, "t": True, "z": False})
    assert rows == [{"a_b_c_d_e_f": "deep", "n": "1", "f": "1.5", "t": "true", "z": "false"}]


def test_arrays_are_json_text():
    rows, _ = flat({"tags": ["a", "b"], "objs": [{"x": 1}], "empty": []})
    assert rows == [{"tags": '["a","b"]', "objs": '[{"x":1}]', "empty": "[]"}]


def test_empty_object_is_kept_and_null_is_missing():
    rows, _ = flat({"e": {}, "n": None, "k": "v"})
    assert rows == [{"e": "{}", "k": "v"}]


def test_empty_payload_object_has_no_columns():
    rows, errors = flat({})
    assert rows == [{}] and errors == {}


def test_unicode_keys_and_values():
    rows, _ = flat({"名前": "太郎", "Größe": "groß", "emoji": "😀"})
    assert rows == [{"名前": "太郎", "größe": "groß", "emoji": "😀"}]


def test_new_keys_in_later_rows_are_discovered():
    rows, _ = flat({"a": 1}, {"a": 2, "b": {"c": 3}}, {"d": [1]})
    assert rows == [{"a": "1"}, {"a": "2", "b_c": "3"}, {"d": "[1]"}]


def test_case_variants_share_a_column_across_rows():
    rows, _ = flat({"userId": "u1"}, {"userid": "u2"})
    assert rows == [{"userid": "u1"}, {"userid": "u2"}]


def test_collision_in_one_row_keeps_every_value():
    rows, _ = flat({"userId": "A", "userid": "B", "USERID": "C"})
    # path order (JSON pointer, code-point order): /USERID, /userId, /userid
    assert rows == [{"userid": "C", "userid__2": "A", "userid__3": "B"}]


def test_dotted_key_collides_with_nested_path():
    rows, _ = flat({"a.b": "dotted", "a": {"b": "nested"}})
    # pointers /a.b and /a/b: '.' sorts before '/', so the dotted key takes the plain name
    assert rows == [{"a_b": "dotted", "a_b__2": "nested"}]


def test_reserved_names_are_never_filled_from_payload():
    rows, _ = flat({"message_id": "inner", "x": 1}, reserved=frozenset({"message_id"}))
    assert rows == [{"message_id__2": "inner", "x": "1"}]


def test_hostile_keys_are_values_not_sql():
    doc = {"'; DROP TABLE x; --": "v1", 'a"b': "v2", "select": "v3", "a b": "v4", "a/b": "v5", "a~b": "v6"}
    rows, _ = flat(doc)
    assert sorted(rows[0].values()) == ["v1", "v2", "v3", "v4", "v5", "v6"]
    assert rows[0]["select"] == "v3"
    assert rows[0]["___drop_table_x____"] == "v1"


def test_key_that_is_object_in_one_row_and_scalar_in_another():
    rows, _ = flat({"a": {"b": 1}}, {"a": "flat"}, {"a": {}})
    assert rows == [{"a_b": "1"}, {"a": "flat"}, {"a": "{}"}]


def test_scalar_string_starting_with_brace_is_a_value():
    rows, _ = flat({"a": {"b": 1}}, {"a": "{not an object"})
    assert rows == [{"a_b": "1"}, {"a": "{not an object"}]


def test_duplicate_keys_are_errors_not_silent_loss():
    rows, errors = flat('{"a": 1, "a": 2}', '{"x": {"k": 1, "k": 2}}', '{"ok": 1}')
    assert errors == {0: "duplicate key 'a' in the object at the top level",
                      1: "duplicate key 'k' in the object at /x"}
    assert rows[2] == {"ok": "1"}


def test_big_integers_keep_their_digits():
    rows, _ = flat('{"big": 123456789012345678901234567890}')
    assert rows == [{"big": "123456789012345678901234567890"}]


def test_escaped_strings_are_unescaped():
    rows, _ = flat({"q": 'say "hi"\n', "u": "caf\u00e9"})
    assert rows == [{"q": 'say "hi"\n', "u": "café"}]


# -- property: every scalar leaf value survives, under the documented name ---------------------------
_keys = st.text(alphabet=st.sampled_from("abAB_ .-é名"), min_size=1, max_size=4)
_scalars = st.one_of(st.text(max_size=5), st.integers(-10**6, 10**6), st.booleans())
_docs = st.recursive(st.dictionaries(_keys, _scalars, max_size=4),
                     lambda inner: st.dictionaries(_keys, st.one_of(_scalars, inner), max_size=4), max_leaves=12)


def _leaves(doc, path=()):
    for key, value in doc.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, path + (key,))
        elif isinstance(value, dict):
            yield path + (key,), "{}"
        else:
            yield path + (key,), value


def _text(value):
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


@settings(max_examples=60, deadline=None)
@given(st.lists(_docs, min_size=1, max_size=4))
def test_no_value_is_lost(docs):
    rows, errors = flat(*docs)
    assert errors == {}
    for doc, row in zip(docs, rows):
        expected = sorted(_text(v) for _, v in _leaves(doc))
        got = sorted(row.values())
        assert got == expected
        for name in row:
            base = name.rsplit("__", 1)[0] if "__" in name and name.rsplit("__", 1)[1].isdigit() else name
            assert base in {column_name(p) for p, _ in _leaves(doc)}


# -- shape limits: what is measured before discovery (leanops.stages.limits) -------------------------
def over_limits(*docs, **limits):
    """ord -> reason of `limits.payload_errors` over the texts (dicts are dumped compact)."""
    import pyarrow as pa

    from leanops import duck
    from leanops.helper_columns import ORD
    from leanops.schema_file import ShapeLimits
    from leanops.stages.limits import payload_errors
    texts = [d if isinstance(d, str) else json.dumps(d, separators=(",", ":")) for d in docs]
    with duck.connect() as con:
        con.register("texts", pa.table({ORD.name: pa.array(range(len(texts)), pa.int64()),
                                        "json_payload": pa.array(texts, pa.string())}))
        return payload_errors(con, "texts", ShapeLimits(**limits))


def nested(depth: int, leaf="1", opener='{"a":', closer="}") -> str:
    """A payload whose longest key path has `depth` keys."""
    return opener * depth + leaf + closer * depth


def test_depth_counts_the_keys_of_the_longest_path():
    assert over_limits(nested(3), nested(4), nested(3, leaf="{}"), nested(3, leaf='{"x":{}}'), max_depth=3) == {
        1: "payload nested deeper than 3 levels", 3: "payload nested deeper than 3 levels"}


def test_arrays_are_values_whatever_they_hold():
    """An array is stored as JSON text and never walked: its nesting costs nothing, so it does not count."""
    deep_array = '{"a":' + "[" * 500 + "1" + "]" * 500 + "}"
    objects_in_arrays = '{"a":' + '[{"b":' * 200 + "1" + "}]" * 200 + "}"
    assert over_limits(deep_array, objects_in_arrays, max_depth=3) == {}


def test_keys_are_the_paths_that_become_columns():
    doc = {"a": 1, "b": None, "c": {}, "d": [{"x": 1, "y": 2, "z": 3}] * 50, "e": {"f": {"g": "h", "i": [1]}}}
    # a, b, c, d, e_f_g, e_f_i: keys inside arrays and the objects on the way are not columns
    assert over_limits(doc, max_keys=6) == {}
    assert over_limits(doc, max_keys=5) == {0: "payload has 6 keys, more than 5"}


def test_text_inside_strings_does_not_count():
    braces = {"s": "{" * 100 + ":" * 100, "t": '{"a":{"a":{"a":{"a":1}}}}'}
    assert over_limits(braces, max_depth=1, max_keys=2) == {}


def test_what_is_not_a_json_object_is_left_to_the_parse_error_rules():
    assert over_limits("{" * 100, "[" + nested(50) + "]", '"' + "{" * 60 + '"', nested(50)[:-1], max_depth=3) == {}


def test_a_very_deep_payload_is_measured_without_walking_it():
    """200,000 levels (1.2 MB): one JSON parse and a path of `max_depth` wildcards."""
    assert over_limits(nested(200_000), {"ok": 1}) == {0: "payload nested deeper than 32 levels"}


_json_text = st.text(alphabet="{}[]:,\"\\ab", max_size=4)  # strings full of JSON punctuation
_any_json = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), _json_text),
                         lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                 st.dictionaries(_keys, inner, max_size=4)), max_leaves=25)


def _key_depth(value) -> int:
    return 1 + max(map(_key_depth, value.values())) if isinstance(value, dict) and value else 0


def _key_count(value) -> int:
    return sum(_key_count(v) if isinstance(v, dict) and v else 1 for v in value.values())


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(_keys, _any_json, max_size=5), st.integers(1, 4), st.integers(1, 8), st.booleans())
def test_limits_agree_with_a_walk_of_the_parsed_payload(doc, max_depth, max_keys, compact):
    text = json.dumps(doc, separators=(",", ":") if compact else None, ensure_ascii=compact)
    found = over_limits(text, max_depth=max_depth, max_keys=max_keys)
    if _key_depth(doc) > max_depth:
        assert found == {0: f"payload nested deeper than {max_depth} levels"}
    elif _key_count(doc) > max_keys:
        assert found == {0: f"payload has {_key_count(doc)} keys, more than {max_keys}"}
    else:
        assert found == {}
