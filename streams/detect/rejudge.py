"""Re-judging the windows a late correction changes, without counting any window twice.

A correction (a bucket published again with more travellers after detection judged it) can
change the verdict on every window that holds the bucket, and through the lifecycle's count
of consecutive windows, on every window after those. Stepping the lifecycle again with the
corrected windows on top of its current state would count them twice (two qualifying windows
in a row would be three). So the detector is set back to its checkpoint from before the
first window that holds the bucket and judges again, on the corrected history, exactly the
windows it had judged since (streams/detect/judged_log.py).

Messages already sent cannot be taken back, so the replay is adopted only if it agrees with
them: the messages sent since the checkpoint must be the first messages the replay produces
(same alert ids, statuses and severities, in the same order). Then the replay's further
messages are sent, with the ids and windows they would have had if the bucket had come on time,
and the detector goes on from the replay's state. Otherwise (the replay would open the episode
at another window, or not resolve one that was resolved) what was sent stands and only the
history is corrected. A replay that changes nothing sends nothing.
"""

from __future__ import annotations

from typing import Any, Protocol

from streams.detect.judged_log import JudgedLog, Sent, sent_key
from streams.detect.transitions import AlertTransition


class Rejudgeable(Protocol):
    """What re-judging needs of a subject's detector."""

    log: JudgedLog

    def saved(self) -> Any:
        """Everything judging changes, to put back as it was (in memory only)."""
        ...

    def put_back(self, saved: Any) -> None: ...

    def restore_judging(self, state: dict[str, Any]) -> None:
        """Set the judging state to a checkpoint's."""
        ...

    def judge_window(self, end: int) -> list[AlertTransition]:
        """Judge the window ending at `end` and note it in `log`."""
        ...


def messages_to_send(
    sent: list[Sent], replayed: list[AlertTransition]
) -> list[AlertTransition] | None:
    """The replay's messages that have not gone out yet, or None if the replay disagrees with
    what went out (then it is not adopted)."""
    if [sent_key(t) for t in replayed[: len(sent)]] != sent:
        return None
    return replayed[len(sent) :]


def rejudge(det: Rejudgeable, bucket_start_ms: int, bucket_ms: int) -> list[AlertTransition]:
    """Judge again every window judged since the checkpoint before the corrected bucket;
    adopt the replay if it agrees with the messages sent. Returns the messages to send."""
    found = det.log.checkpoint_at_or_before(bucket_start_ms)
    if found is None:  # older than the horizon (or than the first checkpoint): history only
        return []
    start, state = found
    ends = det.log.judged_after(start, bucket_ms)
    sent = det.log.sent_after(start)
    before = det.saved()
    det.restore_judging(state)
    det.log = det.log.until(start)
    replayed: list[AlertTransition] = []
    for end in ends:
        replayed.extend(det.judge_window(end))
    to_send = messages_to_send(sent, replayed)
    if to_send is None:
        det.put_back(before)
        return []
    return to_send
