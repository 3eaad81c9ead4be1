"""`tracker links …`: mint and manage links from a terminal or a script, through the links service.

`create` prints the short URL alone on its last line, so that
`URL=$(tracker links create … | tail -n 1)` mints a post's link without curl.
Links changed here reach a running server when its cache entry expires
(`TRACKER_LINK_CACHE_TTL`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tracker.cli.common import settings_or_exit, with_session
from tracker.links import qr
from tracker.links import service as links_service
from tracker.links.destinations import Policy
from tracker.links.repository import LinkFilter, list_links
from tracker.links.schemas import BulkCreate, LinkCreate, LinkRead, LinkUpdate
from tracker.orders.events import describe

app = typer.Typer(help="Short links: mint, list, show, change, switch off, QR codes.")

Utm = Annotated[str | None, typer.Option()]


def _valid(model: Any, data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        typer.echo(f"invalid link: {describe(exc)}", err=True)
        raise typer.Exit(2) from exc


def _show(link: LinkRead) -> None:
    for name, value in link.model_dump(mode="json").items():
        if value not in (None, [], ""):
            typer.echo(f"{name}: {', '.join(value) if isinstance(value, list) else value}")


@app.command()
def create(
    url: Annotated[str, typer.Argument(help="the shop page the link leads to")],
    slug: Annotated[str | None, typer.Option(help="default: 7 random characters")] = None,
    utm_source: Utm = None,
    utm_medium: Utm = None,
    utm_campaign: Utm = None,
    utm_content: Utm = None,
    utm_term: Utm = None,
    title: Annotated[str | None, typer.Option()] = None,
    tag: Annotated[list[str] | None, typer.Option(help="repeat for several")] = None,
    max_clicks: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Mint one link; its short URL is the last line printed."""
    data = _valid(
        LinkCreate,
        {
            "url": url, "slug": slug, "utm_source": utm_source, "utm_medium": utm_medium,
            "utm_campaign": utm_campaign, "utm_content": utm_content, "utm_term": utm_term,
            "title": title, "tags": tag or [], "max_clicks": max_clicks,
        },
    )  # fmt: skip
    settings = settings_or_exit()
    base_url, policy = settings.base_url, Policy.of(settings)

    async def mint(session: AsyncSession) -> LinkRead:
        link = await links_service.create_link(session, data, policy)
        return links_service.link_read(link, base_url)

    link = with_session(mint)
    typer.echo(f"destination: {link.destination}")
    typer.echo(link.short_url)


@app.command()
def bulk(
    url: Annotated[str, typer.Argument(help="the shop page every link leads to")],
    utm_campaign: Annotated[str, typer.Option(help="the campaign they share")],
    channel: Annotated[
        list[str], typer.Option(help="source/medium, e.g. instagram/social; repeat for each")
    ],
    utm_content: Utm = None,
) -> None:
    """One link per channel for one destination and campaign: all are created, or none."""
    variants = []
    for value in channel:
        source, _, medium = value.partition("/")
        variants.append({"utm_source": source, "utm_medium": medium or "social"})
        if utm_content:
            variants[-1]["utm_content"] = utm_content
    data = _valid(BulkCreate, {"url": url, "utm_campaign": utm_campaign, "variants": variants})
    settings = settings_or_exit()
    base_url, policy = settings.base_url, Policy.of(settings)

    async def mint(session: AsyncSession) -> list[LinkRead]:
        return [
            links_service.link_read(link, base_url)
            for link in await links_service.create_bulk(session, data, policy)
        ]

    for link in with_session(mint):
        typer.echo(f"{link.utm_source}/{link.utm_medium}\t{link.short_url}")


@app.command("list")
def list_command(
    utm_campaign: Utm = None,
    utm_source: Utm = None,
    utm_medium: Utm = None,
    tag: Annotated[str | None, typer.Option()] = None,
    q: Annotated[str | None, typer.Option(help="text in the slug, title or URL")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
) -> None:
    """Links, newest first: slug, short URL, campaign/source/medium, title."""
    base_url = settings_or_exit().base_url
    filters = LinkFilter(utm_source, utm_medium, utm_campaign, tag, q)

    async def listing(session: AsyncSession) -> list[LinkRead]:
        links = await list_links(session, filters, None, limit)
        return [links_service.link_read(link, base_url) for link in links]

    for link in with_session(listing):
        utm = "/".join(v or "-" for v in (link.utm_campaign, link.utm_source, link.utm_medium))
        state = "\toff" if link.disabled else ""
        typer.echo(f"{link.slug}\t{link.short_url}\t{utm}\t{link.title or ''}{state}")


@app.command()
def show(slug: str) -> None:
    """Every field of one link."""
    base_url = settings_or_exit().base_url

    async def one(session: AsyncSession) -> LinkRead:
        return links_service.link_read(await links_service.get_link(session, slug), base_url)

    _show(with_session(one))


def _update(slug: str, changes: dict[str, Any]) -> LinkRead:
    data = _valid(LinkUpdate, changes)
    settings = settings_or_exit()
    base_url, policy = settings.base_url, Policy.of(settings)

    async def change(session: AsyncSession) -> LinkRead:
        link = await links_service.update_link(session, slug, data, policy)
        return links_service.link_read(link, base_url)

    return with_session(change)


@app.command()
def update(
    slug: str,
    url: Annotated[str | None, typer.Option()] = None,
    title: Annotated[str | None, typer.Option()] = None,
    utm_source: Utm = None,
    utm_medium: Utm = None,
    utm_campaign: Utm = None,
    utm_content: Utm = None,
    utm_term: Utm = None,
    tag: Annotated[list[str] | None, typer.Option(help="replaces the tags; repeat")] = None,
    enable: Annotated[bool, typer.Option("--enable", help="switch it on again")] = False,
) -> None:
    """Change the fields given (the others stay)."""
    given = {
        "url": url, "title": title, "utm_source": utm_source, "utm_medium": utm_medium,
        "utm_campaign": utm_campaign, "utm_content": utm_content, "utm_term": utm_term,
        "tags": tag,
    }  # fmt: skip
    changes: dict[str, Any] = {name: value for name, value in given.items() if value is not None}
    if enable:
        changes["disabled"] = False
    _show(_update(slug, changes))


@app.command()
def disable(slug: str) -> None:
    """Switch a link off: it answers 410 from now on (its figures stay)."""
    _update(slug, {"disabled": True})
    typer.echo(f"{slug} switched off")


@app.command("qr")
def qr_command(
    slug: str,
    output: Annotated[Path, typer.Option("--output", "-o", help="a .svg or .png file")],
    scale: Annotated[int, typer.Option(min=1, max=40)] = 10,
) -> None:
    """Write the QR code of a link's short URL to a file (SVG or PNG, by its extension)."""
    suffix = output.suffix.lower()
    if suffix not in (".svg", ".png"):
        typer.echo("--output must end in .svg or .png", err=True)
        raise typer.Exit(2)
    kind: qr.QrFormat = "svg" if suffix == ".svg" else "png"
    base_url = settings_or_exit().base_url

    async def short_url(session: AsyncSession) -> str:
        link = await links_service.get_link(session, slug)
        return links_service.link_read(link, base_url).short_url

    output.write_bytes(qr.render(with_session(short_url), kind, scale))
    typer.echo(f"wrote {output}")
