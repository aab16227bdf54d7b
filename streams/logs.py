"""Log output: plain text or one JSON object per line, with every configured secret masked."""

from __future__ import annotations

import json
import logging
import logging.config
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from streams.settings import Settings

MASK = "***"
# Record attributes a log call may pass as `extra` that belong in the JSON object.
CONTEXT_FIELDS = ("topic", "partition", "offset", "alert_id", "crossing_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def secrets_of(settings: Settings) -> list[str]:
    """Every credential the settings hold, as text to mask wherever it would be written."""
    values = [settings.sasl_password, settings.alertmanager_password]
    return [s for v in values if v is not None and (s := v.get_secret_value())]


class _Redacting:
    secrets: tuple[str, ...] = ()

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


class TextFormatter(_Redacting, logging.Formatter):
    def __init__(self, secrets: Iterable[str] = (), fmt: str = TEXT_FORMAT) -> None:
        super().__init__(fmt)
        self.secrets = tuple(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


class JsonFormatter(_Redacting, logging.Formatter):
    """One JSON object per line: time, level, logger, message, context, exception."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(secrets)

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, tz=UTC)
        doc: dict[str, Any] = {
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.redact(record.getMessage()),
        }
        for name in CONTEXT_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                doc[name] = value if isinstance(value, int) else self.redact(str(value))
        if record.exc_info:
            doc["exception"] = self.redact(self.formatException(record.exc_info))
        elif record.stack_info:
            doc["stack"] = self.redact(self.formatStack(record.stack_info))
        return json.dumps(doc, ensure_ascii=False)


def logging_config(settings: Settings) -> dict[str, Any]:
    """A dictConfig for the root logger; given to Faust's worker too, which installs its own."""
    formatter = JsonFormatter if settings.log_format == "json" else TextFormatter
    level = settings.log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": formatter, "secrets": secrets_of(settings)}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level, "handlers": ["default"]},
    }


def setup_logging(settings: Settings) -> None:
    logging.config.dictConfig(logging_config(settings))
