"""The value on ``border.buckets.by-border``: one closed bucket of a post direction, as an array."""

from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from schemas.countries import CountryCode
from schemas.event import CrossingId

NonNegativeInt = Annotated[int, Field(ge=0)]

BucketReport = tuple[
    CrossingId,
    CountryCode,
    CountryCode,
    Annotated[int, Field(description="Milliseconds since the Unix epoch (UTC).")],
    NonNegativeInt,
    NonNegativeInt,
    Annotated[NonNegativeInt, Field(description="As on border.counts: the highest one wins.")],
]
"""Positional, to keep the internal topic small; the same bucket as a ``border.counts`` record."""

FIELDS = ("crossing_id", "from_country", "to_country", "bucket_start_ms", "travellers", "events",
          "revision")  # fmt: skip
BUCKET_REPORT: TypeAdapter[BucketReport] = TypeAdapter(BucketReport)


def bucket_report_schema() -> dict[str, Any]:
    """Its JSON Schema in the draft-07 form AsyncAPI schemas use (``items`` as a list)."""
    schema = BUCKET_REPORT.json_schema()
    items: list[dict[str, Any]] = schema.pop("prefixItems")
    for name, item in zip(FIELDS, items, strict=True):
        item["title"] = name
    return {
        **schema,
        "title": "BucketReport",
        "description": f"[{', '.join(FIELDS)}]: one closed bucket of a post direction.",
        "items": items,
        "additionalItems": False,
    }
