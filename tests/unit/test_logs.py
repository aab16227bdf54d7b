"""Log output: JSON lines with context, and no credential ever written or shown."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.kafka.clients import faust_credentials
from streams.logs import logging_config
from streams.settings import Settings

PASSWORD = "s3cr3t-Pa55word-7f9c"
AM_PASSWORD = "am-pw-0d1e2f"


@pytest.fixture
def capture() -> Iterator[io.StringIO]:
    """The root logger configured by logging_config, writing to a buffer; restored afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    buffer = io.StringIO()
    yield buffer
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def configure(settings: Settings, buffer: io.StringIO) -> None:
    config = logging_config(settings)
    logging.config.dictConfig(config)
    logging.getLogger().handlers[0].setStream(buffer)  # type: ignore[attr-defined]


def sasl_settings(**extra: object) -> Settings:
    return Settings(
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="counter",
        sasl_password=PASSWORD,
        alertmanager_url="http://127.0.0.1:9093",
        alertmanager_username="bridge",
        alertmanager_password=AM_PASSWORD,
        **extra,  # type: ignore[arg-type]
    )


def test_json_format_is_one_object_per_line_with_record_context(capture: io.StringIO) -> None:
    configure(Settings(log_format="json"), capture)
    log = logging.getLogger("streams.ingest.agent")
    log.warning(
        "bad record at %s[%d]@%d",
        "b.events",
        2,
        41,
        extra={"topic": "b.events", "partition": 2, "offset": 41},
    )
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        log.exception("failed")
    lines = capture.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "WARNING" and first["logger"] == "streams.ingest.agent"
    assert first["message"] == "bad record at b.events[2]@41"
    assert (first["topic"], first["partition"], first["offset"]) == ("b.events", 2, 41)
    assert first["time"].endswith("Z") and first["time"][:2] == "20"
    assert second["level"] == "ERROR" and "ValueError: boom" in second["exception"]
    assert "topic" not in second


def test_text_format_is_the_plain_line(capture: io.StringIO) -> None:
    configure(Settings(), capture)
    logging.getLogger("x").info("hello %s", "world")
    assert capture.getvalue().rstrip().endswith("INFO x hello world")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_credentials_never_reach_the_log(capture: io.StringIO, fmt: str) -> None:
    settings = sasl_settings(log_format=fmt)
    configure(settings, capture)
    log = logging.getLogger("streams.test")
    # Whatever a library or a careless call puts in a message, extra or traceback is masked.
    log.info("connecting with %s", settings.sasl_password.get_secret_value())  # type: ignore[union-attr]
    log.info("settings: %r", settings)
    log.warning("ctx", extra={"topic": f"t-{AM_PASSWORD}"})
    try:
        raise RuntimeError(f"auth failed for {PASSWORD}")
    except RuntimeError:
        log.exception("failed")
    out = capture.getvalue()
    assert PASSWORD not in out and AM_PASSWORD not in out
    assert "***" in out and "failed" in out


def test_credentials_never_in_repr_of_settings_or_client_objects(tmp_path: Path) -> None:
    settings = sasl_settings(data_dir=tmp_path)
    shown = [repr(settings), str(settings), settings.model_dump_json(), repr(settings.model_dump())]
    shown.append(repr(faust_credentials(settings)))
    for text in shown:
        assert PASSWORD not in text and AM_PASSWORD not in text
    assert "counter" in repr(faust_credentials(settings))  # the username is fine to show


def test_alertmanager_url_with_credentials_is_refused() -> None:
    with pytest.raises(ValueError, match="must not contain credentials") as refused:
        Settings(alertmanager_url=f"http://bridge:{AM_PASSWORD}@127.0.0.1:9093")
    assert AM_PASSWORD not in str(refused.value)
    assert Settings(alertmanager_url="").alertmanager_url is None
    assert Settings(alertmanager_url="http://127.0.0.1:9093/").alertmanager_url == (
        "http://127.0.0.1:9093"
    )
