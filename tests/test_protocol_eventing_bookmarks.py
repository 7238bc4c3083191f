"""Bookmarks of a subscription (DSP0226 10.2.6): read, compared, advanced, rendered.

A Windows bookmark is a ``BookmarkList`` of ``Bookmark Channel=... RecordId=...``
entries (openwec's capture of a Windows 10 delivery); anything else is kept
opaque. These tests pin what the client reads from a bookmark, the XML it
writes back, and when two bookmarks are the same position.
"""

from __future__ import annotations

import pytest

from aiowsman.errors import ConfigurationError
from aiowsman.protocol import Bookmark, parse_envelope, parse_event_batch
from aiowsman.protocol import namespaces as ns

S, A, N, W = ns.NS_SOAP, ns.NS_ADDRESSING, ns.NS_ENUMERATION, ns.NS_WSMAN
LIST = (
    '<BookmarkList><Bookmark Channel="System" RecordId="40"/>'
    '<Bookmark Channel="Application" RecordId="7" IsCurrent="true"/></BookmarkList>'
)


def entry(channel: str = "System", record: str = "40", extra: str = "") -> str:
    return (
        f'<BookmarkList><Bookmark Channel="{channel}" RecordId="{record}"{extra}/></BookmarkList>'
    )


# -- reading ----------------------------------------------------------------------------


def test_whitespace_around_a_bookmark_list_is_not_part_of_it() -> None:
    mark = Bookmark(f"\n  {LIST}\n")
    assert mark.positions == {"System": 40, "Application": 7}
    assert str(mark) == LIST


def test_a_record_id_padded_with_spaces_is_still_a_position() -> None:
    assert Bookmark(entry(record=" 40 ")).positions == {"System": 40}


@pytest.mark.parametrize("record", ["", "x40", "-1", "²", "٤٠"])
def test_a_record_id_that_is_not_ascii_digits_keeps_the_bookmark_opaque(record: str) -> None:
    # "²" and Arabic-Indic digits pass str.isdigit(); int() refuses the first.
    mark = Bookmark(entry(record=record))
    assert mark.positions is None
    assert str(mark) == entry(record=record)


def test_an_entry_without_a_channel_keeps_the_bookmark_opaque() -> None:
    assert Bookmark('<BookmarkList><Bookmark RecordId="40"/></BookmarkList>').positions is None


def test_other_elements_in_a_bookmark_list_are_skipped() -> None:
    mark = Bookmark(
        '<BookmarkList><Note/><Bookmark Channel="System" RecordId="40"/></BookmarkList>'
    )
    assert mark.positions == {"System": 40}


@pytest.mark.parametrize("value", ["true", " True ", "TRUE"])
def test_is_current_is_read_whatever_its_case_and_spacing(value: str) -> None:
    assert Bookmark(entry(extra=f' IsCurrent="{value}"')).current == "System"


def test_a_list_without_is_current_has_no_current_channel() -> None:
    assert Bookmark(entry(extra=' IsCurrent="false"')).current is None


def test_only_the_reserved_uri_is_the_earliest_bookmark() -> None:
    assert Bookmark(ns.BOOKMARK_EARLIEST).is_earliest is True
    assert Bookmark(LIST).is_earliest is False
    assert Bookmark.from_positions({"System": 1}).is_earliest is False


# -- advancing and rendering --------------------------------------------------------------


def test_an_advanced_bookmark_has_one_entry_per_channel_and_marks_the_last() -> None:
    mark = Bookmark(LIST).advanced("System", 41)
    assert mark is not None
    assert mark.xml == (
        '<BookmarkList><Bookmark Channel="System" RecordId="41" IsCurrent="true"/>'
        '<Bookmark Channel="Application" RecordId="7"/></BookmarkList>'
    )


def test_a_rendered_bookmark_escapes_the_channel_name() -> None:
    mark = Bookmark.from_positions([('Ops & "Apps"', 3)])
    assert mark.xml == (
        '<BookmarkList><Bookmark Channel="Ops &amp; &quot;Apps&quot;" RecordId="3"/></BookmarkList>'
    )
    assert Bookmark(mark.xml).positions == {'Ops & "Apps"': 3}


@pytest.mark.parametrize(
    ("channel", "record"), [("System", None), (None, 5), ("", 5), ("System", -1)]
)
def test_an_event_without_channel_or_record_number_cannot_advance_a_bookmark(
    channel: str | None, record: int | None
) -> None:
    assert Bookmark(LIST).advanced(channel, record) is None


def test_a_bookmark_can_stand_before_the_first_record() -> None:
    # Windows numbers records from 1: position 0 means "nothing read yet".
    mark = Bookmark(LIST).advanced("Security", 0)
    assert mark is not None and mark.positions == {"System": 40, "Application": 7, "Security": 0}


def test_repr_shows_the_positions_or_the_start_of_opaque_content() -> None:
    assert repr(Bookmark(LIST)) == "<Bookmark System#40, Application#7>"
    assert repr(Bookmark("<Cursor at='x'/>")) == "<Bookmark \"<Cursor at='x'/>\">"


# -- equality -------------------------------------------------------------------------------


def test_bookmark_lists_are_equal_by_position_whatever_their_text() -> None:
    spaced = Bookmark(
        '<BookmarkList>\n  <Bookmark RecordId="40" Channel="System"/>\n</BookmarkList>'
    )
    compact = Bookmark.from_positions({"System": 40})
    assert spaced == compact
    assert hash(spaced) == hash(compact)


def test_bookmark_lists_differing_only_in_the_current_channel_differ() -> None:
    assert Bookmark.from_positions({"System": 5}, "System") != Bookmark.from_positions(
        {"System": 5}
    )


def test_opaque_bookmarks_are_equal_by_text() -> None:
    assert Bookmark("<Cursor at='x'/>") == Bookmark(" <Cursor at='x'/>")
    assert Bookmark("<Cursor at='x'/>") != Bookmark("<Cursor at='y'/>")
    assert len({Bookmark("token-1"), Bookmark("token-1"), Bookmark("token-2")}) == 2


@pytest.mark.parametrize(
    "mark",
    [
        Bookmark(LIST),
        Bookmark("token"),
        Bookmark.from_positions({"System": 5}, "System"),
        Bookmark.from_positions({"System": 0}),
    ],
    ids=["list", "opaque", "positions", "record-0"],
)
def test_a_bookmark_equals_itself_read_back_from_its_xml(mark: Bookmark) -> None:
    # What pickling does (__reduce__ keeps the XML), and what a caller who
    # saved str(bookmark) gets back.
    again = Bookmark(mark.xml)
    assert (again == mark, mark == again) == (True, True)
    assert hash(again) == hash(mark)
    assert again.positions == mark.positions


@pytest.mark.parametrize("position", [("", 5), ("System", -1)])
def test_positions_need_a_channel_and_a_record_number(position: tuple[str, int]) -> None:
    # Either would render XML that reads back as an opaque bookmark, unequal
    # in hash to the one it came from.
    with pytest.raises(ConfigurationError):
        Bookmark.from_positions([position])


def test_a_bookmark_is_not_equal_to_its_text() -> None:
    assert (Bookmark(LIST) == LIST) is False
    assert (Bookmark("token") == "token") is False


# -- a bookmark in an event delivery ----------------------------------------------------------


def delivery(bookmark: str) -> bytes:
    return (
        f'<s:Envelope xmlns:s="{S}" xmlns:a="{A}" xmlns:n="{N}" xmlns:w="{W}">'
        f"<s:Header><a:Action>{ns.ACTION_PULL_RESPONSE}</a:Action>{bookmark}</s:Header>"
        "<s:Body><n:PullResponse><n:EndOfSequence/></n:PullResponse></s:Body></s:Envelope>"
    ).encode()


def test_a_delivered_bookmark_list_keeps_none_of_the_envelopes_namespaces() -> None:
    batch = parse_event_batch(parse_envelope(delivery(f"<w:Bookmark>{LIST}</w:Bookmark>")))
    assert batch.bookmark is not None
    assert batch.bookmark.xml == LIST


def test_a_delivered_bookmark_of_plain_text_is_kept_as_opaque_text() -> None:
    batch = parse_event_batch(parse_envelope(delivery("<w:Bookmark> cursor-17 </w:Bookmark>")))
    assert batch.bookmark is not None
    assert (batch.bookmark.xml, batch.bookmark.positions) == ("cursor-17", None)


@pytest.mark.parametrize("empty", ["<w:Bookmark/>", "<w:Bookmark>  </w:Bookmark>"])
def test_an_empty_delivered_bookmark_is_no_bookmark(empty: str) -> None:
    assert parse_event_batch(parse_envelope(delivery(empty))).bookmark is None
