"""The batch channel's own offset bookkeeping (Faust's can stall after a rebalance)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streams.kafka.offsets import Progress


@dataclass(frozen=True)
class M:
    tp: str
    offset: int


def msgs(tp: str, *offsets: int) -> list[M]:
    return [M(tp, o) for o in offsets]


def test_commits_the_offset_after_the_last_done_record_per_partition() -> None:
    p = Progress()
    p.done(msgs("a", 5, 6, 7) + msgs("b", 40))
    assert p.take() == {"a": 8, "b": 41}
    assert p.take() == {}  # nothing moved since


def test_never_moves_backwards() -> None:
    p = Progress()
    p.done(msgs("a", 10, 11))
    p.take()
    p.done(msgs("a", 3, 4))  # a replay after a seek back: already done
    assert p.take() == {}
    p.done(msgs("a", 12))
    assert p.take() == {"a": 13}


def test_stops_before_the_first_record_left_for_later() -> None:
    p = Progress()
    batch = msgs("a", 1, 2, 5, 6) + msgs("b", 9)
    p.done(batch, left=[batch[2], batch[3]])  # a gap before 5: those come again
    assert p.take() == {"a": 3, "b": 10}


def test_a_partition_whose_records_were_all_left_does_not_move() -> None:
    p = Progress()
    batch = msgs("a", 7, 8)
    p.done(batch, left=batch)
    assert p.take() == {}


def test_forgotten_partitions_start_again_from_what_kafka_has() -> None:
    p = Progress()
    p.done(msgs("a", 100) + msgs("b", 7))
    p.forget({"a"})
    assert p.take() == {"b": 8}
    p.done(msgs("a", 50))  # owned again, from an older committed offset: it moves
    assert p.take() == {"a": 51}


class _Counter:
    def __init__(self, next_offset: int | None) -> None:
        self.next_offset = next_offset


def in_order(next_offset: int | None, offsets: list[int]) -> tuple[list[int], list[int]]:
    from streams.count.agent import Counting

    todo, later = Counting._in_order(None, _Counter(next_offset), msgs("p", *offsets))  # type: ignore[arg-type]
    return [m.offset for m in todo], [m.offset for m in later]


def test_records_fetched_again_after_a_seek_back_are_counted_although_they_arrive_last() -> None:
    # 10..12 were fetched before the seek back to 5; 5..9 came again behind them.
    assert in_order(5, [10, 11, 12, 5, 6, 7, 8, 9]) == ([5, 6, 7, 8, 9, 10, 11, 12], [])


def test_a_gap_leaves_the_rest_for_later_and_copies_are_counted_once() -> None:
    assert in_order(5, [3, 5, 5, 6, 9, 10]) == ([5, 6], [9, 10])
    assert in_order(None, [7, 7, 8]) == ([7, 8], [])


class _Consumer:
    def __init__(self, tps: set[str]) -> None:
        self.tps = tps
        self.commits: list[dict[str, int]] = []

    def assignment(self) -> set[str]:
        return self.tps

    async def _commit(self, offsets: dict[str, int]) -> bool:
        self.commits.append(dict(offsets))
        return True


def channel(consumer: _Consumer, batch_size: int = 3) -> Any:
    from types import SimpleNamespace

    from streams.kafka.batch_channel import BatchChannel

    app = SimpleNamespace(conf=SimpleNamespace(broker_commit_interval=3600.0), consumer=consumer)
    topic = SimpleNamespace(topics=("t",), acks=False)
    return BatchChannel(app, topic, handler=None, batch_size=batch_size, batch_seconds=0.1)  # type: ignore[arg-type]


async def test_commits_every_batch_size_records_not_only_by_the_clock() -> None:
    # After a crash, ingest sends again what it had not committed; counting's dedupe memory
    # (hours of event time) must still hold those ids, so the count bounds what is re-sent.
    consumer = _Consumer({"a"})
    ch = channel(consumer)
    ch.commits.progress.done(msgs("a", 0))
    ch.commits.done_since_commit = 1
    await ch.commits.maybe_commit()  # the first progress goes at once
    assert consumer.commits == [{"a": 1}]
    ch.commits.progress.done(msgs("a", 1, 2))
    ch.commits.done_since_commit = 2
    await ch.commits.maybe_commit()  # 2 < batch_size, and an hour to the next interval: not yet
    assert len(consumer.commits) == 1
    ch.commits.progress.done(msgs("a", 3))
    ch.commits.done_since_commit = 3
    await ch.commits.maybe_commit()
    assert consumer.commits[-1] == {"a": 4}
    assert ch.commits.committed == {"a": 4}


async def test_commits_only_partitions_still_held() -> None:
    consumer = _Consumer({"a"})
    ch = channel(consumer)
    ch.commits.progress.done(msgs("a", 0) + msgs("b", 5))
    await ch.commits.commit()
    assert consumer.commits == [{"a": 1}]


class _NotStarted:
    """Faust's consumer before its thread has started: asking it anything raises."""

    def assignment(self) -> set[str]:
        from faust.exceptions import ConsumerNotStarted

        raise ConsumerNotStarted("Consumer thread not yet started")


async def test_the_first_idle_commit_before_the_consumer_started_is_harmless() -> None:
    # A channel's loop starts before Faust's consumer thread; its first idle timeout commits
    # (the first commit is due at once). It crashed the worker in a soak run under load.
    ch = channel(_NotStarted())  # type: ignore[arg-type]
    await ch.commits.maybe_commit()
    assert ch.commits.committed == {}


def test_a_failed_commit_is_taken_again() -> None:
    """Without a retry, a partition that receives nothing more would stay uncommitted, and
    ingest would never call it idle (its watermarks wait for the commit)."""
    p = Progress()
    p.done(msgs("a", 1, 2) + msgs("b", 7))
    moved = p.take()
    p.again(moved)
    assert p.take() == {"a": 3, "b": 8}
    p.done(msgs("a", 3))
    stale = {"a": 3}  # a commit of "a" that failed after "a" moved on
    p.again(stale)
    assert p.take() == {"a": 4}  # the newer offset, once
