"""Pre-RAW accountability (seed 001): every SQS message ends in RAW, raw.dlq_errors or Firehose's error prefix.

    sqs_messages == raw_rows + dlq_errors + firehose_errors   (+ messages still in a queue)

    account = from_handler_counts(forwarder_responses, drainer_results)
    assert account.ok, account.as_dict()
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping


@dataclasses.dataclass(frozen=True)
class PreRawAccount:
    """The ingestion layer's balance before RAW, from the handlers' counters (or CloudWatch and the tables)."""

    sqs_messages: int  # distinct messages taken from the source queue
    raw_rows: int  # delivered by Firehose to RAW
    dlq_errors: int  # drained from the DLQ into raw.dlq_errors
    firehose_errors: int = 0  # accepted by Firehose, then written to its S3 error prefix
    in_flight: int = 0  # still in the source queue or the DLQ: neither landed nor lost

    @property
    def accounted(self) -> int:
        return self.raw_rows + self.dlq_errors + self.firehose_errors + self.in_flight

    @property
    def missing(self) -> int:
        """Messages not found anywhere; negative means surplus (an at-least-once redelivery landed twice)."""
        return self.sqs_messages - self.accounted

    @property
    def ok(self) -> bool:
        return self.missing == 0

    @property
    def percent(self) -> float:
        """Seed 001's Pre_RAW_Accountability %: (RAW + DLQ_Errors + Firehose_Errors) / SQS_Messages x 100."""
        landed = self.raw_rows + self.dlq_errors + self.firehose_errors
        return 100.0 if self.sqs_messages == 0 else round(100.0 * landed / self.sqs_messages, 4)

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "accounted": self.accounted, "missing": self.missing,
                "percent": self.percent, "ok": self.ok}


def from_handler_counts(forwarded: Iterable[Mapping], drained: Iterable[Mapping], firehose_errors: int = 0,
                        in_flight: int = 0) -> PreRawAccount:
    """The balance from sqs_to_firehose responses and dlq_drainer results.

    Args:
        forwarded: each invocation's response: `first_receives` counts distinct messages (a redelivery
            has ApproximateReceiveCount > 1), `delivered` the records Firehose accepted.
        drained: each drain's result: `written` rows went to raw.dlq_errors.
        firehose_errors: records Firehose accepted but could not deliver (its S3 error prefix).
        in_flight: messages still visible or hidden in the source queue and the DLQ.
    """
    forwarded, drained = list(forwarded), list(drained)
    delivered = sum(int(r["delivered"]) for r in forwarded)
    return PreRawAccount(sqs_messages=sum(int(r["first_receives"]) for r in forwarded),
                         raw_rows=delivered - firehose_errors, dlq_errors=sum(int(r["written"]) for r in drained),
                         firehose_errors=firehose_errors, in_flight=in_flight)
