"""What a stage needs from the worker hosting it: the interface stages import, not app.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import faust

    from streams.kafka.batch_channel import BatchChannel
    from streams.kafka.outbox import Outbox
    from streams.metrics import Metrics
    from streams.settings import Settings


class Worker(Protocol):
    """The Faust app, its topics and the shared outbox (`streams.app.Service` implements it)."""

    settings: Settings
    metrics: Metrics
    app: faust.App
    events_topic: Any
    keyed_topic: Any
    keyed_topic_name: str
    border_topic: Any
    border_topic_name: str
    changelog_topic_name: str

    @property
    def outbox(self) -> Outbox: ...

    def batch_channel(
        self,
        topic: Any,
        handler: Callable[..., Awaitable[Any]],
        *,
        with_skips: bool = False,
        on_revoke: Any = None,
        loss_point: str | None = None,
        commit_point: str | None = None,
        commit_every_batch: bool = False,
        after_commit: Any = None,
    ) -> BatchChannel: ...
