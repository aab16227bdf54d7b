"""Kafka record batches (format v2) located and damaged in raw bytes: a log segment on disk or
a fetch buffer, so tests get batches no client can decode, as real corruption makes them."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.util import calc_crc32c

# Byte positions in a v2 batch header (Kafka's DefaultRecordBatch): the CRC covers everything
# from the attributes to the end of the batch.
_LENGTH_AT = 8
_CRC_AT = 17
_ATTRIBUTES_AT = 21
_LAST_OFFSET_DELTA_AT = 23
_HEADER_SIZE = 61
_CODEC_MASK = 0x07


def build_batch(values: list[bytes], codec: int, key: bytes | None = None) -> bytearray:
    """One v2 batch of values at offsets 0.. (codec: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd),
    built by aiokafka's own builder, the one its producer uses."""
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=codec,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=max(1 << 20, 2 * sum(len(v) for v in values)),
    )
    for offset, value in enumerate(values):
        builder.append(offset, timestamp=1_700_000_000_000, key=key, value=value, headers=[])
    return bytearray(builder.build())


@dataclass(frozen=True)
class Batch:
    start: int  # byte position of the batch in the buffer
    end: int
    base_offset: int
    last_offset: int


def batches(data: bytes | bytearray) -> list[Batch]:
    out = []
    pos = 0
    while pos + _HEADER_SIZE <= len(data):
        base = struct.unpack_from(">q", data, pos)[0]
        length = struct.unpack_from(">i", data, pos + _LENGTH_AT)[0]
        delta = struct.unpack_from(">i", data, pos + _LAST_OFFSET_DELTA_AT)[0]
        end = pos + 12 + length
        out.append(Batch(pos, end, base, base + delta))
        pos = end
    return out


def break_crc(data: bytearray, batch: Batch) -> None:
    """Flip one byte of the batch's records: its CRC no longer matches (a torn write)."""
    at = batch.start + _HEADER_SIZE + (batch.end - batch.start - _HEADER_SIZE) // 2
    data[at] ^= 0xFF


def set_unknown_codec(data: bytearray, batch: Batch, codec: int = 5) -> None:
    """Mark the batch compressed with a codec id no client knows, with a valid CRC: what a
    newer producer's codec looks like to an older consumer."""
    attributes = struct.unpack_from(">h", data, batch.start + _ATTRIBUTES_AT)[0]
    struct.pack_into(">h", data, batch.start + _ATTRIBUTES_AT, (attributes & ~_CODEC_MASK) | codec)
    crc = calc_crc32c(bytes(data[batch.start + _ATTRIBUTES_AT : batch.end]))
    struct.pack_into(">I", data, batch.start + _CRC_AT, crc)


def damage_segment(path: Path, crc: list[int], codec: list[int]) -> list[Batch]:
    """Damage, in place, the batches of a log segment at the given indexes; returns them all.

    The broker serves fetches from these bytes as they are (it validates on write, not on
    read), so every consumer meets the damage.
    """
    data = bytearray(path.read_bytes())
    found = batches(data)
    for i in crc:
        break_crc(data, found[i])
    for i in codec:
        set_unknown_codec(data, found[i])
    with path.open("r+b") as f:  # same length, in place: the broker's open file sees it
        f.write(data)
    return found
