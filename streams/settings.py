"""Service settings: one frozen object read from BORDER_SURGE_* environment variables."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Everything configurable, with defaults that work on a laptop (see README, Settings)."""

    # Inputs are left out of validation errors: a mistyped URL may carry a credential.
    model_config = SettingsConfigDict(
        env_prefix="BORDER_SURGE_", frozen=True, extra="ignore", hide_input_in_errors=True
    )

    broker: str = Field("kafka://127.0.0.1:9092", description="Kafka bootstrap URL(s).")
    topic_prefix: str = Field("border", pattern=r"^[A-Za-z0-9._-]{1,100}$")
    app_id: str = Field("border-surge", pattern=r"^[A-Za-z0-9._-]{1,100}$")
    web_host: str = "127.0.0.1"
    web_port: int = Field(6066, ge=0, le=65535)
    data_dir: Path = Path(".data")
    config: Path | None = Field(None, description="Crossings config (TOML).")

    partitions: int = Field(6, ge=1, le=1024, description="Partitions of the service's topics.")
    bucket_seconds: int = Field(300, ge=10, le=86400)
    lateness_seconds: int = Field(600, ge=0, le=7 * 86400)
    window_minutes: Annotated[tuple[int, ...], NoDecode] = Field(
        (60, 1440), description="Rolling windows, first alerts."
    )
    history_days: int = Field(35, ge=1, le=400)
    dedupe_hours: int = Field(24, ge=1, le=24 * 30)
    dedupe_max_ids: int = Field(
        1_000_000,
        ge=1000,
        le=100_000_000,
        description="Event ids remembered per partition at most (about 150 bytes each).",
    )
    idle_close_seconds: float = Field(
        60.0, gt=0, description="Wall time a partition may be idle before its buckets close anyway."
    )
    future_tolerance_seconds: int = Field(
        900, ge=0, description="How far occurred_at may be ahead of the record's append time."
    )
    session_timeout_seconds: float = Field(
        10.0, ge=6, le=300, description="How soon a crashed worker's partitions move on."
    )
    group_instance_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9._-]{1,200}$",
        description="Static group membership: a worker restarted with the same id takes its "
        "partitions back at once instead of after the session timeout. Unique per worker.",
    )
    batch_size: int = Field(2000, ge=1, le=100_000)
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field(
        "lz4",
        description="Codec of the service's own producers. Input in any of the five is read.",
    )
    lz4_level: int = Field(
        1,
        ge=0,
        le=16,
        description="lz4 level of the service's producers (aiokafka's own is 9): level 1 "
        "compresses a batch in about a tenth of the time, for 17-30% more bytes.",
    )
    batch_seconds: float = Field(0.2, gt=0, le=10)

    dashboard_refresh_seconds: float = Field(
        3.0, ge=0.5, le=300, description="How often the dashboard page polls the API."
    )
    dashboard_alert_lookback: int = Field(
        1000, ge=0, le=1_000_000, description="Offsets of the alerts topic per partition read back."
    )
    dashboard_alert_episodes: int = Field(
        1000, ge=10, le=100_000, description="Alert episodes the dashboard keeps in memory."
    )

    log_level: str = "INFO"
    events_topic_name: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9._-]{1,249}$",
        description="Input topic, when not <prefix>.events (benchmarks read a pre-loaded one).",
    )

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None

    # Observability: log format and the optional Alertmanager bridge (README, Observability).
    log_format: Literal["text", "json"] = Field("text", description="json: one object per line.")
    alertmanager_url: str | None = Field(
        None, description="Alertmanager base URL (http://host:9093); unset: no bridge."
    )
    alertmanager_username: str | None = None
    alertmanager_password: SecretStr | None = None
    alertmanager_repost_seconds: float = Field(
        60.0, gt=0, le=3600, description="Firing alerts are posted again this often."
    )
    alertmanager_max_outage_seconds: float = Field(
        86_400.0, gt=0, description="How long an alert is retried before it is given up."
    )
    alertmanager_backoff_max_seconds: float = Field(60.0, gt=0, le=3600)
    alertmanager_timeout_seconds: float = Field(10.0, gt=0, le=300)

    @field_validator("alertmanager_url")
    @classmethod
    def _alertmanager_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("alertmanager_url must look like http://host:9093")
        if parts.username or parts.password:
            # The URL is logged and shown; credentials belong in the _USERNAME/_PASSWORD settings.
            raise ValueError(
                "alertmanager_url must not contain credentials; "
                "use BORDER_SURGE_ALERTMANAGER_USERNAME and _PASSWORD"
            )
        return value.strip().rstrip("/")

    @field_validator("window_minutes", mode="before")
    @classmethod
    def _split_windows(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(int(part) for part in value.replace(",", " ").split())
        return value

    @field_validator("window_minutes")
    @classmethod
    def _windows_are_whole_buckets(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(v <= 0 for v in value):
            raise ValueError("window_minutes needs at least one positive number of minutes")
        return value

    @property
    def compression_type(self) -> str | None:
        """The codec as aiokafka and Faust name it (None for no compression)."""
        return None if self.compression == "none" else self.compression

    @cached_property
    def bootstrap_servers(self) -> str:
        """The broker URL(s) as aiokafka wants them: host:port[,host:port]."""
        return ",".join(
            part.strip().removeprefix("kafka://") for part in self.broker.split(";") if part.strip()
        )

    def topic(self, suffix: str) -> str:
        return f"{self.topic_prefix}.{suffix}"

    @property
    def events_topic(self) -> str:
        return self.events_topic_name or self.topic("events")

    @property
    def alerts_topic(self) -> str:
        return self.topic("alerts")

    @property
    def counts_topic(self) -> str:
        return self.topic("counts")

    @property
    def dlq_topic(self) -> str:
        return self.topic("events.dlq")


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (tests, CLI flags) on top."""
    return Settings(**overrides)  # type: ignore[arg-type]
