"""Scenario files for the traffic simulator: the TOML model and loading by name."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from schemas.countries import COUNTRY_CODES
from streams.errors import ConfigError

_PACKAGE = "streams.scenarios"
# Placeholders in a nationality mix for the direction's own countries, so one default mix fits
# every direction ("from" = RU on RU->KZ, KZ on KZ->RU).
_NATIONALITY_PLACEHOLDERS = ("from", "to")


class ScenarioError(ConfigError):
    """A scenario file cannot be found, read or validated; the message names the file and key."""


def _country(value: str) -> str:
    if value not in COUNTRY_CODES:
        raise ValueError(f"{value!r} is not an assigned ISO 3166-1 alpha-2 code in upper case")
    return value


def _positive_sum(values: list[float]) -> list[float]:
    if sum(values) <= 0:
        raise ValueError("at least one weight must be positive")
    return values


CrossingId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
Country = Annotated[str, AfterValidator(_country)]
Mode = Literal["pedestrian", "car", "bus", "truck", "train", "other"]
Weight = Annotated[float, Field(ge=0, allow_inf_nan=False)]
HourProfile = Annotated[
    list[Weight], Field(min_length=24, max_length=24), AfterValidator(_positive_sum)
]
WeekdayProfile = Annotated[
    list[Weight], Field(min_length=7, max_length=7), AfterValidator(_positive_sum)
]
"""Monday first."""
Fraction = Annotated[float, Field(ge=0, le=1)]
DirectionKey = tuple[str, str, str]
"""(crossing_id, from_country, to_country)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GroupMix(_Model):
    """One kind of group: its share of groups and a size drawn uniformly from min..max."""

    mode: Mode
    weight: float = Field(gt=0)
    min_size: int = Field(ge=1, le=1000)
    max_size: int = Field(ge=1, le=1000)

    @model_validator(mode="after")
    def _sizes_ordered(self) -> Self:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size {self.min_size} is above max_size {self.max_size}")
        return self


class Direction(_Model):
    from_country: Country
    to_country: Country
    daily_volume: float = Field(ge=0, allow_inf_nan=False, description="Travellers a day.")
    growth_per_month: float | None = Field(
        default=None, gt=-1, le=10, description="Relative growth per 30 days; None: the post's."
    )
    nationalities: dict[str, Weight] | None = None

    @model_validator(mode="after")
    def _countries_differ(self) -> Self:
        if self.from_country == self.to_country:
            raise ValueError(f"from_country and to_country are both {self.from_country}")
        return self


class Post(_Model):
    crossing_id: CrossingId
    name: str = ""
    utc_offset_hours: float = Field(default=0, ge=-12, le=14)
    directions: list[Direction] = Field(min_length=1)
    groups: list[GroupMix] | None = Field(default=None, min_length=1)
    hour_profile: HourProfile | None = None
    weekday_profile: WeekdayProfile | None = None
    # Relative growth of every direction per 30 days (0.15: +15% a month), compounded per
    # minute from the scenario's start; None: the scenario's.
    growth_per_month: float | None = Field(default=None, gt=-1, le=10)

    @model_validator(mode="after")
    def _directions_unique(self) -> Self:
        pairs = [(d.from_country, d.to_country) for d in self.directions]
        for pair in pairs:
            if pairs.count(pair) > 1:
                raise ValueError(f"direction {pair[0]}->{pair[1]} is listed twice")
        return self


class Surge(_Model):
    """A multiplier on arrivals: ramps linearly from 1 to factor, holds, then decays back."""

    name: str
    onset: AwareDatetime
    ramp_hours: float = Field(default=0, ge=0)
    factor: float = Field(gt=0)
    duration_hours: float | None = Field(
        default=None, gt=0, description="From onset; None = to the end."
    )
    decay_hours: float = Field(default=0, ge=0)
    crossings: list[CrossingId] = []
    from_country: Country | None = None
    to_country: Country | None = None

    def applies_to(self, key: DirectionKey) -> bool:
        crossing_id, from_country, to_country = key
        return (
            (not self.crossings or crossing_id in self.crossings)
            and self.from_country in (None, from_country)
            and self.to_country in (None, to_country)
        )

    def factor_at(self, hours: float) -> float:
        """The multiplier ``hours`` after onset (negative before it)."""
        if hours < 0:
            return 1.0
        if hours < self.ramp_hours:
            return 1 + (self.factor - 1) * hours / self.ramp_hours
        if self.duration_hours is None or hours < self.duration_hours:
            return self.factor
        after = hours - self.duration_hours
        if after < self.decay_hours:
            return self.factor + (1 - self.factor) * after / self.decay_hours
        return 1.0


class Faults(_Model):
    """Imperfections of the upstream feed, as fractions of the real events (groups)."""

    duplicate_fraction: Fraction = 0
    late_fraction: Fraction = 0
    malformed_fraction: Fraction = 0
    duplicate_delay_seconds: tuple[float, float] = (1, 120)
    late_delay_minutes: tuple[float, float] = (15, 60)
    lateness_allowance_minutes: float = Field(default=10, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.duplicate_fraction + self.late_fraction + self.malformed_fraction > 1:
            raise ValueError("duplicate, late and malformed fractions add up to more than 1")
        for name in ("duplicate_delay_seconds", "late_delay_minutes"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(f"{name} must be [low, high] with 0 <= low <= high")
        if self.late_delay_minutes[0] <= self.lateness_allowance_minutes:
            # Otherwise some "late" events would still be on time for the service.
            raise ValueError("late_delay_minutes must start above lateness_allowance_minutes")
        return self


class Scenario(_Model):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    description: str = ""
    start: AwareDatetime
    duration_days: float = Field(gt=0, le=366)
    seed: int
    hour_profile: HourProfile
    weekday_profile: WeekdayProfile
    groups: list[GroupMix] = Field(min_length=1)
    nationalities: dict[str, Weight]
    nationality_missing: Fraction = 0
    faults: Faults = Field(default_factory=Faults)
    posts: list[Post] = Field(min_length=1)
    surges: list[Surge] = []
    # Day-to-day variation of each direction's level: every local day of every direction has
    # its own factor (lognormal, mean 1, this coefficient of variation), drawn from the seed.
    day_level_cv: float = Field(default=0, ge=0, le=2)
    growth_per_month: float = Field(default=0, gt=-1, le=10)

    @field_validator("start")
    @classmethod
    def _whole_minute(cls, value: datetime) -> datetime:
        if value.second or value.microsecond:
            raise ValueError("start must be on a whole minute")
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        ids = [p.crossing_id for p in self.posts]
        for crossing_id in ids:
            if ids.count(crossing_id) > 1:
                raise ValueError(f"posts: crossing_id {crossing_id!r} is listed twice")
        for mix in [
            self.nationalities,
            *(d.nationalities for p in self.posts for d in p.directions),
        ]:
            _check_nationalities(mix)
        keys = direction_keys(self)
        for surge in self.surges:
            unknown = sorted(set(surge.crossings) - set(ids))
            if unknown:
                raise ValueError(f"surge {surge.name!r}: unknown crossings {unknown}")
            if not any(surge.applies_to(k) for k in keys):
                raise ValueError(f"surge {surge.name!r} applies to no direction")
        return self

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.minutes)

    @property
    def minutes(self) -> int:
        return round(self.duration_days * 1440)


def _check_nationalities(mix: dict[str, float] | None) -> None:
    if mix is None:
        return
    for code in mix:
        if code not in _NATIONALITY_PLACEHOLDERS:
            _country(code)
    if sum(mix.values()) <= 0:
        raise ValueError("a nationalities mix needs at least one positive weight")


def direction_keys(scenario: Scenario) -> list[DirectionKey]:
    return [
        (p.crossing_id, d.from_country, d.to_country) for p in scenario.posts for d in p.directions
    ]


def available_scenarios() -> list[str]:
    """Names of the scenarios shipped in the package."""
    files = resources.files(_PACKAGE).iterdir()
    return sorted(f.name.removesuffix(".toml") for f in files if f.name.endswith(".toml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a scenario by package name (``small``, ``mobilization-2022``) or by file path."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or "/" in text or text.endswith(".toml"):
        path = Path(name_or_path)
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ScenarioError(f"{path}: cannot read scenario: {exc}") from None
        return parse_scenario(source, origin=str(path))
    resource = resources.files(_PACKAGE) / f"{text}.toml"
    if not resource.is_file():
        known = ", ".join(available_scenarios())
        raise ScenarioError(f"no scenario named {text!r}; known: {known} (or give a .toml path)")
    return parse_scenario(resource.read_text(encoding="utf-8"), origin=str(resource))


def parse_scenario(source: str | Mapping[str, Any], *, origin: str = "<scenario>") -> Scenario:
    """Validate TOML text (or already-parsed data); errors name ``origin`` and the key."""
    if isinstance(source, str):
        try:
            source = tomllib.loads(source)
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"{origin}: invalid TOML: {exc}") from None
    try:
        return Scenario.model_validate(source)
    except ValidationError as exc:
        problems = [
            f"{origin}: {_key_path(err['loc'])}: {err['msg']}"
            for err in exc.errors(include_url=False)
        ]
        raise ScenarioError("\n".join(problems)) from None


def _key_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path or "(top level)"
