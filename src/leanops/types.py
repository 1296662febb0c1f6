"""Domain vocabulary shared by every module."""
from __future__ import annotations

import enum
import re

from leanops.errors import InvalidTopicNameError

TOPIC_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
# names whose tables would collide with the pipeline's own tables and views
RESERVED_TOPICS = ("errors", "parse_errors", "dlq_errors")
RESERVED_SUFFIXES = ("_latest", "_staging")


class Zone(str, enum.Enum):
    RAW = "raw"
    STANDARDIZED = "standardized"
    CURATED = "curated"
    SEMANTIC = "semantic"


class FlowControl(str, enum.Enum):
    ENABLED = "ENABLED"
    PAUSED = "PAUSED"


class RunStatus(str, enum.Enum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    NO_NEW_DATA = "NO_NEW_DATA"
    SKIPPED = "SKIPPED"
    FAILED = "FAILED"


def validate_topic(topic: str) -> str:
    """Topic names become table names: only a small, safe alphabet is accepted.

    >>> validate_topic("events")
    'events'
    """
    if not isinstance(topic, str) or not TOPIC_NAME_RE.match(topic):
        raise InvalidTopicNameError(str(topic))
    if topic in RESERVED_TOPICS or topic.endswith(RESERVED_SUFFIXES):
        raise InvalidTopicNameError(topic, "it would collide with a pipeline table or view")
    return topic
