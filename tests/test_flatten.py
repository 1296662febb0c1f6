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
