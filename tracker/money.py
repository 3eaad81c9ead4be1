"""Exact money: ISO 4217 currencies, decimals in, integer minor units stored, decimals out."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import iso4217
from pydantic import AfterValidator


class InvalidMoney(ValueError):
    pass


def currency_exponent(code: str) -> int:
    """Digits after the decimal point (2 for EUR, 0 for JPY, 3 for KWD); unknown codes raise."""
    upper = code.strip().upper()
    try:
        exponent = iso4217.Currency(upper).exponent
    except ValueError as exc:
        raise InvalidMoney(f"unknown currency {code!r}") from exc
    if exponent is None or len(upper) != 3:
        raise InvalidMoney(f"{code!r} is not a currency orders are paid in")
    return int(exponent)


def normalize_currency(code: str) -> str:
    currency_exponent(code)
    return code.strip().upper()


def _currency_field(value: str) -> str:
    try:
        return normalize_currency(value)
    except InvalidMoney as exc:
        raise ValueError(str(exc)) from exc


# An ISO 4217 code in a request body: validated, upper-cased.
Currency = Annotated[str, AfterValidator(_currency_field)]


def to_minor(amount: Decimal, currency: str) -> int:
    """Decimal amount -> integer minor units; more decimals than the currency has is an error."""
    if amount < 0:
        raise InvalidMoney(f"amount {amount} is negative")
    scaled = amount.scaleb(currency_exponent(currency))
    if scaled != scaled.to_integral_value():
        raise InvalidMoney(f"{amount} has more decimals than {currency.upper()} allows")
    return int(scaled)


def require_fit(amount: Decimal, currency: str) -> None:
    """For a body's model validator: an amount its currency cannot hold is the body's error
    (a ValueError, which pydantic reports as a 422), not the server's."""
    try:
        to_minor(amount, currency)
    except InvalidMoney as exc:
        raise ValueError(str(exc)) from exc


def from_minor(minor: int, currency: str) -> Decimal:
    """Integer minor units -> Decimal with exactly the currency's number of decimals."""
    exponent = currency_exponent(currency)
    return Decimal(minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))


# Stripe's own minor units differ from ISO 4217 for a few currencies (its "special cases").
_STRIPE_ZERO_DECIMAL = frozenset(
    {
        "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA",
        "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
    }
)  # fmt: skip
_STRIPE_THREE_DECIMAL = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])


def minor_from_stripe(amount: int, currency: str) -> int:
    """Stripe's integer amount -> our minor units (ISO 4217 exponent), exactly."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidMoney("a Stripe amount must be an integer")
    code = normalize_currency(currency)
    if code in _STRIPE_ZERO_DECIMAL:
        stripe_exponent = 0
    elif code in _STRIPE_THREE_DECIMAL:
        stripe_exponent = 3
    else:
        stripe_exponent = 2
    return to_minor(Decimal(amount).scaleb(-stripe_exponent), code)
