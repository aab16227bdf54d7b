"""The project's exceptions: one root, narrower ones where callers act differently."""

from __future__ import annotations


class BorderSurgeError(Exception):
    """Root of every error border-surge raises on purpose."""

    retriable: bool = False


class ConfigError(BorderSurgeError):
    """Settings or the crossings config are invalid; the message says where."""


class TopicMismatchError(BorderSurgeError):
    """An existing topic does not have the partition count or configs the service needs."""


class BrokerUnavailableError(BorderSurgeError):
    """The broker did not answer in time."""

    retriable = True
