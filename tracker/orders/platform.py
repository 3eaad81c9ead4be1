"""What a shop platform is to Tracker: one `Platform` per module, listed in registry.py.

The intake (intake.py) and the webhook routes (router.py) work from this
description alone, so a new platform is a module that builds one, plus a line
in the registry (and its secret's field in `config.Settings`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pydantic import BaseModel, SecretStr, ValidationError

from tracker import money
from tracker.config import Settings
from tracker.orders.events import Envelope, Facts, UnprocessableDelivery, describe

Verifier = Callable[[str, bytes, Mapping[str, str]], None]
Parser = Callable[[str, bytes, str], list[Facts]]


def _never(_body: bytes) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class Platform:
    name: str  # stored with each delivery, and the metrics' label
    path: str  # the endpoint under /webhooks
    summary: str  # the endpoint's OpenAPI text
    secret: Callable[[Settings], SecretStr | None]  # unset: the endpoint is off (404)
    # Raises InvalidSignature; checked on the raw body before anything is read.
    verify: Verifier
    # Where a delivery comes from and what makes it unique, before its body is parsed.
    envelope: Callable[[Mapping[str, str], bytes], Envelope]
    # (topic, body, click id parameter) -> facts. May raise pydantic's ValidationError,
    # money.InvalidMoney or UnprocessableDelivery: `read` turns them into one error.
    parse: Parser
    # An unsigned request the platform sends when a webhook is set up: answered, not stored.
    is_ping: Callable[[bytes], bool] = _never
    # A strict shape checked before the delivery is stored: a wrong body is 400/422 and
    # nothing is kept (the service's own endpoint, whose caller is a developer).
    body_model: type[BaseModel] | None = None

    def read(self, topic: str, body: bytes, click_id_param: str) -> list[Facts]:
        """The delivery's orders and refunds; raises UnprocessableDelivery, whatever was wrong."""
        try:
            return self.parse(topic, body, click_id_param)
        except ValidationError as exc:
            raise UnprocessableDelivery(describe(exc)) from exc
        except money.InvalidMoney as exc:
            raise UnprocessableDelivery(str(exc)) from exc
