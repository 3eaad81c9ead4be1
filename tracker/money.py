"""Exact money: ISO 4217 currencies, decimals in, integer minor units stored, decimals out."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Annotated

import iso4217
from pydantic import AfterValidator


class InvalidMoney(ValueError):
    pass


@lru_cache(maxsize=1024)  # a report formats every amount of every row: 2.5 µs a lookup
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


# The largest amount accepted, in minor units (10 billion EUR; 1 trillion JPY). It keeps every
# stored amount in a BIGINT and a report's sums far from one: SQLite's SUM of integers
# fails past 2**63, which would take nine million orders of this size in one row.
MAX_MINOR = 10**12


def to_minor(amount: Decimal, currency: str) -> int:
    """Decimal amount -> integer minor units; more decimals than the currency has is an error,
    and so is an amount no shop is paid (over MAX_MINOR)."""
    if not amount.is_finite():
        raise InvalidMoney(f"amount {amount} is not a number")
    if amount < 0:
        raise InvalidMoney(f"amount {amount} is negative")
    exponent = currency_exponent(currency)
    if amount and amount.adjusted() + exponent > 12:  # decided before scaling 1e999999
        raise InvalidMoney(f"amount {amount} is over the limit of {_limit(currency)}")
    scaled = amount.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise InvalidMoney(f"{amount} has more decimals than {currency.upper()} allows")
    if scaled > MAX_MINOR:
        raise InvalidMoney(f"amount {amount} is over the limit of {_limit(currency)}")
    return int(scaled)


def _limit(currency: str) -> str:
    return f"{from_minor(MAX_MINOR, currency)} {currency.upper()}"


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


def minor_text(minor: int, currency: str, *, by: int = 1, extra_places: int = 0) -> str:
    """``minor / by`` as text, in the currency's decimals plus ``extra_places``, rounded half
    to even: what ``str`` of the Decimal quantized so would print, digit for digit (a
    negative amount that rounds to nothing stays "-0.00"). Integer arithmetic, because a
    report writes every amount of every row: 2,000 rows took 64 ms through Decimal."""
    places = currency_exponent(currency) + extra_places
    quotient, remainder = divmod(abs(minor) * 10**extra_places, by)
    if 2 * remainder > by or (2 * remainder == by and quotient % 2):
        quotient += 1
    digits = str(quotient)
    if places:
        digits = digits.rjust(places + 1, "0")
        digits = f"{digits[:-places]}.{digits[-places:]}"
    return f"-{digits}" if minor < 0 else digits


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
