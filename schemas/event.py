"""The input contract: one crossing event on ``border.events``, parsed straight from bytes."""

import json
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetPydanticSchema,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import CoreSchema, ErrorDetails, PydanticCustomError, core_schema

from schemas.countries import CountryCode
from schemas.dead_letter import DeadLetterReason

MAX_EVENT_BYTES = 65536

# RFC 3339 section 5.6 `date-time`. pydantic's own parser is laxer (it takes "10:05Z" without
# seconds, "+0300", and bare Unix timestamps such as "1663754700"), so JSON strings must match
# this first. [0-9] rather than \d because the Rust regex \d also matches non-ASCII digits.
RFC3339_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
CROSSING_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # "0001-01-01T00:00:00+03:00" is valid RFC 3339 but has no UTC datetime in Python;
        # a ValueError becomes a validation error instead of escaping the parser.
        raise ValueError("date-time is out of the supported range") from None


def _format_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().removesuffix("+00:00") + "Z"


def _utc_datetime_core_schema(_source: Any, _handler: GetCoreSchemaHandler) -> CoreSchema:
    # Built by hand so the pattern check and the parse both run in Rust; the only Python call
    # is the conversion to UTC.
    # The parse step must be lax: inside the chain it sees a Python str, which a strict datetime
    # schema refuses. From Python only real aware datetimes are accepted.
    from_json = core_schema.chain_schema(
        [
            core_schema.str_schema(pattern=RFC3339_PATTERN, strict=True),
            core_schema.datetime_schema(tz_constraint="aware", strict=False),
        ]
    )
    from_python = core_schema.datetime_schema(tz_constraint="aware", strict=True)
    return core_schema.no_info_after_validator_function(
        _to_utc,
        core_schema.json_or_python_schema(json_schema=from_json, python_schema=from_python),
        serialization=core_schema.plain_serializer_function_ser_schema(
            _format_utc, when_used="json"
        ),
    )


UtcDatetime = Annotated[
    datetime,
    GetPydanticSchema(_utc_datetime_core_schema),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": RFC3339_PATTERN}),
]
"""An aware datetime, held in UTC, written in JSON as RFC 3339 with ``Z``."""


def _schema_version_core_schema(source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
    # A plain Literal[1] accepts JSON true and 1.0 even in strict mode; require an integer first.
    return core_schema.chain_schema([core_schema.int_schema(strict=True), handler(source)])


SchemaVersion = Annotated[
    Literal[1],
    GetPydanticSchema(_schema_version_core_schema),
    WithJsonSchema({"type": "integer", "const": 1}),
]
"""The payload version; only 1 exists."""

CrossingId = Annotated[str, StringConstraints(pattern=CROSSING_ID_PATTERN)]
"""A crossing point slug such as ``kazbegi-upper-lars``."""

EventId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Travellers = Annotated[int, Field(ge=1, le=1000)]
Mode = Literal["pedestrian", "car", "bus", "truck", "train", "other"]


class BorderEvent(BaseModel):
    """One crossing of a border by one or more travellers together, as reported at the source."""

    # strict: a producer sending "3" or 3.5 for travellers has a bug we want to see in the DLQ.
    model_config = ConfigDict(frozen=True, extra="ignore", strict=True, title="BorderEvent")

    event_id: EventId = Field(description="Unique per crossing event at the source.")
    crossing_id: CrossingId = Field(description="The crossing point, e.g. 'vaalimaa'.")
    occurred_at: UtcDatetime = Field(description="Event time, RFC 3339 with an offset or Z.")
    from_country: CountryCode
    to_country: CountryCode
    travellers: Travellers
    mode: Mode = "other"
    nationality: CountryCode | None = None
    schema_version: SchemaVersion = 1

    @model_validator(mode="after")
    def _check_countries_and_fill_time(self) -> Self:
        if self.from_country == self.to_country:
            raise PydanticCustomError(
                "same_country",
                "to_country must differ from from_country, both are {country}",
                {"country": self.from_country},
            )
        # Filled here because the first cached_property access takes a lock on Python 3.11,
        # which costs more than the whole computation; every consumer reads this value.
        self.__dict__["event_time_ms"] = (self.occurred_at - _EPOCH) // _ONE_MS
        return self

    @cached_property
    def event_time_ms(self) -> int:
        """Event time in integer milliseconds since the Unix epoch (UTC).

        Filled during validation; computed here only for instances built without it
        (``model_construct``). Like any cached property it survives ``model_copy(update=...)``,
        so build a new event rather than copying one with a different ``occurred_at``.
        """
        # Integer timedelta arithmetic: float timestamps lose the last millisecond far from 1970.
        return (self.occurred_at - _EPOCH) // _ONE_MS


class InvalidEvent(ValueError):
    """A raw record that is not a valid :class:`BorderEvent`; goes to the dead-letter topic."""

    def __init__(self, reason: DeadLetterReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail

    def __reduce__(self) -> tuple[type[Self], tuple[DeadLetterReason, str]]:
        return type(self), (self.reason, self.detail)


_validate_json = BorderEvent.model_validate_json
_to_json = BorderEvent.__pydantic_serializer__.to_json


def parse_event(raw: bytes) -> BorderEvent:
    """Parse and validate one raw ``border.events`` value; raise :class:`InvalidEvent` if bad."""
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent(
            DeadLetterReason.TOO_LARGE,
            f"event is {len(raw)} bytes, over the limit of {MAX_EVENT_BYTES} bytes",
        )
    # Checked here rather than left to the JSON parser so the reason is reliably bad_encoding;
    # isascii() keeps the common case free.
    if not raw.isascii():
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidEvent(
                DeadLetterReason.BAD_ENCODING,
                f"not valid UTF-8: {exc.reason} at byte {exc.start}",
            ) from None
    try:
        return _validate_json(raw)
    except ValidationError as exc:
        raise _invalid_event(exc.errors(include_url=False)) from None


def event_to_json(ev: BorderEvent) -> bytes:
    """Canonical compact JSON for ``ev``: every field, in declaration order, times in UTC."""
    return _to_json(ev)


_RULES: dict[str, str] = {
    "event_id": "must be a string of 1 to 128 characters",
    "crossing_id": (
        "must be 1 to 63 lower-case letters, digits or hyphens, not starting with a hyphen,"
        " e.g. 'kazbegi-upper-lars'"
    ),
    "occurred_at": (
        "must be an RFC 3339 date-time with an offset or Z, e.g. '2022-09-21T10:05:00Z'"
    ),
    "from_country": "must be an assigned ISO 3166-1 alpha-2 code in upper case, e.g. 'FI'",
    "to_country": "must be an assigned ISO 3166-1 alpha-2 code in upper case, e.g. 'RU'",
    "travellers": "must be an integer from 1 to 1000",
    "mode": "must be one of pedestrian, car, bus, truck, train, other",
    "nationality": "must be an assigned ISO 3166-1 alpha-2 code in upper case, or null",
    "schema_version": "must be the integer 1",
}
_MAX_SHOWN = 200
_MAX_LISTED = 5
_JSON_KINDS = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}


def _invalid_event(errors: list[ErrorDetails]) -> InvalidEvent:
    first = errors[0]
    if first["type"] == "json_invalid":
        error = str(first.get("ctx", {}).get("error", first["msg"]))
        return InvalidEvent(DeadLetterReason.BAD_JSON, f"not valid JSON: {error}")
    if first["type"] == "model_type" and not first["loc"]:
        kind = _JSON_KINDS.get(type(first["input"]), "a number")
        return InvalidEvent(
            DeadLetterReason.NOT_OBJECT, f"top level must be a JSON object, got {kind}"
        )
    for err in errors:
        if err["loc"] == ("schema_version",) and err["type"] == "literal_error":
            return InvalidEvent(
                DeadLetterReason.UNSUPPORTED_VERSION,
                f"schema_version: only version 1 is supported, got {_show(err['input'])}",
            )
    problems = [_describe(err) for err in errors[:_MAX_LISTED]]
    if len(errors) > _MAX_LISTED:
        problems.append(f"and {len(errors) - _MAX_LISTED} more problems")
    return InvalidEvent(DeadLetterReason.INVALID_FIELD, "; ".join(problems))


def _describe(err: ErrorDetails) -> str:
    ctx = err.get("ctx", {})
    if err["type"] == "same_country":
        return f"to_country: must differ from from_country, both are {_show(ctx['country'])}"
    path = _json_path(err["loc"])
    if err["type"] == "missing":
        return f"{path}: is required but missing"
    if err["type"] == "value_error":
        rule = str(ctx.get("error", err["msg"]))
    else:
        rule = _RULES.get(path, err["msg"]) if len(err["loc"]) == 1 else err["msg"]
    return f"{path}: {rule}, got {_show(err['input'])}"


def _json_path(loc: tuple[int | str, ...]) -> str:
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    return path.removeprefix(".") or "(root)"


def _show(value: object) -> str:
    """Render an offending value as JSON, cut short so a 64 KiB string cannot flood a log line."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        # str() of a huge int raises ValueError past 4300 digits (CPython's DoS guard).
        return f"an integer of {value.bit_length()} bits"
    cut = False
    if isinstance(value, str) and len(value) > _MAX_SHOWN:
        value, cut = value[:_MAX_SHOWN], True
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except ValueError:  # a huge int nested in a list or object
        return f"a {type(value).__name__} too large to show"
    if len(text) > _MAX_SHOWN + 2:  # + 2 spares a 200-character string its quotes
        text, cut = text[:_MAX_SHOWN], True
    return text + "..." if cut else text
