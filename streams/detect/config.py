"""Detection thresholds: defaults plus per-crossing and per-border overrides from a TOML file."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from streams.detect.sequential import threshold
from streams.errors import ConfigError

_HOUR_MS = 3_600_000
_BUCKET_MS = 300_000
_DIRECTION = re.compile(r"^[A-Z]{2}-[A-Z]{2}$")


class DetectConfigError(ConfigError):
    """The detection config file is unreadable or invalid; the message names file, line and key."""


def crossing_key(crossing_id: str, from_country: str, to_country: str) -> str:
    """Subject key of one direction of a crossing, e.g. ``kazbegi-upper-lars:RU-GE``."""
    return f"{crossing_id}:{from_country}-{to_country}"


def border_key(from_country: str, to_country: str) -> str:
    """Subject key of a border direction (the sum over its crossings), e.g. ``RU-GE``."""
    return f"{from_country}-{to_country}"


class Thresholds(BaseModel):
    """Everything that decides whether one subject alerts; see docs/detection.md for the why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    warning_ratio: float = Field(default=1.5, gt=1.0)
    critical_ratio: float = Field(default=2.0, gt=1.0)
    resolve_ratio: float = Field(default=1.2, gt=0.0)
    # Critical drops back to warning below this; default critical * resolve / warning (1.6).
    critical_resolve_ratio: float | None = Field(default=None, gt=0.0)
    min_count: int = Field(default=30, ge=0)  # travellers the window must hold to alert
    pending_evaluations: int = Field(default=2, ge=1, le=100)
    resolve_evaluations: int = Field(default=3, ge=1, le=1000)
    max_p_value: float = Field(default=1e-6, gt=0.0, lt=1.0)
    window_minutes: int = Field(default=60, ge=5, le=24 * 60)
    learning_days: float = Field(default=7.0, ge=0.0, le=28.0)
    # Expected travellers per hour while learning: one number, or 24 by UTC hour of day.
    static_baseline: float | list[float] | None = None
    # Travellers are tested in units of at least a full coach, so a few buses are never a surge.
    coach_size: float = Field(default=50.0, ge=1.0)
    # How groups are judged: "window" (the rolling window and its longer windows) or
    # "sequential" (CUSUMs over every bucket since the change point, streams/detect/
    # sequential.py: faster on most surges, but more false alerts where days differ by 10-15%;
    # docs/detection.md, "Sequential evidence").
    detector: Literal["sequential", "window"] = "window"
    # The false-alarm budget, in an operator's terms: at most one false alert per this many
    # direction-years of normal traffic (sets the sequential test's threshold).
    false_alarm_years: float = Field(default=100.0, gt=0.0, le=1e6)
    # Surge ratios the sequential test is designed for (one CUSUM each).
    sequential_ratios: tuple[float, ...] = Field(default=(1.5, 3.0), min_length=1, max_length=6)
    # The level (observed / seasonal groups) follows normal traffic with this half-life ...
    level_half_life_hours: float = Field(default=72.0, gt=0.0, le=24 * 28)
    # ... within [1 / level_band, level_band] of the seasonal baseline.
    level_band: float = Field(default=1.5, ge=1.0, le=10.0)
    # The episode since its change point must also be this improbable under the rate's learned
    # variation (negative binomial), so day-to-day swings do not build a case.
    confirm_p_value: float = Field(default=1e-3, gt=0.0, lt=1.0)
    # Likelihood ratio (as its inverse) a severity change needs, either way.
    severity_evidence: float = Field(default=1e-3, gt=0.0, lt=1.0)
    # A correction (a bucket published again after a late event) re-judges the windows that
    # hold it if it is at most this many hours older than the last window judged; 0: never.
    rejudge_hours: float = Field(default=6.0, ge=0.0, le=24 * 7)

    @model_validator(mode="after")
    def _check_order(self) -> Self:
        if not self.resolve_ratio < self.warning_ratio <= self.critical_ratio:
            raise ValueError("need resolve_ratio < warning_ratio <= critical_ratio")
        crit_resolve = self.critical_resolve_ratio
        if crit_resolve is not None and not crit_resolve < self.critical_ratio:
            raise ValueError("critical_resolve_ratio must be below critical_ratio")
        if self.window_minutes % 5:
            raise ValueError("window_minutes must be a multiple of 5 (the bucket size)")
        if any(r <= 1.0 for r in self.sequential_ratios):
            raise ValueError("sequential_ratios must all be above 1")
        static = self.static_baseline
        if isinstance(static, list) and len(static) != 24:
            raise ValueError("static_baseline must be one number or 24 hourly numbers")
        if static is not None and min(static if isinstance(static, list) else [static]) < 0:
            raise ValueError("static_baseline must not be negative")
        return self

    @property
    def window_ms(self) -> int:
        return self.window_minutes * 60_000

    @property
    def rejudge_ms(self) -> int:
        return int(self.rejudge_hours * _HOUR_MS)

    @property
    def learning_ms(self) -> int:
        return int(self.learning_days * 24 * _HOUR_MS)

    @property
    def deescalate_ratio(self) -> float:
        if self.critical_resolve_ratio is not None:
            return self.critical_resolve_ratio
        return self.critical_ratio * self.resolve_ratio / self.warning_ratio

    @property
    def level_decay(self) -> float:
        """Per-bucket decay of the level's sums."""
        return float(0.5 ** (_BUCKET_MS / (self.level_half_life_hours * _HOUR_MS)))

    def sequential_threshold(self, bucket_ms: int = _BUCKET_MS) -> float:
        return threshold(self.false_alarm_years, bucket_ms, len(self.sequential_ratios))

    def static_expected(self, window_end_ms: int) -> float | None:
        """Travellers the static baseline expects in the window ending at window_end_ms."""
        static = self.static_baseline
        if static is None:
            return None
        if not isinstance(static, list):
            return static * self.window_ms / _HOUR_MS
        start = window_end_ms - self.window_ms
        per_bucket = _BUCKET_MS / _HOUR_MS
        return sum(
            static[(b // _HOUR_MS) % 24] * per_bucket
            for b in range(start, window_end_ms, _BUCKET_MS)
        )


class _ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    defaults: dict[str, Any] = {}
    crossings: dict[str, dict[str, Any]] = {}
    borders: dict[str, dict[str, Any]] = {}


@dataclass(frozen=True)
class DetectConfig:
    """Resolved thresholds: every override already merged over the defaults and validated."""

    defaults: Thresholds = field(default_factory=Thresholds)
    crossings: dict[str, Thresholds] = field(default_factory=dict)
    borders: dict[str, Thresholds] = field(default_factory=dict)

    def for_crossing(self, crossing_id: str, from_country: str, to_country: str) -> Thresholds:
        """Direction override, else crossing override, else the defaults."""
        direction = crossing_key(crossing_id, from_country, to_country)
        return self.crossings.get(direction) or self.crossings.get(crossing_id) or self.defaults

    def for_border(self, from_country: str, to_country: str) -> Thresholds:
        return self.borders.get(border_key(from_country, to_country)) or self.defaults


def _split_dotted(text: str) -> tuple[str, ...]:
    """Split a TOML dotted key (bare or quoted parts) into its parts."""
    parts = re.findall(r'\s*(?:"((?:[^"\\]|\\.)*)"|\'([^\']*)\'|([A-Za-z0-9_-]+))\s*(?:\.|$)', text)
    return tuple(a or b or c for a, b, c in parts)


def _common(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _find_line(text: str, path: tuple[str, ...]) -> int | None:
    """Line of the key at `path`, else of the table nearest to it: tomllib gives no positions."""
    table: tuple[str, ...] = ()
    best, best_line = 0, None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("["):
            table = _split_dotted(line.strip("[]").strip())
            depth = _common(table, path)
            if depth > best:
                best, best_line = depth, lineno
            continue
        key = re.match(r"^([^=#]+?)\s*=", line)
        if key and table + _split_dotted(key.group(1)) == path:
            return lineno
    return best_line


def _error(path: str, text: str, loc: tuple[str, ...], msg: str) -> DetectConfigError:
    line = _find_line(text, loc)
    where = f"{path}:{line}" if line is not None else path
    return DetectConfigError(f"{where}: {'.'.join(loc) or '<root>'}: {msg}")


def _validate(path: str, text: str, loc: tuple[str, ...], *layers: dict[str, Any]) -> Thresholds:
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer)
    try:
        return Thresholds.model_validate(merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        field_loc = tuple(str(p) for p in err["loc"][:1])
        # A cross-field error belongs to the section that set the last layer, not to a key.
        key_loc = loc + field_loc if field_loc and field_loc[0] in layers[-1] else loc
        raise _error(path, text, key_loc, err["msg"]) from None


def parse_config(text: str, path: str = "<string>") -> DetectConfig:
    """Parse and validate config text; errors name `path`, the line and the key path."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DetectConfigError(f"{path}: invalid TOML: {exc}") from None
    try:
        doc = _ConfigFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(str(p) for p in err["loc"])
        raise _error(path, text, loc, err["msg"]) from None
    defaults = _validate(path, text, ("defaults",), doc.defaults)
    base = defaults.model_dump(exclude_unset=True)
    borders: dict[str, Thresholds] = {}
    for key, section in doc.borders.items():
        if not _DIRECTION.match(key):
            raise _error(path, text, ("borders", key), "border keys look like 'RU-GE'")
        borders[key] = _validate(path, text, ("borders", key), base, section)
    crossings: dict[str, Thresholds] = {}
    # Whole-crossing sections first, so an error in one is reported there, not in a direction.
    for key, section in sorted(doc.crossings.items(), key=lambda kv: ":" in kv[0]):
        crossing_id, _, direction = key.partition(":")
        if direction and not _DIRECTION.match(direction):
            raise _error(path, text, ("crossings", key), "use 'crossing-id' or 'crossing-id:RU-GE'")
        layers = [base, doc.crossings.get(crossing_id, {})] if direction else [base]
        crossings[key] = _validate(path, text, ("crossings", key), *layers, section)
    return DetectConfig(defaults=defaults, crossings=crossings, borders=borders)


def load_config(path: str | None) -> DetectConfig:
    """Read the TOML config at `path`; None gives the built-in defaults."""
    if path is None:
        return DetectConfig()
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise DetectConfigError(f"{path}: cannot read detection config: {exc.strerror}") from None
    return parse_config(text, path)
