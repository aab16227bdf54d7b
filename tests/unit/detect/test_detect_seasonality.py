"""No false alerts on five weeks of strongly seasonal normal traffic at twenty posts."""

from __future__ import annotations

import random

from streams.detect import State, SubjectDetector, Thresholds
from tests.unit.detect.test_detect_sim import BUCKET_MS, START_MS, Post


def test_five_weeks_of_daily_and_weekly_rhythm_at_twenty_posts_raise_no_alert() -> None:
    # Posts from 20 to 3,000 travellers an hour on weekday afternoons (nights a fifth, weekends
    # shaped differently), with no, some or many buses: 201,600 evaluations.
    th = Thresholds()
    alerts = []
    pending = 0
    for s in range(20):
        rng = random.Random(1_000 + s)
        post = Post(20 * 150 ** (s / 19), bus_share=(0.0, 0.003, 0.01)[s % 3])
        det = SubjectDetector(f"post-{s}:RU-GE", th)
        for i in range(5 * 2016):
            t = START_MS + i * BUCKET_MS
            alerts += det.on_bucket_closed(t, *post.bucket(rng, t))
            pending += det.state is State.PENDING
        assert det.state is State.OK
    assert alerts == []
    assert pending == 0
