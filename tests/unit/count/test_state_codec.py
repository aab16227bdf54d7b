"""The saved form of a counter: chunk updates, dedupe deltas, and state of the layout before."""

from __future__ import annotations

import json
import random
from collections import Counter

from streams.count import state
from streams.count.chunk_records import MAX_UPDATES, encode_whole
from streams.count.counter import PartitionCounter
from streams.count.dedupe_records import FOLD_FACTOR
from streams.count.model import BatchResult, CountedEvent, CounterConfig
from streams.count.windows import DAY_MS, HOUR_MS, MINUTE_MS

T0 = 1_663_718_400_000  # 2022-09-21T00:00:00Z
D1 = ("vaalimaa", "RU", "FI")
D2 = ("nuijamaa", "RU", "FI")
CFG = CounterConfig(bucket_ms=5 * MINUTE_MS, lateness_ms=10 * MINUTE_MS, dedupe_ms=HOUR_MS)


def ev(t_ms: int, offset: int, eid: str | None = None, d: tuple[str, str, str] = D1):
    return CountedEvent(d, eid or f"id-{offset}", t_ms, 1, offset)


class Changelog:
    """What a compacted changelog keeps: the last value of each key, a tombstone deletes it."""

    def __init__(self) -> None:
        self.log: dict[str, bytes] = {}
        self.written: list[state.Entry] = []

    def save(self, counter: PartitionCounter, result: BatchResult, offset: int) -> list:
        entries = state.changed_entries(0, counter, result).all
        entries.append(state.meta_entry(0, counter, offset))
        self.apply(entries)
        return entries

    def apply(self, entries: list[state.Entry]) -> None:
        self.written.extend(entries)
        for key, value in entries:
            if value is None:
                self.log.pop(key, None)
            else:
                self.log[key] = value

    def restored(self, config: CounterConfig = CFG) -> PartitionCounter:
        counter = PartitionCounter(config)
        state.restore(0, counter, self.log.items())
        return counter

    def dedupe_keys(self) -> set[str]:
        return {k for k in self.log if k.startswith(("0|e|", "0|d|"))}

    def chunk_keys(self) -> set[str]:
        return {k for k in self.log if k.startswith(("0|c|", "0|u|"))}


def run(counter: PartitionCounter, log: Changelog, batch: list[CountedEvent]) -> BatchResult:
    result = counter.apply_batch(batch)
    counter.next_offset = batch[-1].offset + 1
    log.save(counter, result, batch[-1].offset)
    return result


def dedupe_values(entries: list) -> list[dict]:
    return [json.loads(v) for k, v in entries if k.startswith("0|e|") and v is not None]


def test_a_batch_saves_only_the_ids_it_newly_remembered():
    c, log = PartitionCounter(CFG), Changelog()
    run(c, log, [ev(T0, 0), ev(T0 + 1, 1, d=D2)])
    entries = log.save(c, c.apply_batch([ev(T0 + 2, 2), ev(T0 + 3, 1, "id-0")]), 3)
    # id-0 again (a duplicate) is not written again; only id-2 is, as offset 2 minus FIRST.
    assert [k for k, _ in entries if "|e|" in k] == [f"0|e|{T0}|2"]
    assert dedupe_values(entries) == [{"vaalimaa": {"id-2": 0}}]


def test_deltas_restore_the_same_dedupe_memory_with_each_ids_offset():
    c, log = PartitionCounter(CFG), Changelog()
    run(c, log, [ev(T0, 10), ev(T0 + 6 * MINUTE_MS, 11, d=D2)])
    run(c, log, [ev(T0 + 1, 12), ev(T0 + 7 * MINUTE_MS, 13)])
    again = log.restored()
    assert (
        again.seen_ids
        == c.seen_ids
        == {
            "vaalimaa|id-10": 10,
            "nuijamaa|id-11": 11,
            "vaalimaa|id-12": 12,
            "vaalimaa|id-13": 13,
        }
    )
    assert again.dedupe == c.dedupe
    assert again.dedupe_keys == c.dedupe_keys
    # The same record replayed is not a duplicate (its chunk decides); another delivery is.
    r = again.apply_batch([ev(T0 + 1, 12), ev(T0 + 1, 14, "id-10")])
    assert (r.duplicates, r.replayed, r.counted) == (1, 1, 0)


def test_a_forgotten_bucket_deletes_every_record_of_it():
    c, log = PartitionCounter(CFG), Changelog()
    for i in range(3):  # three batches: three records for the first bucket
        run(c, log, [ev(T0 + i, i)])
    first_bucket = {k for k in log.dedupe_keys() if k.startswith(f"0|e|{T0}|")}
    assert len(first_bucket) == 3
    # Event time moves past the dedupe horizon (1 h + lateness): the first bucket is forgotten.
    r = run(c, log, [ev(T0 + 2 * HOUR_MS, 3)])
    assert T0 in r.dropped_dedupe
    tombstones = {k for k, v in log.written if v is None}
    assert first_bucket <= tombstones
    assert log.dedupe_keys() == {f"0|e|{T0 + 2 * HOUR_MS}|3"}
    again = log.restored()
    assert again.seen_ids == c.seen_ids == {"vaalimaa|id-3": 3}


def assert_same_state(again: PartitionCounter, c: PartitionCounter) -> None:
    assert again.seen_ids == c.seen_ids
    assert again.dedupe == c.dedupe
    assert again.days == c.days
    assert again.chunk_offsets == c.chunk_offsets


def test_compacted_changelog_stays_bounded_and_restores_exactly_under_random_traffic():
    rng = random.Random(7)
    cfg = CounterConfig(
        bucket_ms=5 * MINUTE_MS,
        lateness_ms=10 * MINUTE_MS,
        history_ms=DAY_MS,
        dedupe_ms=HOUR_MS,
        dedupe_max_ids=150,
    )
    c, log = PartitionCounter(cfg), Changelog()
    offset, t = 0, T0
    for _ in range(400):
        batch = []
        for _ in range(rng.randint(1, 12)):
            t += rng.randint(0, 240_000)
            when = t - rng.choice([0, 0, 0, 4 * MINUTE_MS, 25 * MINUTE_MS, 5 * HOUR_MS])  # late
            eid = f"id-{rng.randint(0, offset)}" if rng.random() < 0.1 else None  # duplicates
            batch.append(ev(when, offset, eid, d=rng.choice([D1, D2])))
            offset += 1
        run(c, log, batch)
        items = list(log.log.items())
        rng.shuffle(items)  # a restore reads the store in no particular order
        again = PartitionCounter(cfg)
        state.restore(0, again, items)
        assert_same_state(again, c)
        # Every saved record belongs to a bucket or chunk still kept: nothing leaks.
        assert {int(k.split("|")[2]) for k in log.dedupe_keys()} == set(c.dedupe)
        chunks = {(tuple(k.split("|")[2:5]), int(k.split("|")[5])) for k in log.chunk_keys()}
        assert chunks == {(d, day) for day, kept in c.days.items() for d in kept}
        per_bucket = Counter(int(k.split("|")[2]) for k in log.dedupe_keys())
        for start, n in per_bucket.items():  # a closed bucket's many deltas are folded
            if start + cfg.bucket_ms <= (c.closed_until or 0):
                assert n <= FOLD_FACTOR * len(c.dedupe[start]), (start, n)
        for key, updates in c.chunk_updates.items():
            assert len(updates) <= MAX_UPDATES
            assert key[1] + DAY_MS > (c.closed_until or 0), "a closed day is saved whole"
    assert len(c.days) >= 2 and len(log.written) > 3 * len(log.log)
    for kind in ("|e|", "|d|", "|c|", "|u|"):  # all of it was exercised, deletions included
        assert any(v is None and kind in k for k, v in log.written), kind


def test_a_batch_saves_only_the_buckets_it_changed_until_the_chunk_is_saved_whole():
    c, log = PartitionCounter(CFG), Changelog()
    entries = log.save(c, c.apply_batch([ev(T0, 0), ev(T0 + 6 * MINUTE_MS, 1)]), 1)
    assert [k for k, _ in entries if "|u|" in k or "|c|" in k] == [
        state.chunk_update_key(0, D1, T0, 1)
    ]
    for i in range(2, MAX_UPDATES + 1):
        entries = log.save(c, c.apply_batch([ev(T0 + i * MINUTE_MS, i)]), i)
        (value,) = [v for k, v in entries if "|u|" in k]
        assert value is not None and len(value) == 16  # one bucket: index, travellers, events, rev
    assert len(c.chunk_updates[(D1, T0)]) == MAX_UPDATES
    # One more batch: the chunk is saved whole, and only then are its updates deleted.
    writes = state.changed_entries(0, c, c.apply_batch([ev(T0 + 20 * MINUTE_MS, 99)]))
    assert [k for k, _ in writes.state if "|c|" in k or "|u|" in k] == [state.chunk_key(0, D1, T0)]
    assert sorted(k for k, v in writes.replaced if v is None and "|u|" in k) == sorted(
        k for k in log.chunk_keys() if "|u|" in k
    )
    assert (D1, T0) not in c.chunk_updates


def test_updates_left_behind_by_a_crash_before_their_deletion_change_nothing():
    c, log = PartitionCounter(CFG), Changelog()
    for i in range(MAX_UPDATES):
        run(c, log, [ev(T0 + i, i)])
    writes = state.changed_entries(0, c, c.apply_batch([ev(T0 + 1000, 50)]))
    for key, value in writes.state:  # the whole chunk saved, then the worker killed
        assert value is not None
        log.log[key] = value
    again = log.restored()
    assert again.days == c.days and again.chunk_offsets == c.chunk_offsets
    assert again.bucket(D1, T0) == (MAX_UPDATES + 1, MAX_UPDATES + 1, 0)
    # The stale updates are known, and deleted with the chunk's next whole save.
    assert sorted(again.chunk_updates[(D1, T0)]) == sorted(k for k, _ in writes.replaced)


def test_a_closed_day_is_saved_whole_and_its_updates_deleted():
    c, log = PartitionCounter(CFG), Changelog()
    run(c, log, [ev(T0 + DAY_MS - MINUTE_MS, 0)])
    run(c, log, [ev(T0 + DAY_MS - 30_000, 1)])
    assert len(c.chunk_updates[(D1, T0)]) == 2
    run(c, log, [ev(T0 + DAY_MS + 20 * MINUTE_MS, 2)])  # closes the first day
    assert (D1, T0) not in c.chunk_updates
    assert [k for k in log.chunk_keys() if f"|{T0}" in k] == [state.chunk_key(0, D1, T0)]
    assert_same_state(log.restored(), c)


def test_a_crash_part_way_through_a_batch_restores_a_prefix_and_replays_exactly():
    c, log = PartitionCounter(CFG), Changelog()
    run(c, log, [ev(T0, 0), ev(T0 + 1, 1, d=D2)])
    batch = [ev(T0 + 2, 2), ev(T0 + 3, 3, d=D2), ev(T0 + 4, 4)]
    writes = state.changed_entries(0, c, c.apply_batch(batch))
    d2_first = sorted(writes.state, key=lambda e: "nuijamaa" not in e[0])
    key, value = d2_first[0]
    assert value is not None
    log.log[key] = value
    again = log.restored()  # D2's update saved, D1's not, nor the meta
    r = again.apply_batch(batch)
    assert (r.counted, r.replayed, r.duplicates) == (2, 1, 0)
    assert again.days == c.days


def test_the_cap_on_remembered_ids_deletes_the_evicted_buckets_records():
    cfg = CounterConfig(bucket_ms=5 * MINUTE_MS, lateness_ms=10 * MINUTE_MS, dedupe_max_ids=3)
    c, log = PartitionCounter(cfg), Changelog()
    run(c, log, [ev(T0, 0), ev(T0 + 1, 1)])
    r = run(c, log, [ev(T0 + 5 * MINUTE_MS, 2), ev(T0 + 5 * MINUTE_MS + 1, 3)])
    assert r.evicted_ids == 2
    assert log.dedupe_keys() == {f"0|e|{T0 + 5 * MINUTE_MS}|2"}
    assert log.restored(cfg).seen_ids == c.seen_ids == {"vaalimaa|id-2": 2, "vaalimaa|id-3": 3}


def legacy_entries(counter: PartitionCounter) -> list[state.Entry]:
    """The dedupe records as the layout before wrote them: each crossing's whole id list."""
    return [
        (state.legacy_dedupe_key(0, crossing, start), json.dumps(ids).encode())
        for start, crossings in counter.dedupe.items()
        for crossing, ids in crossings.items()
    ]


def test_state_saved_by_the_layout_before_restores_and_drains_away():
    c = PartitionCounter(CFG)
    c.apply_batch([ev(T0, 0), ev(T0 + 1, 1, d=D2), ev(T0 + 6 * MINUTE_MS, 2)])
    c.next_offset = 3
    log = Changelog()
    old = [  # whole chunks, as the layout before saved every chunk
        (state.chunk_key(0, d, day), encode_whole(chunk, c.chunk_offsets[(d, day)]))
        for day, chunks in c.days.items()
        for d, chunk in chunks.items()
    ]
    for key, value in [*old, *legacy_entries(c), state.meta_entry(0, c, 2)]:
        assert value is not None
        log.log[key] = value
    assert not [k for k in log.log if "|e|" in k]

    upgraded = log.restored()
    assert upgraded.seen_ids == c.seen_ids
    assert upgraded.dedupe == c.dedupe
    # A retry of an id saved in the old layout, after the upgrade: a duplicate, not counted.
    r = run(upgraded, log, [ev(T0 + 7 * MINUTE_MS, 3, "id-1", d=D2), ev(T0 + 8 * MINUTE_MS, 4)])
    assert (r.duplicates, r.counted) == (1, 1)
    assert upgraded.bucket(D2, T0) == (1, 1, 0)
    # The old records are not rewritten; new ids go to new records next to them.
    assert f"0|e|{T0 + 5 * MINUTE_MS}|4" in log.log
    assert sorted(k for k in log.dedupe_keys() if "|d|" in k) == sorted(
        k for k, _ in legacy_entries(c)
    )
    # Once their buckets leave the dedupe memory, the old records are deleted too.
    run(upgraded, log, [ev(T0 + 3 * HOUR_MS, 5)])
    assert log.dedupe_keys() == {f"0|e|{T0 + 3 * HOUR_MS}|5"}
    assert log.restored().seen_ids == upgraded.seen_ids == {"vaalimaa|id-5": 5}


def test_a_leap_past_the_history_deletes_a_chunk_and_its_updates():
    cfg = CounterConfig(bucket_ms=5 * MINUTE_MS, lateness_ms=10 * MINUTE_MS, history_ms=DAY_MS)
    c, log = PartitionCounter(cfg), Changelog()
    run(c, log, [ev(T0, 0)])
    run(c, log, [ev(T0 + 1, 1)])
    assert len(log.chunk_keys()) == 2  # two updates, the day still open
    run(c, log, [ev(T0 + 5 * DAY_MS, 2)])  # one batch closes the day and expires it
    assert log.chunk_keys() == {state.chunk_update_key(0, D1, T0 + 5 * DAY_MS, 2)}
    assert_same_state(log.restored(cfg), c)


def test_a_closed_buckets_deltas_are_folded_into_one_record_per_crossing():
    c, log = PartitionCounter(CFG), Changelog()
    for i in range(5):  # five batches: five delta records of two crossings in the first bucket
        run(c, log, [ev(T0 + i, i, d=D1 if i % 2 else D2)])
    deltas = {k for k in log.dedupe_keys() if k.startswith(f"0|e|{T0}|")}
    assert len(deltas) == 5 > FOLD_FACTOR * 2
    # The bucket closes (event time past its end + lateness): one record per crossing, written
    # before the deltas are deleted.
    writes = state.changed_entries(0, c, c.apply_batch([ev(T0 + 16 * MINUTE_MS, 5)]))
    folded = [k for k, _ in writes.state if k.startswith(f"0|d|{T0}|")]
    assert sorted(folded) == [state.legacy_dedupe_key(0, x, T0) for x in ("nuijamaa", "vaalimaa")]
    assert {k for k, v in writes.replaced if v is None} == deltas
    log.apply([*writes.all, state.meta_entry(0, c, 5)])
    assert log.restored().seen_ids == c.seen_ids
    # A crash between the two steps: folded records and deltas side by side restore the same.
    both = Changelog()
    both.log = {**log.log, **{k: v for k, v in log.written if k in deltas and v is not None}}
    again = both.restored()
    assert again.seen_ids == c.seen_ids and again.dedupe == c.dedupe
    # A late event into the closed bucket: a delta again, folded again with the next save.
    r = run(c, log, [ev(T0 + 2, 6)])
    assert r.late == 1
    assert not [k for k in log.dedupe_keys() if k.startswith(f"0|e|{T0}|")]
    assert json.loads(log.log[state.legacy_dedupe_key(0, "vaalimaa", T0)]) == {
        "id-1": 1,
        "id-3": 3,
        "id-6": 6,
    }


def test_a_closed_bucket_with_few_records_keeps_its_deltas():
    c, log = PartitionCounter(CFG), Changelog()
    run(c, log, [ev(T0, 0), ev(T0 + 1, 1, d=D2)])
    run(c, log, [ev(T0 + 2, 2)])
    run(c, log, [ev(T0 + 16 * MINUTE_MS, 3)])  # closes the first bucket: 2 records, 2 crossings
    assert {k for k in log.dedupe_keys() if f"|{T0}|" in k} == {f"0|e|{T0}|0", f"0|e|{T0}|2"}
    assert log.restored().seen_ids == c.seen_ids
