"""Pure, seeded generation of simulated border-crossing messages, in the order they are sent."""

from __future__ import annotations

import heapq
import json
import math
import random
from bisect import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate
from typing import Literal, NamedTuple

from streams.simulate.lanes import Lane, lanes
from streams.simulate.scenario import DirectionKey, Scenario

Kind = Literal["event", "duplicate", "late", "malformed"]
KINDS: tuple[Kind, ...] = ("event", "duplicate", "late", "malformed")
COUNTED_KINDS: frozenset[Kind] = frozenset({"event", "late"})
"""Kinds the service should count; a duplicate repeats an event, a malformed one is rejected."""


class SimMessage(NamedTuple):
    """One Kafka record to send; the other fields are for bookkeeping, not sent."""

    key: bytes | None
    value: bytes
    kind: Kind
    event_time_ms: int
    """The event's occurred_at (for malformed ones, the time of the event sent before it)."""
    travellers: int
    crossing_id: str
    from_country: str
    to_country: str


@dataclass(frozen=True)
class ExpectedTotals:
    travellers_mean: float
    events_mean: float
    """Groups: Poisson, so this is also their variance."""
    travellers_variance: float
    """Compound Poisson: events_mean x E[group size^2]."""


def expected_totals(
    scenario: Scenario, *, since: datetime | None = None, until: datetime | None = None
) -> dict[DirectionKey, ExpectedTotals]:
    """Mean travellers and events per direction (optionally in [since, until)), from the rates."""
    first = 0 if since is None else _minute_index(scenario, since)
    last = scenario.minutes if until is None else _minute_index(scenario, until)
    totals = {}
    for lane in lanes(scenario):
        groups = math.fsum(lane.rates[max(first, 0) : max(last, 0)])
        totals[lane.key] = ExpectedTotals(
            travellers_mean=groups * lane.mean_size,
            events_mean=groups,
            travellers_variance=groups * lane.mean_size_squared,
        )
    return totals


def _minute_index(scenario: Scenario, t: datetime) -> int:
    return math.ceil((t - scenario.start).total_seconds() / 60)


def poisson(rnd: Callable[[], float], lam: float) -> int:
    """A Poisson(lam) draw from uniform draws ``rnd()`` in [0, 1)."""
    if lam < 10:
        # Inversion by sequential search: about lam + 1 steps.
        u = rnd()
        k = 0
        p = math.exp(-lam)
        cdf = p
        while u > cdf:
            k += 1
            p *= lam / k
            if p < 1e-17:  # u is in the last few ulps below 1: the tail is exhausted
                break
            cdf += p
        return k
    return _ptrs(rnd, lam)


def _ptrs(rnd: Callable[[], float], lam: float) -> int:
    # Hoermann (1993), "The transformed rejection method for generating Poisson random
    # variables", algorithm PTRS; valid for lam >= 10.
    slam = math.sqrt(lam)
    loglam = math.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
    v_r = 0.9277 - 3.6224 / (b - 2)
    while True:
        u = rnd() - 0.5
        v = rnd()
        us = 0.5 - abs(u)
        k = math.floor((2 * a / us + b) * u + lam + 0.43)
        if us >= 0.07 and v <= v_r:
            return k
        if k < 0 or (us < 0.013 and v > us):
            continue
        if math.log(v) + math.log(inv_alpha) - math.log(a / (us * us) + b) <= (
            -lam + k * loglam - math.lgamma(k + 1)
        ):
            return k


class _Out(NamedTuple):
    """A lane's precomputed pieces of JSON and cumulative probabilities."""

    key: bytes
    crossing: int
    after_id: str
    after_time: str
    group_cdf: list[float]
    group_text: list[str]
    group_size: list[int]
    nationality_cdf: list[float]
    nationality_text: list[str]
    lane: Lane


def _outputs(all_lanes: list[Lane]) -> list[_Out]:
    crossings = sorted({lane.key[0] for lane in all_lanes})
    result = []
    for lane in all_lanes:
        crossing_id, from_country, to_country = lane.key
        nationalities = [
            "" if code is None else f',"nationality":"{code}"' for code, _ in lane.nationalities
        ]
        result.append(
            _Out(
                key=crossing_id.encode(),
                crossing=crossings.index(crossing_id),
                after_id=f'","crossing_id":"{crossing_id}","occurred_at":"',
                after_time=(
                    f'","from_country":"{from_country}","to_country":"{to_country}","travellers":'
                ),
                group_cdf=_cdf([p for _, _, p in lane.groups]),
                group_text=[f'{size},"mode":"{mode}"' for mode, size, _ in lane.groups],
                group_size=[size for _, size, _ in lane.groups],
                nationality_cdf=_cdf([p for _, p in lane.nationalities]),
                nationality_text=nationalities,
                lane=lane,
            )
        )
    return result


def _cdf(probabilities: list[float]) -> list[float]:
    # Normalised, and without the final 1.0, so bisect(cdf, u) is always a valid index.
    total = sum(probabilities)
    return [c / total for c in accumulate(probabilities)][:-1]


# "SS.mmmZ" for every millisecond of a minute: formatting time is most of the cost otherwise.
_MINUTE_SUFFIX = [f"{ms // 1000:02d}.{ms % 1000:03d}Z" for ms in range(60_000)]


def generate(scenario: Scenario, *, seed: int | None = None) -> Iterator[SimMessage]:
    """Every message of ``scenario`` in send order; the same seed gives the same messages.

    Groups arrive as a Poisson process, drawn minute by minute per direction and spread
    uniformly within the minute. A duplicate is sent again a little later; a late event is held
    back until its own crossing has sent an event ``late_delay_minutes`` after it; a malformed
    message is an extra, broken record next to a real one. The three are exclusive per group.
    """
    seed = scenario.seed if seed is None else seed
    rnd = random.Random(seed).random
    faults = scenario.faults
    p_dup = faults.duplicate_fraction
    p_late = p_dup + faults.late_fraction
    p_bad = p_late + faults.malformed_fraction
    dup_low, dup_high = (s * 1000 for s in faults.duplicate_delay_seconds)
    late_low, late_high = (m * 60_000 for m in faults.late_delay_minutes)
    allowance_ms = faults.lateness_allowance_minutes * 60_000

    outs = _outputs(lanes(scenario))
    lane_bits = max(len(outs) - 1, 1).bit_length()
    lane_mask = (1 << lane_bits) - 1
    rates = [out.lane.rates for out in outs]
    id_prefix = f'{{"event_id":"{scenario.name}-{seed}-'
    start_ms = int(scenario.start.timestamp() * 1000)
    end_ms = start_ms + scenario.minutes * 60_000

    duplicates: list[tuple[float, int, SimMessage]] = []  # heap by release time
    held: list[list[tuple[float, int, SimMessage]]] = [[] for _ in range(len(outs))]
    last_sent = [start_ms - 1] * len(outs)  # latest event time sent, per crossing index
    n = 0

    for minute in range(scenario.minutes):
        arrivals = []
        for index, lane_rates in enumerate(rates):
            lam = lane_rates[minute]
            if lam > 0.0:
                for _ in range(poisson(rnd, lam)):
                    arrivals.append(int(rnd() * 60_000) << lane_bits | index)
        if not arrivals:
            continue
        arrivals.sort()
        minute_ms = start_ms + minute * 60_000
        stamp = _minute_prefix(minute_ms)

        for arrival in arrivals:
            offset = arrival >> lane_bits
            out = outs[arrival & lane_mask]
            t = minute_ms + offset
            while duplicates and duplicates[0][0] <= t:
                yield heapq.heappop(duplicates)[2]

            g = bisect(out.group_cdf, rnd())
            size = out.group_size[g]
            n += 1
            value = (
                f"{id_prefix}{n:08d}{out.after_id}{stamp}{_MINUTE_SUFFIX[offset]}"
                f"{out.after_time}{out.group_text[g]}"
                f"{out.nationality_text[bisect(out.nationality_cdf, rnd())]}"
                ',"schema_version":1}'
            ).encode()
            crossing_id, from_country, to_country = out.lane.key
            u = rnd()
            if p_dup <= u < p_late:
                delay = late_low + (late_high - late_low) * rnd()
                if t + delay < end_ms:
                    late = SimMessage(
                        out.key, value, "late", t, size, crossing_id, from_country, to_country
                    )
                    heapq.heappush(held[out.crossing], (t + delay, n, late))
                    continue
            message = SimMessage(
                out.key, value, "event", t, size, crossing_id, from_country, to_country
            )
            yield message
            last_sent[out.crossing] = t
            if u < p_dup:
                delay = dup_low + (dup_high - dup_low) * rnd()
                heapq.heappush(duplicates, (t + delay, n, message._replace(kind="duplicate")))
            elif p_late <= u < p_bad:
                yield _malformed(rnd, out, t, f"{scenario.name}-{seed}-bad{n:08d}", stamp)
            # Released only now, behind an event of the same crossing (so the same key and
            # partition) that is at least the delay later: late for the service, surely.
            waiting = held[out.crossing]
            while waiting and waiting[0][0] <= t:
                yield heapq.heappop(waiting)[2]

    # Held events whose crossing went quiet: still late unless no later event of theirs was sent.
    rest = duplicates + [
        (due, seq, m if last_sent[c] > m.event_time_ms + allowance_ms else m._replace(kind="event"))
        for c, waiting in enumerate(held)
        for due, seq, m in waiting
    ]
    for _, _, message in sorted(rest, key=lambda item: item[:2]):
        yield message


def _minute_prefix(minute_ms: int) -> str:
    return datetime.fromtimestamp(minute_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:")


_BAD_COUNTRIES = ("RUS", "ru", "R1", "", "XX")
_REQUIRED = ("event_id", "crossing_id", "occurred_at", "from_country", "to_country", "travellers")


def _malformed(
    rnd: Callable[[], float], out: _Out, t: int, event_id: str, stamp: str
) -> SimMessage:
    """A broken record shaped like an event of ``out``'s direction (rare, so plain json)."""
    crossing_id, from_country, to_country = out.lane.key
    record: dict[str, object] = {
        "event_id": event_id,
        "crossing_id": crossing_id,
        "occurred_at": stamp + _MINUTE_SUFFIX[t % 60_000],
        "from_country": from_country,
        "to_country": to_country,
        "travellers": out.group_size[bisect(out.group_cdf, rnd())],
        "mode": "car",
        "schema_version": 1,
    }
    flaw = int(rnd() * 5)
    if flaw == 1:
        del record[_REQUIRED[int(rnd() * len(_REQUIRED))]]
    elif flaw == 2:
        side = "from_country" if rnd() < 0.5 else "to_country"
        record[side] = _BAD_COUNTRIES[int(rnd() * len(_BAD_COUNTRIES))]
    elif flaw == 3:
        record["travellers"] = 0
    value = json.dumps(record, separators=(",", ":")).encode()
    if flaw == 0:
        value = value[: 1 + int(rnd() * (len(value) - 2))]  # truncated: never closes the object
    elif flaw == 4:
        value = value.replace(b'"crossing_id":"', b'"crossing_id":"\xff\xfe', 1)
    return SimMessage(out.key, value, "malformed", t, 0, crossing_id, from_country, to_country)
