"""Plain async factories and readers for tests; data goes in through the public API where it can."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import func, select

from tracker import auth
from tracker.clicks.record import ClickRecord, Query
from tracker.clock import unix_micros
from tracker.db.types import Base
from tracker.links import utm_rollup
from tracker.models import Click, ClickDay, ClickMonth, Link, Order, UtmDay, UtmMonth
from tracker.server.dispatch import TrackerApp

T = TypeVar("T")

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
# What every browser sends and a person's clicks in the tests must carry (bots.NO_LANGUAGE).
BROWSER_HEADERS = {"Accept-Language": "en-GB,en;q=0.9"}
DESKTOP_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)


def click_record(
    click_id: str,
    link_id: int,
    at: datetime,
    *,
    user_agent: str = IPHONE,
    referrer: str | None = None,
    visitor_hash: str = "0" * 32,
    country: str | None = None,
    query: Query | None = None,
    is_bot: bool | None = None,
    bot_signal: str | None = None,
) -> ClickRecord:
    """A click as a redirect journals it, at ``at``."""
    return ClickRecord(
        click_id, link_id, unix_micros(at), user_agent, referrer, visitor_hash, country, query,
        is_bot, bot_signal,
    )  # fmt: skip


async def create_api_key(app: TrackerApp, name: str = "tests") -> str:
    async with app.runtime.sessionmaker() as session, session.begin():
        _key, raw_key = await auth.create_key(session, name)
    return raw_key


@asynccontextmanager
async def api_client(
    app: TrackerApp, peer: tuple[str, int] = ("127.0.0.1", 123)
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on ``app`` that carries a fresh API key."""
    key = await create_api_key(app)
    transport = httpx.ASGITransport(app=app, client=peer)
    headers = {"Authorization": f"Bearer {key}", **BROWSER_HEADERS}
    async with httpx.AsyncClient(
        transport=transport, base_url="https://go.test", headers=headers
    ) as http:
        yield http


async def create_link(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"url": "https://shop.example.com/products/mug", **fields}
    response = await api.post("/api/links", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def click(client: httpx.AsyncClient, slug: str, app: TrackerApp | None = None) -> str:
    """Follow a short link as a person would; the click id the shop receives. With ``app``,
    wait until the click is written."""
    response = await client.get(f"/{slug}", headers={"User-Agent": IPHONE, **BROWSER_HEADERS})
    assert response.status_code in (301, 302, 307, 308), response.text
    (click_id,) = parse_qs(urlsplit(response.headers["location"]).query)["tclid"]
    if app is not None:
        await flush_clicks(app)
    return click_id


async def rows(app: TrackerApp, model: type[T]) -> list[T]:
    async with app.runtime.sessionmaker() as session:
        return list((await session.scalars(select(model).order_by(model.id))).all())  # type: ignore[attr-defined]


async def rows_by(app: TrackerApp, model: type[T]) -> list[T]:
    """Every row of a table without an id column, in no particular order."""
    async with app.runtime.sessionmaker() as session:
        return list((await session.scalars(select(model))).all())


async def flush_clicks(app: TrackerApp) -> None:
    """Every click the app journaled so far, in the database (its writer runs on a thread)."""
    assert app.runtime.click_writer is not None, "the tests' settings run the writer on a thread"
    await app.runtime.journal.seal()
    await app.runtime.click_writer.flush()


async def clicks(app: TrackerApp) -> list[Click]:
    """Every click, once the writer has written what it holds."""
    await flush_clicks(app)
    async with app.runtime.sessionmaker() as session:
        return list((await session.scalars(select(Click).order_by(Click.clicked_at))).all())


async def eventually(condition: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    """Wait until ``condition`` holds, for work that background tasks finish."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def count(app: TrackerApp, model: type[Base]) -> int:
    async with app.runtime.sessionmaker() as session:
        return (await session.scalar(select(func.count()).select_from(model))) or 0


async def assert_rollups_add_up(app: TrackerApp) -> None:
    """`click_months` holds exactly `click_days` summed by month, `utm_days` and `utm_months`
    the same summed by the links' source, medium and campaign as they are now; every order
    keeps its link's source, medium and campaign as they are now; and there is something to
    compare."""
    links = {link.id: link for link in await rows(app, Link)}
    for order in await rows(app, Order):
        link = links.get(order.link_id) if order.link_id is not None else None
        kept = tuple(getattr(order, field) for field in utm_rollup.FIELDS)
        assert kept == tuple(getattr(link, field, None) for field in utm_rollup.FIELDS), order.id
    by_month: dict[tuple[Any, ...], list[int]] = {}
    by_utm: dict[tuple[Any, ...], list[int]] = {}
    by_utm_month: dict[tuple[Any, ...], list[int]] = {}
    for day in await rows_by(app, ClickDay):
        link = links[day.link_id]
        triple = tuple(getattr(link, field) or "" for field in utm_rollup.FIELDS)
        for sums, key in (
            (by_month, (day.link_id, day.day.replace(day=1))),
            (by_utm, (day.day, *triple)),
            (by_utm_month, (day.day.replace(day=1), *triple)),
        ):
            summed = sums.setdefault(key, [0, 0, 0])
            for n, count in enumerate((day.clicks, day.bot_clicks, day.unique_visitors)):
                summed[n] += count
    assert _stored(await rows_by(app, ClickMonth), "link_id", "month") == by_month and by_month
    for model, period, expected in ((UtmDay, "day", by_utm), (UtmMonth, "month", by_utm_month)):
        stored = _stored(await rows_by(app, model), period, *utm_rollup.FIELDS)
        # A triple that lost its links keeps rows of zeros.
        assert {key: counts for key, counts in stored.items() if any(counts)} == expected


def _stored(rows: list[Any], *keys: str) -> dict[tuple[Any, ...], list[int]]:
    """Rollup rows' counts by ``keys``, summed (a UTM row's parts, one per writer process)."""
    found: dict[tuple[Any, ...], list[int]] = {}
    for row in rows:
        summed = found.setdefault(tuple(getattr(row, key) for key in keys), [0, 0, 0])
        for n, count in enumerate((row.clicks, row.bot_clicks, row.unique_visitors)):
            summed[n] += count
    return found
