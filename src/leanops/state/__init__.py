"""State store: topic registry, checkpoints, run log. Ports in base.py, adapters beside it."""
from leanops.state.base import Checkpoint, RunRecord, StateReader, StateStore, TopicEntry

__all__ = ["Checkpoint", "RunRecord", "StateReader", "StateStore", "TopicEntry"]
