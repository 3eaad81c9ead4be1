"""The click journal: a redirect's click is on local disk before the loop's next turn.

A redirect appends its click to a buffer; once per turn of the event loop the
buffer goes to this process's open journal file in one write(). From then on a
crash of the process loses nothing (the kernel holds the bytes), and nothing
the serving process holds grows with the load: the click writer (writer.py,
by default a separate process at a lower CPU priority) reads sealed journal
files at its own pace and deletes each once its clicks are in the database.
A burst the database cannot keep up with waits on disk, not in memory, and
the writer's work never competes with the redirects for the interpreter.

The files, all in `TRACKER_SPOOL_DIR`:

- `active-<pid>-<token>.journal`: being appended to, held under an exclusive
  flock by its process. One whose lock is free belongs to a process that died;
  the writer seals it.
- `clicks-<nanoseconds>-<pid>-<count>.journal`: sealed (fsynced, renamed) every
  `click_flush_interval` seconds or 1 MB; the writer's input, oldest first.

Each file starts with `tracker-clicks/<version>\n`, then frames: payload
length, CRC-32, and the marshal'd list of the clicks of one loop turn, each a
tuple of `ClickRecord`'s fields in the layout of that version (marshal: the
standard library's fastest codec for tuples of plain values; the files are
local and only this service writes them). A frame torn by a machine crash
fails its check and ends the reading. A file of a version this code does not
know (written by a newer Tracker, say) is never guessed at: the writer sets it
aside for a person.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import marshal
import os
import secrets
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tracker.clicks.record import ClickRecord

log = logging.getLogger(__name__)

VERSION = 2
_HEADER = b"tracker-clicks/"
MAGIC = _HEADER + str(VERSION).encode() + b"\n"
# Each version's layout, read into today's ClickRecord. Version 2 is ClickRecord's own;
# version 1 had no bot_signal (its default, None, fills it).
_LAYOUTS: dict[int, Callable[[tuple[Any, ...]], ClickRecord]] = {
    1: lambda fields: ClickRecord(*fields),
    2: ClickRecord._make,
}
SEAL_BYTES = 1 << 20
SEALED_PATTERN = "clicks-*.journal"
ACTIVE_PATTERN = "active-*.journal"
_FRAME = struct.Struct("<II")
_RETRY_SECONDS = 1.0


class NotAJournal(ValueError):
    """A file the writer must not read: not a journal, or of a version this code does not know."""


def _layout(path: Path, data: bytes) -> tuple[Callable[[tuple[Any, ...]], ClickRecord], int]:
    """The reader for the file's version, and where its frames start."""
    if not data.startswith(_HEADER):
        raise NotAJournal(f"{path.name} is not a click journal")
    line_end = data.find(b"\n", len(_HEADER), len(_HEADER) + 16)
    version = data[len(_HEADER) : line_end]
    read = _LAYOUTS.get(int(version)) if line_end > 0 and version.isdigit() else None
    if read is None:
        shown = version.decode("ascii", "replace") if line_end > 0 else "?"
        raise NotAJournal(f"{path.name} is a version {shown} journal; this Tracker reads {VERSION}")
    return read, line_end + 1


def read_records(path: Path) -> list[ClickRecord]:
    """Every click of a journal file, up to a torn frame if a crash left one."""
    data = path.read_bytes()
    read, offset = _layout(path, data)
    clicks: list[ClickRecord] = []
    while offset < len(data):
        start = offset + _FRAME.size
        length, checksum = _FRAME.unpack_from(data, offset) if start <= len(data) else (0, 0)
        payload = data[start : start + length]
        if start > len(data) or len(payload) < length or zlib.crc32(payload) != checksum:
            log.error(
                "%s: frame at byte %d torn (a crash while writing); %d bytes after it unread",
                path.name, offset, len(data) - offset,
            )  # fmt: skip
            break
        clicks += map(read, marshal.loads(payload))
        offset = start + length
    return clicks


def sealed_at(path: Path) -> int:
    """When a sealed file was sealed (Unix nanoseconds), as its name records."""
    return int(path.stem.split("-", 2)[1])


def sealed_count(path: Path) -> int:
    """The number of clicks a sealed file's name records."""
    return int(path.stem.rsplit("-", 1)[1])


def waiting(directory: Path) -> int:
    """Clicks in sealed files, not yet in the database."""
    if not directory.is_dir():
        return 0
    return sum(sealed_count(path) for path in directory.glob(SEALED_PATTERN))


def sealed_name(pid: int, count: int) -> str:
    return f"clicks-{time.time_ns()}-{pid}-{count}.journal"


def try_lock(fd: int) -> bool:
    """An exclusive flock without waiting; False while another process holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def seal_orphans(directory: Path) -> None:
    """Seal the open files of processes that died: their locks are free, their clicks whole."""
    for path in directory.glob(ACTIVE_PATTERN):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue  # sealed by its process meanwhile
        try:
            if not try_lock(fd) or not os.fstat(fd).st_nlink:
                continue
            count = len(read_records(path))
            if count:
                path.rename(directory / sealed_name(0, count))
                log.warning("sealed %s, left open by a process that stopped", path.name)
            else:
                path.unlink()
        except FileNotFoundError:
            continue  # another writer's pass took it meanwhile
        finally:
            os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _finish_seal(fd: int, active: Path, sealed: Path) -> None:
    """On a thread: fsync and rename block for milliseconds, the serving loop must not."""
    try:
        os.fsync(fd)
        active.rename(sealed)
    finally:
        os.close(fd)  # releases the lock: if the rename failed, the writer seals it


class ClickJournal:
    """This process's side: append clicks, write them once per loop turn, seal files."""

    def __init__(self, directory: Path, seal_after: float, seal_bytes: int = SEAL_BYTES) -> None:
        self._directory = directory
        self._seal_after = seal_after
        self._seal_bytes = seal_bytes
        self._buffer: list[ClickRecord] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._write_scheduled = False
        self._turn_written: asyncio.Future[None]  # the current turn's, from open() on
        self._seal_timer: asyncio.TimerHandle | None = None
        self._fd = -1
        self._path = directory
        self._size = 0
        self._count = 0
        self._sealing: dict[Path, asyncio.Future[None]] = {}  # by the name being given

    async def open(self) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        self._loop = asyncio.get_running_loop()
        self._turn_written = self._loop.create_future()
        self._turn_written.set_result(None)
        self._open_file()

    def append(self, record: ClickRecord) -> None:
        if self._loop is None:
            raise RuntimeError("the click journal is not open")
        self._buffer.append(record)
        if not self._write_scheduled:
            self._write_scheduled = True
            self._turn_written = self._loop.create_future()
            self._loop.call_soon(self._write_buffer)

    async def append_and_wait(self, record: ClickRecord) -> None:
        """Append ``record``; return once this turn's clicks are in the file (or, if the disk
        refused them, held for a retry).

        The redirect answers after it: no answer leaves before its click is in
        the kernel's hands, and the answers of one turn leave together, so
        whoever reads them (a proxy, a load generator) is woken once per turn
        instead of once per answer. The turn's future is shared, and asyncio
        cancels the future a cancelled task waits on: when another request of the
        turn was cancelled (its client went away), this one writes the turn now
        and goes on.
        """
        self.append(record)
        try:
            await self._turn_written
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise
            self._write_buffer()

    @property
    def unwritten(self) -> int:
        """Clicks of this process not yet in a sealed file."""
        return self._count + len(self._buffer)

    @property
    def queued(self) -> int:
        """Clicks answered but not yet in the database: every process's sealed files, our rest."""
        return waiting(self._directory) + self.unwritten

    async def seal(self) -> None:
        """Everything appended so far into sealed files, ready for the writer."""
        self._seal()
        await self._sealed()

    async def close(self) -> None:
        self._seal()
        await self._sealed()
        if self._buffer:
            log.error("%d clicks could not be journaled (disk full?), lost", len(self._buffer))
        if self._fd >= 0:
            # Empty: _seal() left nothing in it. Gone before its lock is released, so that
            # the writer never takes it for a dead process's file.
            self._path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = -1
        self._loop = None

    async def _sealed(self) -> None:
        if self._sealing:
            await asyncio.gather(*self._sealing.values(), return_exceptions=True)

    def _open_file(self) -> None:
        name = f"{os.getpid()}-{secrets.token_hex(4)}"
        # Locked before it gets the name the writer looks for: never mistaken for an orphan.
        opening = self._directory / f".opening-{name}"
        fd = os.open(opening, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        _write_all(fd, MAGIC)
        self._path = self._directory / f"active-{name}.journal"
        opening.rename(self._path)
        self._fd, self._size, self._count = fd, len(MAGIC), 0

    def _write_buffer(self) -> None:
        self._write_scheduled = False
        written = self._flush_buffer()
        if not self._turn_written.done():
            self._turn_written.set_result(None)
        if not written:
            return
        if self._size >= self._seal_bytes:
            self._seal()
        elif self._seal_timer is None and self._count and self._loop is not None:
            self._seal_timer = self._loop.call_later(self._seal_after, self._seal)

    def _flush_buffer(self) -> bool:
        """The buffer into the open file; False (and a retry scheduled) if the disk refused."""
        if not self._buffer:
            return True
        payload = marshal.dumps([tuple(record) for record in self._buffer])
        frame = _FRAME.pack(len(payload), zlib.crc32(payload)) + payload
        try:
            _write_all(self._fd, frame)
        except OSError as exc:
            # Disk full or failing: keep the clicks in memory, cut the torn frame, retry.
            log.error("click journal not writable, %d clicks held: %s", len(self._buffer), exc)
            os.ftruncate(self._fd, self._size)
            if self._loop is not None and not self._write_scheduled:
                self._write_scheduled = True
                self._loop.call_later(_RETRY_SECONDS, self._write_buffer)
            return False
        self._count += len(self._buffer)
        self._size += len(frame)
        self._buffer = []
        return True

    def _seal(self) -> None:
        if self._seal_timer is not None:
            self._seal_timer.cancel()
            self._seal_timer = None
        if not self._flush_buffer() or self._count == 0 or self._loop is None:
            return
        fd, active = self._fd, self._path
        sealed = self._directory / sealed_name(os.getpid(), self._count)
        self._open_file()
        future = self._loop.run_in_executor(None, _finish_seal, fd, active, sealed)
        self._sealing[sealed] = future

        def sealed_now(done: asyncio.Future[None]) -> None:
            del self._sealing[sealed]
            if done.exception() is not None:
                log.error("journal %s not sealed, the writer will: %s", active, done.exception())

        future.add_done_callback(sealed_now)
