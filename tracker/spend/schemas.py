"""Bodies of the spend API."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from tracker import money
from tracker.links.schemas import Slug, UtmValue


class SpendCreate(BaseModel):
    """Cost (and impressions) of one link or one whole campaign on one day."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "utm_campaign": "spring-sale",
                    "date": "2026-11-20",
                    "amount": "120.00",
                    "currency": "EUR",
                    "impressions": 48000,
                },
                {"link": "mug-ig", "date": "2026-11-20", "amount": "35.50", "currency": "EUR"},
            ]
        },
    )

    link: Slug | None = Field(None, description="the slug of the link that cost this")
    utm_campaign: UtmValue | None = Field(None, description="or the campaign that cost this")
    date: date
    currency: money.Currency  # before the amount, which is checked against it
    amount: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
    impressions: Annotated[int, Field(ge=0, le=10**15)] | None = None

    @field_validator("amount")
    @classmethod
    def _fits_the_currency(cls, amount: Decimal, info: ValidationInfo) -> Decimal:
        """No 12.345 EUR: the error names the amount (no currency given: that error is enough)."""
        if "currency" in info.data:
            money.require_fit(amount, info.data["currency"])
        return amount

    @model_validator(mode="after")
    def _one_target(self) -> SpendCreate:
        if (self.link is None) == (self.utm_campaign is None):
            raise ValueError("give exactly one of link and utm_campaign")
        return self


class SpendRead(BaseModel):
    id: int
    link: str | None
    utm_campaign: str | None
    date: date
    amount: str
    currency: str
    impressions: int | None
    created_at: datetime


class SpendList(BaseModel):
    items: list[SpendRead]
