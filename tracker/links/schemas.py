"""Request and response bodies of the links API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from tracker.clock import as_utc
from tracker.links import slugs
from tracker.links.utm import InvalidURL, normalize_url


def _url(value: str) -> str:
    try:
        return normalize_url(value)
    except InvalidURL as exc:
        raise ValueError(f"url {exc}") from exc


def _slug(value: str) -> str:
    if slugs.SLUG_RE.fullmatch(value) is None:
        raise ValueError("slug must be 1-64 letters, digits, '-' or '_'")
    if slugs.is_reserved(value):
        raise ValueError(f"slug {value!r} is reserved")
    return value


def _printable(value: str) -> str:
    if any(ch < " " or ch == "\x7f" for ch in value):
        raise ValueError("must not contain control characters")
    return value


Url = Annotated[str, AfterValidator(_url)]
Slug = Annotated[str, AfterValidator(_slug)]
UtmValue = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(_printable)
]
Title = Annotated[str, StringConstraints(max_length=500), AfterValidator(_printable)]
Tag = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_printable),
]
Tags = Annotated[list[Tag], Field(max_length=50)]
UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
RedirectStatus = Literal[301, 302, 307, 308]
MaxClicks = Annotated[int, Field(ge=1, le=2**31 - 1)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class UtmFields(BaseModel):
    """The five UTM parameters a link merges into its destination."""

    utm_source: UtmValue | None = None
    utm_medium: UtmValue | None = None
    utm_campaign: UtmValue | None = None
    utm_term: UtmValue | None = None
    utm_content: UtmValue | None = None


class LinkOptions(BaseModel):
    """What a link shares with the other links of a bulk mint, besides its destination."""

    title: Title | None = None
    tags: Tags = []
    expires_at: UtcDatetime | None = None
    max_clicks: MaxClicks | None = None
    redirect_status: RedirectStatus = 302


class LinkCreate(_Input, UtmFields, LinkOptions):
    url: Url
    slug: Slug | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://shop.example.com/products/mug",
                    "slug": "mug-ig",
                    "utm_source": "instagram",
                    "utm_medium": "social",
                    "utm_campaign": "spring-sale",
                    "tags": ["mugs"],
                }
            ]
        }
    )


class LinkUpdate(_Input, UtmFields):
    """Any field but the slug; only the fields sent are changed (null clears)."""

    url: Url | None = None
    # LinkOptions' fields, with None for "not sent" instead of their defaults.
    title: Title | None = None
    tags: Tags | None = None
    expires_at: UtcDatetime | None = None
    max_clicks: MaxClicks | None = None
    redirect_status: RedirectStatus | None = None
    disabled: bool | None = None


class BulkVariant(_Input):
    utm_source: UtmValue
    utm_medium: UtmValue
    utm_content: UtmValue | None = None
    slug: Slug | None = None


class BulkCreate(_Input, LinkOptions):
    """One destination and campaign, one link per channel."""

    url: Url
    utm_campaign: UtmValue
    utm_term: UtmValue | None = None
    variants: Annotated[list[BulkVariant], Field(min_length=1, max_length=100)]

    def links(self) -> list[LinkCreate]:
        shared = self.model_dump(exclude={"variants"})
        return [
            LinkCreate(**shared, **variant.model_dump(exclude_none=True))
            for variant in self.variants
        ]


class LinkRead(UtmFields):
    slug: str
    short_url: str
    url: str
    destination: str
    title: str | None
    tags: list[str]
    expires_at: datetime | None
    max_clicks: int | None
    redirect_status: int
    disabled: bool
    created_at: datetime
    updated_at: datetime


class LinkPage(BaseModel):
    items: list[LinkRead]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null at the end"
    )


class LinkList(BaseModel):
    items: list[LinkRead]
