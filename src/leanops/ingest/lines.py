"""NDJSON bytes -> blocks of lines, with no Python object per line.

A `LineBlock` is the bytes of consecutive lines, each ended by b"\n", and the lines' offsets (an
int64 buffer Arrow reads without a copy): the envelope check (leanops.ingest.envelope) decodes a
block in one msgspec call and tests the lines with Arrow compute, and only the lines it rejects are
ever turned into Python strings (their DLQ text). No numpy: the Lambda layer that ingests has no
room for it (docs/terraform.md).

    for block in read_blocks(open("events.ndjson", "rb"), max_lines=100_000, on_bytes=print):
        block.first, len(block), block.texts([0])

Input is read in CHUNK_BYTES pieces, so memory stays bounded whatever the file. A line longer than
MAX_LINE_BYTES is never held whole: its first LINE_SAMPLE_BYTES stand for it, with a reason, and the
rest is skipped up to its newline. Bytes that are not UTF-8 are kept (replaced) and marked, so such a
line is rejected with its text, never dropped.
"""
from __future__ import annotations

import array
import dataclasses
import itertools
from typing import BinaryIO, Callable, Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc

CHUNK_BYTES = 16 << 20
MAX_LINE_BYTES = 16 << 20  # a longer line is rejected (DLQ), its first LINE_SAMPLE_BYTES kept as its text
LINE_SAMPLE_BYTES = 1024
NOT_UTF8 = "\x00<not UTF-8>"  # appended to a line's (replaced) text: no JSON parser takes a NUL


@dataclasses.dataclass(frozen=True)
class LineBlock:
    """Consecutive lines of one source: line i is data[offsets[i]:offsets[i + 1] - 1] (its newline cut).

    `reasons` holds, by index in the block, why the reader already refused a line (too long); such a
    line's bytes are its sample."""

    data: bytes | memoryview
    offsets: array.array  # int64 ('q'), len(block) + 1 of them, offsets[0] == 0
    first: int  # the first line's number in its source (from 1)
    reasons: dict[int, str] = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def slice(self, start: int, stop: int) -> "LineBlock":
        """Lines [start, stop) as a block of their own (the bytes are shared, not copied)."""
        offsets = self.offsets[start:stop + 1]
        base = offsets[0]
        reasons = {i - start: r for i, r in self.reasons.items() if start <= i < stop}
        return LineBlock(memoryview(self.data)[base:offsets[-1]], array.array("q", (o - base for o in offsets)),
                         self.first + start, reasons)

    def offsets_array(self) -> pa.Int64Array:
        """The offsets as an Arrow array (no copy)."""
        return pa.Array.from_buffers(pa.int64(), len(self.offsets), [None, pa.py_buffer(self.offsets)])

    def lines_array(self) -> pa.LargeBinaryArray:
        """The lines as an Arrow array (no copy), each with its newline."""
        return pa.Array.from_buffers(pa.large_binary(), len(self), [None, pa.py_buffer(self.offsets),
                                                                   pa.py_buffer(self.data)])

    def line_bytes(self, index: int) -> bytes:
        """Line `index` without its newline and a trailing carriage return."""
        line = bytes(memoryview(self.data)[self.offsets[index]:self.offsets[index + 1] - 1])
        return line[:-1] if line.endswith(b"\r") else line

    def texts(self, indices: Sequence[int]) -> list[str]:
        """The text of each line in `indices`; bytes that are not UTF-8 are replaced and the text marked."""
        return [self.line_bytes(i).decode("utf-8", errors="replace") if i in self.reasons
                else _text(self.line_bytes(i)) for i in indices]

    def utf8_ok(self) -> bool:
        """Whether every byte of the block is UTF-8 (checked in C, in one pass)."""
        whole = pa.Array.from_buffers(pa.large_binary(), 1, [None, pa.py_buffer(array.array("q", [0, len(self.data)])),
                                                            pa.py_buffer(self.data)])
        try:
            whole.cast(pa.large_string())
        except pa.ArrowInvalid:
            return False
        return True


def _text(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("utf-8", errors="replace") + NOT_UTF8


def too_long(length: int) -> str:
    return (f"line of {length:,} bytes exceeds the limit of {MAX_LINE_BYTES:,} bytes "
            f"(its first {LINE_SAMPLE_BYTES:,} bytes are kept)")


def read_blocks(stream: BinaryIO, max_lines: int, on_bytes: Callable[[int], None]) -> Iterator[LineBlock]:
    """Blocks of at most `max_lines` lines of `stream`, in order, numbered from 1."""
    number, tail = 0, b""
    oversize: list[int] = []  # [bytes so far] while skipping the rest of a line that is too long
    while chunk := stream.read(CHUNK_BYTES):
        on_bytes(len(chunk))
        if oversize:
            cut = chunk.find(b"\n")
            if cut < 0:
                oversize[0] += len(chunk)
                continue
            oversize[0] += cut
            number += 1
            yield _refused(number, tail, too_long(oversize[0]))
            oversize, tail, chunk = [], b"", chunk[cut + 1:]
        data = tail + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            tail = data
            if len(tail) > MAX_LINE_BYTES:
                oversize, tail = [len(tail)], tail[:LINE_SAMPLE_BYTES]
            continue
        tail = data[cut + 1:]
        for block in _blocks(data, cut + 1, number + 1, max_lines):
            number += len(block)
            yield block
        if len(tail) > MAX_LINE_BYTES:
            oversize, tail = [len(tail)], tail[:LINE_SAMPLE_BYTES]
    if oversize:
        yield _refused(number + 1, tail, too_long(oversize[0]))
    elif tail:  # a last line without a newline
        last = tail + b"\n"
        yield from _blocks(last, len(last), number + 1, max_lines)


def block_of(lines: Sequence[str], first: int = 1, reasons: Sequence[str | None] | None = None) -> LineBlock:
    """A block of given line texts (an HTTP body split already, a DLQ correction, a test)."""
    encoded = [line.encode("utf-8", errors="surrogatepass") for line in lines]
    offsets = array.array("q", itertools.accumulate((len(line) + 1 for line in encoded), initial=0))
    data = b"".join(line + b"\n" for line in encoded)
    refused = {i: r for i, r in enumerate(reasons or ()) if r is not None}
    return LineBlock(data, offsets, first, refused)


def _refused(number: int, start: bytes, reason: str) -> LineBlock:
    """A one-line block standing for a line too long to keep: its first bytes and the reason."""
    sample = start[:LINE_SAMPLE_BYTES].replace(b"\n", b" ") + b"\n"
    return LineBlock(sample, array.array("q", [0, len(sample)]), number, {0: reason})


def _line_offsets(data: bytes, end: int) -> array.array:
    """0, then the offset after each newline of data[:end] (bytes.find runs memchr: no object per line)."""
    offsets = array.array("q", [0])
    find, append = data.find, offsets.append
    at = find(b"\n", 0, end)
    while at >= 0:
        append(at + 1)
        at = find(b"\n", at + 1, end)
    return offsets


def _blocks(data: bytes, end: int, first: int, max_lines: int) -> Iterator[LineBlock]:
    """data[:end] (whole lines, the last one ended by a newline) as blocks of at most `max_lines` lines."""
    offsets = _line_offsets(data, end)
    body = data if end == len(data) else memoryview(data)[:end]  # a view: the chunk is not copied
    block = LineBlock(body, offsets, first)
    if len(body) > MAX_LINE_BYTES and pc.max(pc.binary_length(block.lines_array())).as_py() - 1 > MAX_LINE_BYTES:
        block = _cut_long_lines(block)
    for start in range(0, len(block), max_lines):
        yield block.slice(start, min(start + max_lines, len(block))) if len(block) > max_lines else block


def _cut_long_lines(block: LineBlock) -> LineBlock:
    """The block with each line over MAX_LINE_BYTES replaced by its sample and a reason."""
    lines: list[bytes] = []
    reasons: dict[int, str] = {}
    for i in range(len(block)):
        line = bytes(memoryview(block.data)[block.offsets[i]:block.offsets[i + 1] - 1])
        if len(line) > MAX_LINE_BYTES:
            reasons[i] = too_long(len(line))
            line = line[:LINE_SAMPLE_BYTES]
        lines.append(line + b"\n")
    offsets = array.array("q", itertools.accumulate(map(len, lines), initial=0))
    return LineBlock(b"".join(lines), offsets, block.first, reasons)
