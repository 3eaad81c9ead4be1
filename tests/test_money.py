"""Exact money without a database."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tracker import money


class TestMoney:
    @given(
        minor=st.integers(-(10**13), 10**13),
        currency=st.sampled_from(["EUR", "JPY", "KWD", "CLF"]),  # 2, 0, 3 and 4 decimals
        by=st.integers(1, 10**7),
        extra_places=st.sampled_from([0, 2]),
    )
    @example(minor=5, currency="EUR", by=2, extra_places=0)  # 2.5 cents: 0.02
    @example(minor=15, currency="EUR", by=2, extra_places=0)  # 7.5 cents: 0.08
    @example(minor=-5, currency="JPY", by=2, extra_places=0)  # -2.5 yen: -2
    @example(minor=-1, currency="EUR", by=1000, extra_places=2)  # -0.0000
    def test_minor_text_prints_what_decimal_prints(
        self, minor: int, currency: str, by: int, extra_places: int
    ) -> None:
        """Integer arithmetic for speed, Decimal's answer to the digit: half to even, the sign
        of a negative amount that rounds to nothing kept."""
        places = Decimal(1).scaleb(-(money.currency_exponent(currency) + extra_places))
        expected = (money.from_minor(minor, currency) / Decimal(by)).quantize(
            places, rounding=ROUND_HALF_EVEN
        )
        assert money.minor_text(minor, currency, by=by, extra_places=extra_places) == str(expected)

    @pytest.mark.parametrize(
        ("amount", "currency", "minor"),
        [
            ("12.30", "EUR", 1230),
            ("0.01", "usd", 1),
            ("4500", "JPY", 4500),
            ("1.234", "KWD", 1234),
            ("0", "EUR", 0),
        ],
    )
    def test_round_trip(self, amount: str, currency: str, minor: int) -> None:
        assert money.to_minor(Decimal(amount), currency) == minor
        assert money.from_minor(minor, currency) == Decimal(amount)

    def test_decimals_are_kept_as_the_currency_has_them(self) -> None:
        assert str(money.from_minor(1230, "EUR")) == "12.30"
        assert str(money.from_minor(4500, "JPY")) == "4500"

    @pytest.mark.parametrize(
        ("amount", "currency"),
        [
            ("-1.00", "EUR"),
            ("12.345", "EUR"),
            ("10.5", "JPY"),
            ("1", "XYZ"),
            ("1", "XAU"),
            ("1", "EURO"),
            ("1e30", "EUR"),  # the amount that once broke intake and reports
            ("92233720368547758.07", "EUR"),  # two of these overflowed SQLite's SUM
            ("10000000000.01", "EUR"),  # one cent over the limit
            ("1e999999", "JPY"),
            ("Infinity", "EUR"),
            ("NaN", "EUR"),
        ],
    )
    def test_refused(self, amount: str, currency: str) -> None:
        with pytest.raises(money.InvalidMoney):
            money.to_minor(Decimal(amount), currency)

    def test_the_limit_itself_is_accepted(self) -> None:
        assert money.to_minor(Decimal("10000000000.00"), "EUR") == money.MAX_MINOR
        assert money.to_minor(Decimal("1000000000000"), "JPY") == money.MAX_MINOR
        with pytest.raises(money.InvalidMoney, match=r"over the limit of 1000000000\.000 KWD"):
            money.to_minor(Decimal("1000000000.001"), "KWD")

    @pytest.mark.parametrize(
        ("amount", "currency", "minor"),
        [
            (4500, "jpy", 4500),
            (1234, "eur", 1234),
            (500, "isk", 5),
            (1000, "mga", 100000),
            (1230, "kwd", 1230),
        ],
    )
    def test_stripe_minor_units(self, amount: int, currency: str, minor: int) -> None:
        assert money.minor_from_stripe(amount, currency) == minor
