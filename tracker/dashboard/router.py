"""The dashboard's pages under `/dashboard`: parse the request, ask the services, render.

Every answer carries the security headers (a Content-Security-Policy that
allows no inline script or style, no framing, no sniffing); every form
carries the visit's CSRF token; every page but the sign-in needs a live key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from itsdangerous import URLSafeTimedSerializer
from pydantic import ValidationError

from tracker import money
from tracker.auth import find_live_key
from tracker.clock import utcnow
from tracker.clock import zone as time_zone
from tracker.dashboard import charts, periods
from tracker.dashboard import session as visits
from tracker.dashboard.periods import PRESETS, Period, Preset
from tracker.dashboard.views import (
    link_figures,
    main_currency,
    money_text,
    overview,
    ratios_text,
)
from tracker.dashboard.views import scope as report_scope
from tracker.db.engine import DATABASE_ERRORS
from tracker.db.session import ReadersDep, SessionDep, SettingsDep, writing
from tracker.errors import RETRY_AFTER_SECONDS, Forbidden, NotFound, TrackerError
from tracker.links import qr
from tracker.links import repository as links_repository
from tracker.links import service as links_service
from tracker.links.changes import LinkChangesDep
from tracker.links.destinations import Policy
from tracker.links.repository import LinkFilter
from tracker.links.schemas import BulkCreate, LinkCreate, LinkUpdate
from tracker.models import ApiKey
from tracker.orders import repository as orders_repository
from tracker.reports import service as reports_service
from tracker.reports.schemas import Row
from tracker.spend import service as spend_service
from tracker.spend.schemas import SpendCreate

_HERE = Path(__file__).parent
log = logging.getLogger(__name__)
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
STATIC = {
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
PAGE_SIZE = 50
RECENT_ORDERS = 100
CHANNELS = (
    ("instagram", "social"),
    ("facebook", "social"),
    ("tiktok", "social"),
    ("linkedin", "social"),
    ("x", "social"),
    ("newsletter", "email"),
)

templates = Jinja2Templates(directory=_HERE / "templates")
templates.env.filters["money"] = money_text
templates.env.filters["ratios"] = ratios_text
templates.env.filters["pct"] = lambda value: "–" if value is None else f"{value:.1%}"
templates.env.filters["num"] = lambda value: "–" if value is None else f"{value:,}"


class _Page(APIRoute):
    """A dashboard route: its answers get the security headers and the visit's cookie, and a
    missing sign-in, a foreign form or an unknown link become pages, not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                response = await handle(request)
            except visits.SignInRequired:
                target = urlencode({"next": request.url.path})
                response = RedirectResponse(f"/dashboard/sign-in?{target}", 303)
            except visits.CsrfRejected:
                response = _error(request, 403, "This form has expired. Go back and try again.")
            except NotFound as exc:
                response = _error(request, 404, exc.message)
            except TrackerError as exc:
                response = _error(request, exc.status_code, exc.message)
            except DATABASE_ERRORS as exc:
                log.warning("database unavailable: %s answered 503 (%s)", request.url.path, exc)
                response = _error(request, 503, "The database is unavailable; try again shortly.")
                response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            response.headers.update(SECURITY_HEADERS)
            state = getattr(request.state, "dashboard", None)
            if state is not None:
                signer, visit = state
                response.set_cookie(
                    visits.COOKIE,
                    visits.cookie_value(signer, visit),
                    max_age=int(visits.IDLE.total_seconds()),
                    path="/",
                    httponly=True,
                    samesite="lax",
                    secure=request.url.scheme == "https"
                    or request.app.state.settings.base_url.startswith("https://"),
                )
            return response

        return page


router = APIRouter(route_class=_Page, include_in_schema=False)


def _error(request: Request, status: int, message: str) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message}, status_code=status
    )


async def _visit(request: Request, session: SessionDep) -> visits.Visit:
    signer: URLSafeTimedSerializer | None = getattr(request.app.state, "dashboard_signer", None)
    if signer is None:
        async with writing(request, session) as writer:
            signer = await visits.serializer(writer)
        request.app.state.dashboard_signer = signer
    visit = visits.read_cookie(signer, request.cookies.get(visits.COOKIE)) or visits.new_visit()
    request.state.dashboard = (signer, visit)
    return visit


VisitDep = Annotated[visits.Visit, Depends(_visit)]


async def _signed_in(request: Request, visit: VisitDep, session: SessionDep) -> ApiKey:
    key = await visits.live_key(session, visit.key_id) if visit.key_id is not None else None
    if key is None:
        if visit.key_id is not None:  # revoked: the session ends here
            request.state.dashboard = (request.state.dashboard[0], visits.new_visit())
        raise visits.SignInRequired
    return key


SignedIn = Annotated[ApiKey, Depends(_signed_in)]


async def _admin(key: SignedIn) -> ApiKey:
    if key.scope != "admin":
        raise Forbidden("Your key may only read: ask for an admin key to mint or change links.")
    return key


Admin = Annotated[ApiKey, Depends(_admin)]


async def _csrf(request: Request, visit: VisitDep) -> dict[str, str]:
    """The posted form, once its CSRF token is this visit's."""
    form = await request.form()
    fields = {name: value for name, value in form.items() if isinstance(value, str)}
    visits.check_csrf(visit, fields.get("csrf"))
    return fields


Form = Annotated[dict[str, str], Depends(_csrf)]


class _Shown:
    """The period and zone a page shows, from its query (or the defaults)."""

    def __init__(
        self,
        settings: SettingsDep,
        period: Annotated[Preset, Query()] = "30d",
        start: Annotated[date | None, Query(alias="from")] = None,
        end: Annotated[date | None, Query(alias="to")] = None,
        tz: Annotated[str | None, Query(max_length=64)] = None,
    ) -> None:
        self.tz = tz or settings.report_timezone
        try:
            zone = time_zone(self.tz)
        except ValueError:
            zone, self.tz = time_zone("UTC"), "UTC"
        self.period: Period = periods.period(period, zone, start, end)

    def query(self, **more: Any) -> str:
        """The page's query string, with ``more`` changed; empty values left out."""
        values: dict[str, Any] = {"period": self.period.preset, "tz": self.tz}
        if self.period.preset == "custom":
            values |= {"from": self.period.first.isoformat(), "to": self.period.last.isoformat()}
        values |= more
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})


ShownDep = Annotated[_Shown, Depends()]


def _page(request: Request, name: str, visit: visits.Visit, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request, name, {"csrf": visit.csrf, "presets": PRESETS, **context}
    )


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/dashboard", 307)


@router.get("/dashboard/static/{name}")
async def static(name: str) -> Response:
    media_type = STATIC.get(name)
    if media_type is None:
        raise NotFound("no such file")
    headers = {"Cache-Control": "public, max-age=3600"}
    return Response((_HERE / "static" / name).read_bytes(), media_type=media_type, headers=headers)


@router.get("/dashboard/sign-in")
async def sign_in_page(request: Request, visit: VisitDep, next: str = "/dashboard") -> HTMLResponse:
    return _page(request, "sign_in.html", visit, next=_local(next), error=None)


def _local(target: str) -> str:
    """Only a path of this dashboard: never send someone elsewhere after signing in."""
    return target if target.startswith("/dashboard") and "//" not in target else "/dashboard"


@router.post("/dashboard/sign-in")
async def sign_in(request: Request, visit: VisitDep, form: Form, session: SessionDep) -> Response:
    key = await find_live_key(session, form.get("key", "").strip())
    target = _local(form.get("next", "/dashboard"))
    if key is None:
        page = _page(request, "sign_in.html", visit, next=target, error="That key is not valid.")
        page.status_code = 401
        return page
    key.last_used_at = utcnow()
    request.state.dashboard = (request.state.dashboard[0], visits.new_visit(key.id))
    return RedirectResponse(target, 303)


@router.post("/dashboard/sign-out")
async def sign_out(request: Request, _form: Form) -> RedirectResponse:
    request.state.dashboard = (request.state.dashboard[0], visits.new_visit())
    return RedirectResponse("/dashboard/sign-in", 303)


@router.get("/dashboard")
async def overview_page(
    request: Request,
    key: SignedIn,
    visit: VisitDep,
    shown: ShownDep,
    session: SessionDep,
    readers: ReadersDep,
    settings: SettingsDep,
) -> HTMLResponse:
    figures = await overview(session, readers, settings, shown.period, shown.tz)
    has_links = bool(await links_repository.list_links(session, LinkFilter(), None, 1))
    chart = charts.daily(_day_figures(figures.days), "Clicks and orders by day")
    return _page(
        request, "overview.html", visit, key=key, shown=shown, o=figures, chart=chart,
        has_links=has_links,
    )  # fmt: skip


def _day_figures(days: list[Row]) -> list[charts.DayFigure]:
    return [charts.DayFigure(row.key or "", row.clicks, row.orders) for row in days]


Sort = Literal["clicks", "orders", "conversion", "net", "newest"]


@router.get("/dashboard/links")
async def links_page(
    request: Request,
    key: SignedIn,
    visit: VisitDep,
    shown: ShownDep,
    session: SessionDep,
    readers: ReadersDep,
    settings: SettingsDep,
    sort: Sort = "clicks",
    campaign: Annotated[str | None, Query(max_length=200)] = None,
    source: Annotated[str | None, Query(max_length=200)] = None,
    medium: Annotated[str | None, Query(max_length=200)] = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> HTMLResponse:
    filters = LinkFilter(source or None, medium or None, campaign or None, tag or None, q or None)
    slugs = await links_repository.matching_slugs(session, filters)  # newest first
    scope = report_scope(
        session, settings, shown.period, shown.tz, "link", utm_source=filters.utm_source,
        utm_medium=filters.utm_medium, utm_campaign=filters.utm_campaign, tag=filters.tag,
    )  # fmt: skip
    report = await reports_service.report(readers, scope)
    by_slug = {row.key: row for row in report.rows if row.key is not None}
    currency = main_currency(report.totals.net_revenue)
    ranks: dict[str, Callable[[Row], Any]] = {
        "clicks": lambda row: row.clicks,
        "orders": lambda row: row.orders,
        "conversion": lambda row: row.conversion_rate or 0,
        "net": lambda row: Decimal(row.net_revenue.get(currency, 0)) if currency else 0,
    }
    empty = reports_service.empty_row
    if sort in ranks:  # a stable sort: equal figures stay newest first
        rank = ranks[sort]
        slugs.sort(key=lambda slug: rank(by_slug.get(slug) or empty(slug)), reverse=True)
    pages = max(1, -(-len(slugs) // PAGE_SIZE))
    page = min(page, pages)
    shown_links = await links_repository.by_slugs(
        session, slugs[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    )
    rows = [(link, by_slug.get(link.slug) or empty(link.slug)) for link in shown_links]
    values = await links_repository.values_in_use(session)
    return _page(
        request, "links.html", visit, key=key, shown=shown, rows=rows, sort=sort,
        page=page, pages=pages, total=len(slugs), values=values,
        filters={"campaign": campaign, "source": source, "medium": medium, "tag": tag, "q": q},
    )  # fmt: skip


@router.get("/dashboard/links/{slug}")
async def link_page(
    request: Request,
    slug: str,
    key: SignedIn,
    visit: VisitDep,
    shown: ShownDep,
    session: SessionDep,
    readers: ReadersDep,
    settings: SettingsDep,
) -> HTMLResponse:
    link = await links_service.get_link(session, slug)
    read = links_service.link_read(link, settings.base_url)
    figures = await link_figures(session, readers, settings, shown.period, shown.tz, slug)
    chart = charts.daily(_day_figures(figures.days), f"Clicks and orders of {slug} by day")
    code = qr.render(read.short_url, "svg", 4).decode()
    return _page(
        request, "link.html", visit, key=key, shown=shown, link=read, f=figures, chart=chart,
        qr_svg=code[code.index("<svg"):],
    )  # fmt: skip


@router.get("/dashboard/links/{slug}/qr.{kind}")
async def link_qr(
    slug: str, kind: qr.QrFormat, _key: SignedIn, session: SessionDep, settings: SettingsDep
) -> Response:
    link = await links_service.get_link(session, slug)
    short_url = links_service.link_read(link, settings.base_url).short_url
    return Response(
        qr.render(short_url, kind, 10),
        media_type=qr.MEDIA_TYPES[kind],
        headers={"Content-Disposition": f'attachment; filename="{slug}-qr.{kind}"'},
    )


@router.post("/dashboard/links/{slug}/{action}")
async def link_action(
    slug: str,
    action: Literal["disable", "enable", "delete", "edit"],
    _key: Admin,
    form: Form,
    session: SessionDep,
    settings: SettingsDep,
    changes: LinkChangesDep,
) -> RedirectResponse:
    if action == "delete":
        await links_service.delete_link(session, slug)
        changes.after_commit(session, slug)
        return RedirectResponse("/dashboard/links", 303)
    if action == "edit":
        tags = [tag.strip() for tag in form.get("tags", "").split(",") if tag.strip()]
        update = LinkUpdate(title=form.get("title") or None, tags=tags)
    else:
        update = LinkUpdate(disabled=action == "disable")
    await links_service.update_link(session, slug, update, Policy.of(settings))
    changes.after_commit(session, slug)
    return RedirectResponse(f"/dashboard/links/{slug}", 303)


_UTM = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")


@router.get("/dashboard/mint")
async def mint_page(
    request: Request, key: Admin, visit: VisitDep, session: SessionDep
) -> HTMLResponse:
    values = await links_repository.values_in_use(session)
    return _page(
        request, "mint.html", visit, key=key, form={}, errors={}, values=values, channels=CHANNELS
    )


def _field_errors(error: ValidationError, renamed: dict[str, str] | None = None) -> dict[str, str]:
    """The first message for each form field; a rule across fields is the form's."""
    found: dict[str, str] = {}
    for item in error.errors():
        loc = [str(part) for part in item["loc"]]
        name = "form" if not loc else "channels" if loc[0] == "variants" else loc[-1]
        message = str(item["msg"]).removeprefix("Value error, ")
        found.setdefault((renamed or {}).get(name, name), message)
    return found


@router.post("/dashboard/mint")
async def mint(
    request: Request,
    key: Admin,
    visit: VisitDep,
    form: Form,
    session: SessionDep,
    settings: SettingsDep,
    changes: LinkChangesDep,
) -> Response:
    """One link, or one per chosen channel (bulk); errors beside their fields, input kept."""
    raw = await request.form()
    chosen = [value for value in raw.getlist("channel") if isinstance(value, str) and value]
    common = {
        "url": form.get("url", "").strip(),
        "title": form.get("title") or None,
        "tags": [tag.strip() for tag in form.get("tags", "").split(",") if tag.strip()],
    }
    utm = {name: form.get(name, "").strip() or None for name in _UTM}
    errors: dict[str, str] = {}
    try:
        if chosen:
            variants = []
            for choice in chosen:
                source, _, medium = choice.partition("/")
                variants.append(
                    {"utm_source": source, "utm_medium": medium or "social",
                     "utm_content": utm["utm_content"]}
                )  # fmt: skip
            bulk = BulkCreate.model_validate(
                {**common, "utm_campaign": utm["utm_campaign"] or "", "utm_term": utm["utm_term"],
                 "variants": variants}
            )  # fmt: skip
            links = await links_service.create_bulk(session, bulk, Policy.of(settings))
        else:
            data = LinkCreate.model_validate({**common, **utm, "slug": form.get("slug") or None})
            links = [await links_service.create_link(session, data, Policy.of(settings))]
    except ValidationError as exc:
        errors = _field_errors(exc)
    except TrackerError as exc:
        if exc.message.startswith("url: "):  # the destination policy's refusal
            errors = {"url": exc.message.removeprefix("url: ")}
        else:
            errors = {"slug" if exc.status_code == 409 else "form": exc.message}
    if errors:
        values = await links_repository.values_in_use(session)
        page = _page(
            request, "mint.html", visit, key=key, form={**form, "channel": chosen},
            errors=errors, values=values, channels=CHANNELS,
        )  # fmt: skip
        page.status_code = 422
        return page
    changes.after_commit(session, *(link.slug for link in links))
    if len(links) == 1:
        return RedirectResponse(f"/dashboard/links/{links[0].slug}?minted=1", 303)
    slugs = ",".join(link.slug for link in links)
    return RedirectResponse(f"/dashboard/links?{urlencode({'q': '', 'minted': slugs})}", 303)


@router.get("/dashboard/orders")
async def orders_page(
    request: Request, key: SignedIn, visit: VisitDep, session: SessionDep
) -> HTMLResponse:
    """The bridge made visible: each recent sale, and the link and post it came from."""
    recent = await orders_repository.recent_orders(session, RECENT_ORDERS)
    failed = await orders_repository.failed_deliveries(session, RECENT_ORDERS)
    rows = [
        {
            "order": item.order,
            "amount": money.from_minor(item.order.amount_minor, item.order.currency),
            "refunded": money.from_minor(item.refunded_minor, item.order.currency)
            if item.refunded_minor
            else None,
            "slug": item.slug,
            "title": item.title,
            "post": item.post,
        }
        for item in recent
    ]
    return _page(request, "orders.html", visit, key=key, rows=rows, failed=failed)


@router.get("/dashboard/spend")
async def spend_page(
    request: Request, key: SignedIn, visit: VisitDep, session: SessionDep
) -> HTMLResponse:
    return await _spend_page(request, key, visit, session, {}, {})


async def _spend_page(
    request: Request,
    key: ApiKey,
    visit: visits.Visit,
    session: SessionDep,
    form: dict[str, str],
    errors: dict[str, str],
) -> HTMLResponse:
    recorded = await spend_service.newest(session, RECENT_ORDERS)
    values = await links_repository.values_in_use(session)
    today = utcnow().date().isoformat()
    page = _page(
        request, "spend.html", visit, key=key,
        recorded=[spend_service.spend_read(spend, slug) for spend, slug in recorded],
        form={"date": today, **form}, errors=errors, values=values,
    )  # fmt: skip
    if errors:
        page.status_code = 422
    return page


@router.post("/dashboard/spend")
async def record_spend(
    request: Request, key: Admin, visit: VisitDep, form: Form, session: SessionDep
) -> Response:
    target = form.get("target", "campaign")
    name = form.get("name", "").strip()
    fields = {
        "link" if target == "link" else "utm_campaign": name or None,
        "date": form.get("date"),
        "amount": form.get("amount", "").strip(),
        "currency": form.get("currency", "").strip(),
        "impressions": form.get("impressions", "").strip() or None,
    }
    try:
        await spend_service.record(session, SpendCreate.model_validate(fields))
    except ValidationError as exc:
        errors = _field_errors(exc, {"link": "name", "utm_campaign": "name", "form": "name"})
        return await _spend_page(request, key, visit, session, form, errors)
    except NotFound as exc:
        return await _spend_page(request, key, visit, session, form, {"name": exc.message})
    return RedirectResponse("/dashboard/spend?recorded=1", 303)
