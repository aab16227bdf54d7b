"""Service settings: one frozen object read from BORDER_SURGE_* environment variables."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Everything configurable, with defaults that work on a laptop (see README, Settings)."""

    model_config = SettingsConfigDict(env_prefix="BORDER_SURGE_", frozen=True, extra="ignore")

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
    idle_close_seconds: float = Field(
        60.0, gt=0, description="Wall time a partition may be idle before its buckets close anyway."
    )
    future_tolerance_seconds: int = Field(
        900, ge=0, description="How far occurred_at may be ahead of the record's append time."
    )
    session_timeout_seconds: float = Field(
        10.0, ge=6, le=300, description="How soon a crashed worker's partitions move on."
    )
    batch_size: int = Field(2000, ge=1, le=100_000)
    batch_seconds: float = Field(0.2, gt=0, le=10)

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
