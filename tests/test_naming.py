"""Golden cases of the JSON-key -> column-name convention. Changing one is a breaking change."""
import pytest

from leanops.naming import column_name, is_valid_column_name, json_pointer, normalize_key

GOLDEN = [
    (("event", "userId"), "event_userid"),
    (("event", "metadata", "ipAddress"), "event_metadata_ipaddress"),
    (("_metadata", "idempotencyKeyResource"), "_metadata_idempotencykeyresource"),
    (("sessionId",), "sessionid"),
    (("a b",), "a_b"),
    (("a.b",), "a_b"),
    (("it's", 'say "hi"'), "it_s_say__hi_"),
    (("SELECT",), "select"),
    (("Größe",), "größe"),
    (("名前",), "名前"),
    (("9lives",), "_9lives"),
    (("",), "_"),
    (("x-y", "z/w"), "x_y_z_w"),
    (("émoji😀",), "émoji_"),
]


@pytest.mark.parametrize("path,expected", GOLDEN)
def test_golden_names(path, expected):
    assert column_name(path) == expected


def test_names_are_valid_identifiers():
    for path, _ in GOLDEN:
        assert is_valid_column_name(column_name(path)), path


def test_pointer_escapes_rfc6901():
    assert json_pointer(("a/b", "c~d")) == "/a~1b/c~0d"
    assert json_pointer(("",)) == "/"


def test_normalize_key_keeps_underscores():
    assert normalize_key("__x__") == "__x__"


@pytest.mark.parametrize("name,ok", [("idempotency_key", True), ("Upper", False), ("1x", False),
                                     ("a-b", False), ("_x", True), ("", False)])
def test_valid_column_names(name, ok):
    assert is_valid_column_name(name) is ok


@pytest.mark.parametrize("topic", ["errors", "parse_errors", "dlq_errors", "events_latest", "x_staging"])
def test_topic_names_that_collide_with_pipeline_tables_are_refused(topic):
    from leanops.errors import InvalidTopicNameError
    from leanops.types import validate_topic
    with pytest.raises(InvalidTopicNameError, match="collide"):
        validate_topic(topic)
