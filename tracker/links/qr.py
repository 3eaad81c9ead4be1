"""QR codes of short URLs, drawn by segno (no image library needed for PNG)."""

from __future__ import annotations

import io
from typing import Literal

QrFormat = Literal["svg", "png"]
MEDIA_TYPES: dict[str, str] = {"svg": "image/svg+xml", "png": "image/png"}


def render(text: str, kind: QrFormat, scale: int) -> bytes:
    import segno  # here, not at the top: a process that only redirects never pays its memory

    # Error level M survives a smudged print; border 4 is the quiet zone the standard asks for.
    code = segno.make(text, error="m", micro=False)
    buffer = io.BytesIO()
    code.save(buffer, kind=kind, scale=scale, border=4)
    return buffer.getvalue()
