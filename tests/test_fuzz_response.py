"""Fuzzing the response parser from the real corpus.

Seeds are the captured WS-Man messages in ``tests/corpus``; hypothesis
mutates them (byte flips, truncation, splicing two messages, duplicating an
element, inserting bytes, re-encoding, and replacing a number the parser
reads -- an error code, a count, a date -- with number-like text: other
scripts' digits, superscripts, signs, exponents) and feeds them through everything that
reads a response: :func:`parse_envelope`, :func:`check_response`, every
``parse_*`` function, and every item's ``to_dict`` / ``repr`` / HTML. The
only exceptions allowed out are the library's own (:class:`WSManError`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiowsman.errors import WSManError
from aiowsman.protocol import response as resp
from aiowsman.protocol.envelope import Request
from aiowsman.protocol.items import Item
from aiowsman.protocol.locator import EndpointReference

CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.xml"))
SEEDS = [p.read_bytes() for p in CORPUS]
PARSERS: list[Callable[[resp.Envelope], Any]] = [
    resp.parse_identify,
    resp.parse_get,
    resp.parse_put,
    resp.parse_create,
    resp.parse_delete,
    resp.parse_invoke,
    resp.parse_enumeration,
]
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_ELEMENT = re.compile(rb"<([A-Za-z][\w.:-]*)[^<>]*>[^<]*</\1>")


def _flip(data: bytes, draw: st.DrawFn) -> bytes:
    if not data:
        return data
    pos = draw(st.integers(0, len(data) - 1))
    return data[:pos] + bytes([data[pos] ^ draw(st.integers(1, 255))]) + data[pos + 1 :]


def _truncate(data: bytes, draw: st.DrawFn) -> bytes:
    return data[: draw(st.integers(0, len(data)))]


def _splice(data: bytes, draw: st.DrawFn) -> bytes:
    other = draw(st.sampled_from(SEEDS))
    return data[: draw(st.integers(0, len(data)))] + other[draw(st.integers(0, len(other))) :]


def _duplicate(data: bytes, draw: st.DrawFn) -> bytes:
    matches = list(_ELEMENT.finditer(data))
    if not matches:
        return data
    m = draw(st.sampled_from(matches))
    times = draw(st.integers(1, 3))
    return data[: m.end()] + m.group(0) * times + data[m.end() :]


def _insert(data: bytes, draw: st.DrawFn) -> bytes:
    pos = draw(st.integers(0, len(data)))
    junk = draw(
        st.one_of(
            st.binary(max_size=16),
            st.sampled_from(
                [b"<!DOCTYPE x>", b"&x;", b"]]>", b"<![CDATA[", b"\x00", b"\xff\xfe", b"</s:Body>"]
            ),
        )
    )
    return data[:pos] + junk + data[pos:]


def _reencode(data: bytes, draw: st.DrawFn) -> bytes:
    text = data.decode("utf-8", "replace")
    return text.encode(draw(st.sampled_from(["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig"])))


#: Attribute values and element texts made of digits: the fields the parser
#: turns into numbers (f:WSManFault/@Code, error_Code, DMTF datetimes...).
_NUMBER = re.compile(rb'(?<==")[0-9][0-9.+:-]*(?=")|(?<=>)[0-9][0-9.+:-]*(?=<)')
_NUMBERISH = st.one_of(
    st.sampled_from(
        ["\u00b2", "\u0661\u0662", "\uff11", "-1", "+7", "1e3", "0x1F", " 12 ", "", "9" * 30]
    ),
    st.text(st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=6),
    st.text(max_size=6),
)


def _renumber(data: bytes, draw: st.DrawFn) -> bytes:
    matches = list(_NUMBER.finditer(data))
    if not matches:
        return data
    m = draw(st.sampled_from(matches))
    value = draw(_NUMBERISH).encode("utf-8", "surrogatepass")
    return data[: m.start()] + value + data[m.end() :]


MUTATIONS = [_flip, _truncate, _splice, _duplicate, _insert, _reencode, _renumber]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = draw(st.sampled_from(SEEDS))
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=4)):
        data = mutation(data, draw)
    return data


content_types = st.sampled_from(
    [
        None,
        "application/soap+xml;charset=UTF-8",
        "application/soap+xml;charset=UTF-16",
        "text/xml; charset=utf-16le",
        "application/soap+xml;charset=latin-1",
        "application/soap+xml",
    ]
)


def _use(value: Any) -> None:
    """Touch everything a caller may touch on a parsed result."""
    if isinstance(value, Item):
        value.to_dict()
        repr(value)
        value._repr_html_()
        list(value.keys())
        if value.epr is not None:
            value.epr.to_locator()
    elif isinstance(value, EndpointReference):
        value.to_locator()
        repr(value)
    elif isinstance(value, resp.EnumerationBatch):
        for item in value.items:
            _use(item)
    elif isinstance(value, resp.CreateResult):
        _use(value.reference)
        if value.item is not None:
            _use(value.item)
    elif value is not None:
        repr(value)


def exercise(data: bytes, content_type: str | None, status: int) -> None:
    """Parse ``data`` every way the client can; only WSManError may escape."""
    try:
        envelope = resp.parse_envelope(data, content_type, max_size=4_000_000)
    except WSManError:
        return
    try:
        _ = envelope.fault
    except WSManError:
        pass
    request = Request("Get", "a", envelope.relates_to or "uuid:x", b"")
    try:
        resp.check_response(envelope, request, status)
    except WSManError as exc:
        str(exc)
        repr(exc)
    for parse in PARSERS:
        try:
            _use(parse(envelope))
        except WSManError as exc:
            str(exc)


def test_the_corpus_is_there() -> None:
    assert len(SEEDS) >= 50


def test_every_corpus_message_goes_through_every_parser() -> None:
    for seed in SEEDS:
        exercise(seed, "application/soap+xml;charset=UTF-8", 200)


@FUZZ
@given(data=mutated(), content_type=content_types, status=st.sampled_from([200, 400, 500]))
def test_mutated_corpus_messages_raise_only_wsman_errors(
    data: bytes, content_type: str | None, status: int
) -> None:
    exercise(data, content_type, status)


@FUZZ
@given(data=st.data())
def test_number_like_text_where_numbers_are_read_raises_only_wsman_errors(
    data: st.DataObject,
) -> None:
    seed = data.draw(st.sampled_from([s for s in SEEDS if _NUMBER.search(s)]))
    for _ in range(data.draw(st.integers(1, 3))):
        seed = _renumber(seed, data.draw)
    exercise(seed, "application/soap+xml;charset=UTF-8", 500)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=512), content_type=content_types)
def test_arbitrary_bytes_raise_only_wsman_errors(data: bytes, content_type: str | None) -> None:
    exercise(data, content_type, 200)
