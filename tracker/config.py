"""Settings, read once from ``TRACKER_*`` environment variables and ``.env``.

Nothing else in the package reads ``os.environ``: code receives a ``Settings``
instance, so tests build their own instead of patching the environment.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tracker import clock

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./tracker.db"

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


def normalize_database_url(url: str) -> str:
    """Accept the plain ``postgresql://`` and ``sqlite://`` forms and add the async driver."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("must look like sqlite:///path.db or postgresql://user@host/db")
    scheme = _DRIVERS.get(scheme, scheme)
    if scheme not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise ValueError(
            "only SQLite (sqlite+aiosqlite) and PostgreSQL (postgresql+asyncpg) are supported"
        )
    if scheme == "sqlite+aiosqlite" and "?" in rest:
        # The click writer opens the file itself (db/driver.py), without SQLAlchemy's options.
        raise ValueError("a SQLite URL takes no options: sqlite:///path.db")
    return f"{scheme}://{rest}"


def _split_networks(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every knob of the service; `tracker config` prints them with secrets masked."""

    model_config = SettingsConfigDict(
        env_prefix="TRACKER_", env_file=".env", extra="ignore", validate_default=True
    )

    database_url: str = Field(DEFAULT_DATABASE_URL, description="SQLAlchemy URL of the database")
    base_url: str = Field("http://127.0.0.1:8000", description="public origin of the short links")
    click_id_param: str = Field("tclid", description="query parameter carrying the click id")
    click_write: Literal["async", "sync"] = Field(
        "async", description="async: clicks are written in batches; sync: before the redirect"
    )
    click_batch_size: int = Field(
        5000, ge=1, le=50_000, description="clicks the writer puts in one transaction"
    )
    click_flush_interval: float = Field(
        0.25, gt=0, le=3600, description="seconds between click batch writes"
    )
    click_writer: Literal["process", "thread"] = Field(
        "process",
        description="process: `tracker serve` runs the click writer as a process of its own; "
        "thread: on a thread of each serving process",
    )
    click_retention_days: int | None = Field(
        None,
        ge=1,
        le=36_500,
        description="days raw clicks are kept (default: all); rollups, orders and reports "
        "over older periods stay",
    )
    click_hold_seconds: float = Field(
        60.0,
        ge=0,
        le=3600,
        description="while redirects keep the processors busy, seconds the writer may hold "
        "their clicks in the journal so that writing them does not slow redirects (0: never)",
    )
    click_writer_nice: Annotated[int, Field(ge=0, le=19)] | Literal["idle"] = Field(
        "idle",
        description="the writer process's CPU priority: idle (only processor time nobody else "
        "wants) or how much lower it is, 0-19",
    )
    spool_dir: Path = Field(
        Path("./tracker-spool"),
        description="the click journal: every click waits here until it is in the database",
    )
    link_cache_ttl: float = Field(
        30.0, ge=0, le=86_400, description="seconds a resolved slug is served from memory"
    )
    trusted_proxies: Annotated[list[IPNetwork], NoDecode] = Field(
        default_factory=list, description="CIDRs whose X-Forwarded-For is believed"
    )
    ignored_networks: Annotated[list[IPNetwork], NoDecode] = Field(
        default_factory=list, description="CIDRs redirected but not logged"
    )
    allowed_destinations: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="host patterns links may lead to (e.g. shop.example.com,*.example.com); "
        "empty: any public host",
    )
    country_header: str | None = Field(
        None, description="trusted proxy header with the visitor's country, e.g. CF-IPCountry"
    )
    shopify_secret: SecretStr | None = Field(
        None, description="Shopify app's client secret; unset: /webhooks/shopify answers 404"
    )
    woocommerce_secret: SecretStr | None = Field(
        None, description="WooCommerce webhook secret; unset: /webhooks/woocommerce answers 404"
    )
    stripe_secret: SecretStr | None = Field(
        None, description="Stripe endpoint signing secret (whsec_…); unset: 404"
    )
    webhook_secret: SecretStr | None = Field(
        None, description="Standard Webhooks secret (whsec_…) of /webhooks/orders; unset: 404"
    )
    attribution_window_days: int = Field(
        30, ge=1, le=365, description="how long after a click an order is still credited to it"
    )
    accept_test_orders: bool = Field(
        False, description="count Shopify test and Stripe test-mode orders in the reports"
    )
    report_timezone: str = Field(
        "UTC", description="IANA zone whose days the daily click rollup is cut in"
    )
    max_body_bytes: int = Field(1_048_576, ge=1024, description="largest accepted request body")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    access_log: Literal["api", "all", "off"] = Field(
        "api",
        description="api: an access line per API, webhook and page request; all: per redirect "
        "too (the click itself is stored with more detail, and tracker_redirects_total counts "
        "them); off: none",
    )

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return normalize_database_url(value)

    @field_validator("click_writer_nice", mode="before")
    @classmethod
    def _click_writer_nice(cls, value: object) -> object:
        if isinstance(value, str) and value != "idle" and not value.strip().isdigit():
            raise ValueError("must be idle or a nice value from 0 to 19")
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", value):
            raise ValueError("must be an http(s) origin such as https://go.example.com")
        return value.rstrip("/")

    @field_validator("click_id_param")
    @classmethod
    def _click_id_param(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_]{1,32}", value):
            raise ValueError("must be 1-32 letters, digits or underscores")
        return value

    @field_validator("trusted_proxies", "ignored_networks", "allowed_destinations", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        return _split_networks(value)

    @field_validator("country_header")
    @classmethod
    def _country_header(cls, value: str | None) -> str | None:
        return value.lower() if value else None

    @field_validator("shopify_secret", "woocommerce_secret", "stripe_secret", "webhook_secret")
    @classmethod
    def _blank_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value().strip() else None

    @field_validator("report_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        clock.zone(value)
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()


def invalid_setting(exc: ValidationError) -> str:
    """One clear line naming the first bad setting, for whoever started the service."""
    error = exc.errors()[0]
    name = f"TRACKER_{str(error['loc'][0]).upper()}" if error["loc"] else "a setting"
    return f"invalid setting {name}: {error['msg']}"
