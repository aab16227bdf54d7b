"""The output contract for ``border.counts``: travellers through one crossing in one time bucket."""

from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.countries import CountryCode
from schemas.event import CrossingId, SchemaVersion, UtcDatetime

NonNegativeInt = Annotated[int, Field(ge=0)]


class CountRecord(BaseModel):
    """The count for one crossing, direction and bucket ``[bucket_start, bucket_end)``.

    A late event re-emits the bucket with ``revision`` one higher; the record with the highest
    revision replaces the earlier ones rather than adding to them.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True, title="CountRecord")

    crossing_id: CrossingId
    from_country: CountryCode
    to_country: CountryCode
    bucket_start: UtcDatetime
    bucket_end: UtcDatetime
    travellers: NonNegativeInt = Field(description="Sum of travellers over the bucket's events.")
    events: NonNegativeInt = Field(description="Number of events in the bucket.")
    revision: NonNegativeInt = Field(
        description="0 for the first emission, +1 for each late correction."
    )
    schema_version: SchemaVersion = 1

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        if self.bucket_end <= self.bucket_start:
            raise ValueError("bucket_end must be after bucket_start")
        if self.from_country == self.to_country:
            raise ValueError("to_country must differ from from_country")
        # Every event carries at least one traveller, so fewer travellers than events is a bug.
        if self.travellers < self.events:
            raise ValueError("travellers must be at least events")
        return self
