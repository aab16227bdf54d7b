"""The output contract for ``border.alerts``: one surge alert episode, firing or resolved."""

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from schemas.countries import CountryCode
from schemas.event import CrossingId, SchemaVersion, UtcDatetime

# Finite and non-negative: JSON has no NaN or Infinity, and pydantic would write them as null.
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class Alert(BaseModel):
    """A surge at one crossing, or on one border direction, compared with its expected level.

    The Kafka key is the subject (the crossing_id, or FROM-TO for a border), so every update
    for one subject stays in order.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True, title="Alert")

    alert_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(
        description="Stable for one episode: the firing and the resolved record share it."
    )
    status: Literal["firing", "resolved"]
    severity: Literal["warning", "critical"]
    scope: Literal["crossing", "border"]
    crossing_id: CrossingId | None = Field(
        default=None, description="The crossing for scope 'crossing'; null for scope 'border'."
    )
    from_country: CountryCode
    to_country: CountryCode
    window_start: UtcDatetime
    window_end: UtcDatetime
    observed: Annotated[int, Field(ge=0)] = Field(description="Travellers seen in the window.")
    expected: NonNegativeFloat = Field(description="Travellers the baseline expected.")
    ratio: NonNegativeFloat = Field(description="observed / expected, as the detector computed it.")
    change_point: UtcDatetime | None = Field(
        default=None,
        description=(
            "Where the evidence of this episode begins: the start of the sequential test's "
            "excursion (its estimated change point). Null when the window test judged it."
        ),
    )
    episode_ratio: NonNegativeFloat | None = Field(
        default=None,
        description="Groups observed / expected since change_point: the surge's estimated ratio.",
    )
    episode_ratio_low: NonNegativeFloat | None = Field(
        default=None, description="Lower end of the 95% interval of episode_ratio."
    )
    emitted_at: UtcDatetime
    schema_version: SchemaVersion = 1

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        if self.scope == "crossing" and self.crossing_id is None:
            raise ValueError("crossing_id is required when scope is 'crossing'")
        if self.scope == "border" and self.crossing_id is not None:
            raise ValueError("crossing_id must be null when scope is 'border'")
        if self.from_country == self.to_country:
            raise ValueError("to_country must differ from from_country")
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        return self

    @property
    def subject(self) -> str:
        """What the alert is about, and its Kafka key: the crossing_id, or ``FROM-TO``."""
        if self.crossing_id is not None:
            return self.crossing_id
        return f"{self.from_country}-{self.to_country}"
