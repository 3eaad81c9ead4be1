"""The UTM merge and URL normalisation: examples and properties (hypothesis)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.links.utm import (
    UTM_FIELDS,
    InvalidURL,
    destination,
    normalize_url,
    read_utm,
    request_segments,
)

# Parameter names and values as they appear in real shop URLs, unicode included.
_names = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=12
).filter(lambda name: not name.startswith("utm_"))
_values = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=20)
_utm_values = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=30
)
_fields = st.dictionaries(st.sampled_from(UTM_FIELDS), _utm_values)
_params = st.lists(st.tuples(_names, _values), max_size=5)
_fragments = st.one_of(
    st.just(""),
    st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=10),
)


def _url(params: list[tuple[str, str]], fragment: str, old_utm: dict[str, str]) -> str:
    from urllib.parse import quote, urlencode

    query = urlencode([*params, *old_utm.items()], quote_via=quote)
    return normalize_url(
        f"https://shop.example.com/p?{query}" + (f"#{fragment}" if fragment else "")
    )


class TestRequestSegments:
    """A short URL's own query, on its way into a Location header."""

    @given(st.binary(max_size=60), st.sampled_from(["tclid", "a"]))
    def test_keeps_every_parameter_but_the_dropped_one_in_safe_ascii(
        self, raw: bytes, drop: str
    ) -> None:
        segments = request_segments(raw, drop)
        query = "&".join(segment for _, segment in segments)
        assert query.isascii()
        assert not any(ch <= " " or ch == "\x7f" for ch in query)
        expected = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
        assert parse_qsl(query, keep_blank_values=True) == [
            (key, value) for key, value in expected if key != drop
        ]

    def test_a_plain_query_keeps_its_exact_bytes(self) -> None:
        segments = request_segments(b"utm_content=a+b&x=%C3%A9&tclid=forged&flag", "tclid")
        assert segments == (("utm_content", "utm_content=a+b"), ("x", "x=%C3%A9"), ("flag", "flag"))

    def test_raw_unicode_and_spaces_are_encoded(self) -> None:
        segments = request_segments("q=café latte&n=1".encode(), "tclid")
        assert [segment for _, segment in segments] == ["q=caf%C3%A9%20latte", "n=1"]


class TestMergeProperties:
    @given(_params, _fragments, _fields, _fields)
    def test_keeps_other_parameters_and_the_fragment(
        self,
        params: list[tuple[str, str]],
        fragment: str,
        old_utm: dict[str, str],
        fields: dict[str, str],
    ) -> None:
        url = _url(params, fragment, old_utm)
        merged = destination(url, fields)
        parts = urlsplit(merged)
        others = [
            (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in UTM_FIELDS
        ]
        assert others == [
            (k, v)
            for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)
            if k not in UTM_FIELDS
        ]
        assert parts.fragment == fragment

    @given(_params, _fragments, _fields, _fields)
    def test_is_idempotent(
        self,
        params: list[tuple[str, str]],
        fragment: str,
        old_utm: dict[str, str],
        fields: dict[str, str],
    ) -> None:
        once = destination(_url(params, fragment, old_utm), fields)
        assert destination(once, fields) == once

    @given(_params, _fragments, _fields, _fields)
    def test_reads_back_the_fields_given_and_they_win(
        self,
        params: list[tuple[str, str]],
        fragment: str,
        old_utm: dict[str, str],
        fields: dict[str, str],
    ) -> None:
        merged = destination(_url(params, fragment, old_utm), fields)
        assert read_utm(merged) == {**old_utm, **fields}
        assert merged.isascii() and " " not in merged


class TestNormalize:
    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("HTTPS://Shop.Example.com/A?b=C#D", "https://shop.example.com/A?b=C#D"),
            ("https://shop.example.com", "https://shop.example.com"),
            ("http://127.0.0.1:8080/x", "http://127.0.0.1:8080/x"),
            ("http://[2001:db8::1]/x", "http://[2001:db8::1]/x"),
            ("https://ex.com/%E2%82%AC?x=%20", "https://ex.com/%E2%82%AC?x=%20"),
            ("https://ex.com/€?x=€#€", "https://ex.com/%E2%82%AC?x=%E2%82%AC#%E2%82%AC"),
            ("https://münchen.de/", "https://xn--mnchen-3ya.de/"),
        ],
    )
    def test_valid(self, url: str, expected: str) -> None:
        assert normalize_url(url) == expected

    @pytest.mark.parametrize(
        "url",
        [
            "javascript:alert(1)",
            "JavaScript://%0aalert(1)",
            "data:text/html,x",
            "ftp://ex.com/",
            "//ex.com/path",
            "http://",
            "https://ex.com/a b",
            "https://ex.com/\r\nx",
            "https://ex.com/\x00",
            "https://ex.com/\u2028",
            "https://u:p@ex.com/",
            "https://ex.com:0x50/",
            "https://" + "a" * 2100 + ".com/",
            "https://ex.com/" + "€" * 400,  # under 2048 characters, over it once encoded
        ],
    )
    def test_invalid(self, url: str) -> None:
        with pytest.raises(InvalidURL):
            normalize_url(url)

    def test_utm_fields_given_win_over_the_urls_own(self) -> None:
        url = "https://ex.com/?utm_source=old&keep=1&utm_medium=email#f"
        assert destination(url, {"utm_source": "ig", "utm_campaign": None}) == (
            "https://ex.com/?keep=1&utm_medium=email&utm_source=ig#f"
        )
