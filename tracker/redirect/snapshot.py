"""The links this host has served, on local disk: redirects survive a restart during an outage.

`links.snapshot` beside the click journal holds each link the processes of
this host looked up (as the cache holds it: destination, status, limits), so
that a process started while the database is unreachable still answers every
link that was ever served here. The processes merge their memory into it,
under a lock, every SAVE_SECONDS when something changed and when they stop;
links changed through this host leave it at the next save. It is read at
start and consulted only when the database cannot answer for a slug.
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import marshal
import os
from collections.abc import Iterable
from pathlib import Path

from tracker.redirect.link import CachedLink

log = logging.getLogger(__name__)

FILE = "links.snapshot"
VERSION = 2
# Version 1 ended each link with its count of human clicks, now held by the database.
_READABLE = (1, VERSION)
SAVE_SECONDS = 30.0
MAX_LINKS = 200_000


def load(directory: Path) -> dict[str, CachedLink]:
    """The links of the snapshot; none if there is none, or it cannot be read (said once)."""
    try:
        data = marshal.loads((directory / FILE).read_bytes())
        version = data.get("version")
        if version not in _READABLE:
            raise ValueError(f"version {version!r}, not {VERSION}")
        end = len(dataclasses.fields(CachedLink))
        return {slug: CachedLink(*fields[:end]) for slug, fields in data["links"].items()}
    except FileNotFoundError:
        return {}
    except (ValueError, EOFError, TypeError, KeyError, AttributeError) as exc:
        log.error("link snapshot %s unreadable, not used: %s", directory / FILE, exc)
        return {}


def save(directory: Path, links: dict[str, CachedLink], dropped: Iterable[str]) -> None:
    """Merge ``links`` into the snapshot (they win), without ``dropped``; on a thread."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / f"{FILE}.lock").open("w") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        merged = load(directory)
        for slug in dropped:
            merged.pop(slug, None)
        merged.update(links)
        kept = dict(list(merged.items())[-MAX_LINKS:])
        payload = {
            "version": VERSION,
            "links": {slug: dataclasses.astuple(link) for slug, link in kept.items()},
        }
        temporary = directory / f".{FILE}.{os.getpid()}"
        temporary.write_bytes(marshal.dumps(payload))
        temporary.rename(directory / FILE)
