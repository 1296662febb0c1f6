"""`run_once(ctx)`: one orchestrator cycle with default options, returning the per-topic outcomes.

Kept for callers that want the outcomes only (the demo, tests); `leanops.orchestrate.cycle` is the
orchestrator itself.
"""
from __future__ import annotations

from leanops.context import Context
from leanops.orchestrate.cycle import CycleOptions, TopicOutcome, run_cycle


def run_once(ctx: Context, topics: list[str] | None = None) -> list[TopicOutcome]:
    return run_cycle(ctx, CycleOptions(topics=topics)).outcomes


__all__ = ["TopicOutcome", "run_once"]
