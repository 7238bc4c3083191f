"""PowerShell's stderr CLIXML decodes into text and typed records (sans-IO)."""

from __future__ import annotations

import dataclasses

import pytest

from aiowsman.protocol.clixml import (
    ClixmlStreams,
    ErrorRecord,
    ProgressRecord,
    decode_clixml,
    unescape,
)

OBJS = '<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'


def _doc(*records: str) -> str:
    return "#< CLIXML\r\n" + OBJS + "".join(records) + "</Objs>"


def _error(*lines: str) -> str:
    return "".join(f'<S S="Error">{line}_x000D__x000A_</S>' for line in [*lines, " "])


@pytest.mark.parametrize(
    ("escaped", "text"),
    [
        ("a_x000D__x000A_b", "a\r\nb"),
        ("_xD83D__xDE00_", "😀"),
        ("_xd83d__xde00_", "😀"),  # hex digits in either case
        ("x_xD834__xDD1E_y_x0009_", "x𝄞y\t"),
        ("_x005F_x000D_", "_x000D_"),  # an escaped underscore is not an escape
        ("_xD800_", "\ufffd"),  # a lone surrogate cannot be carried
        ("_x12_ and _xZZZZ_", "_x12_ and _xZZZZ_"),  # only four hex digits make one
        ("plain ünï", "plain ünï"),
    ],
)
def test_escapes_are_utf16_code_units(escaped: str, text: str) -> None:
    assert unescape(escaped) == text


def test_an_error_record_spans_lines_until_a_blank_one() -> None:
    streams = decode_clixml(
        _doc(
            _error(
                "Get-Item : Cannot find path 'C:\\nope'.",
                "At line:1 char:1",
                "    + CategoryInfo          : ObjectNotFound: (C:\\nope:String) [Get-Item], "
                "ItemNotFoundException",
                "    + FullyQualifiedErrorId : PathNotFound,Microsoft.PowerShell.Commands."
                "GetItemCommand",
            ),
            _error("second : oops"),
        )
    )
    first, second = streams.errors
    assert first.message == "Get-Item : Cannot find path 'C:\\nope'.\nAt line:1 char:1"
    assert first.category_info == (
        "ObjectNotFound: (C:\\nope:String) [Get-Item], ItemNotFoundException"
    )
    assert first.fully_qualified_error_id == (
        "PathNotFound,Microsoft.PowerShell.Commands.GetItemCommand"
    )
    assert second.message == "second : oops" and second.category_info is None


def test_streams_are_kept_apart_and_in_order() -> None:
    streams = decode_clixml(
        _doc(
            '<S S="warning">careful_x000D__x000A_</S>',
            '<S S="verbose">looking</S>',
            _error("bad"),
            '<S S="debug">x=1_x000D__x000A_</S>',
            '<Obj S="information" RefId="0"><TN RefId="0">'
            "<T>System.Management.Automation.InformationRecord</T></TN>"
            '<ToString>hello</ToString><Props><S N="MessageData">hello</S></Props></Obj>',
        )
    )
    assert streams.warnings == ["careful"]
    assert streams.verbose == ["looking"]
    assert streams.debug == ["x=1"]
    assert streams.information == ["hello"]
    assert [e.message for e in streams.errors] == ["bad"]
    assert [s for s, _ in streams.records] == [
        "warning",
        "verbose",
        "error",
        "debug",
        "information",
    ]
    assert streams.text() == "WARNING: careful\nVERBOSE: looking\nbad\nDEBUG: x=1\nhello\n"


def test_progress_records_are_read_and_left_out_of_the_text() -> None:
    streams = decode_clixml(
        _doc(
            '<Obj S="progress" RefId="0"><TN RefId="0">'
            "<T>System.Management.Automation.PSCustomObject</T><T>System.Object</T></TN><MS>"
            '<I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for first use.</AV>'
            "<AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD>"
            "</PR></MS></Obj>"
        )
    )
    (record,) = streams.progress
    assert (record.activity, record.record_type, record.percent_complete) == (
        "Preparing modules for first use.",
        "Completed",
        -1,
    )
    assert streams.text() == ""


def test_every_document_is_read_when_there_are_several() -> None:
    data = _doc('<S S="warning">one</S>') + "\r\n" + _doc('<S S="warning">two</S>')
    assert decode_clixml(data).warnings == ["one", "two"]


def test_plain_stderr_around_the_documents_is_kept() -> None:
    streams = decode_clixml("native failure\r\n" + _doc('<S S="warning">w</S>'))
    assert streams.other == "native failure"
    assert streams.text() == "native failure\nWARNING: w\n"


def test_stderr_without_clixml_is_plain_text() -> None:
    streams = decode_clixml(b"just text\r\n")
    assert streams.other == "just text"
    assert streams.records == []


def test_bytes_are_decoded_with_the_given_codepage_and_a_bom_dropped() -> None:
    data = ("\ufeff" + _doc('<S S="warning">caf\u00e9</S>')).encode("utf-8")
    assert decode_clixml(data, encoding="utf-8").warnings == ["café"]
    data = _doc('<S S="warning">caf\u00e9</S>').encode("cp850")
    assert decode_clixml(data, encoding="cp850").warnings == ["café"]


def test_a_document_cut_off_keeps_its_complete_records() -> None:
    cut = _doc('<S S="warning">kept</S>', '<S S="warning">lo')[: -len("</Objs>")]
    assert decode_clixml(cut).warnings == ["kept"]


def test_a_document_cut_off_after_a_nested_object_keeps_the_whole_record() -> None:
    info = (
        '<Obj S="information" RefId="1"><ToString>i</ToString><Props>'
        '<Obj N="Tags" RefId="2"><LST /></Obj></Props></Obj>'
    )
    cut = _doc(info, '<Obj S="information" RefId="3"><Props><Obj N="Tags"></Obj>')
    assert decode_clixml(cut[: -len("</Objs>")]).information == ["i"]


def test_a_document_that_cannot_be_read_is_kept_as_text_never_expanded() -> None:
    doctype = '<!DOCTYPE x [<!ENTITY a "b">]><Objs>&a;</Objs>'
    streams = decode_clixml("#< CLIXML\r\n" + doctype)
    assert streams.records == []
    assert streams.other == doctype


# -- records and their defaults --------------------------------------------------------------


@pytest.mark.parametrize("record", [ErrorRecord("m"), ProgressRecord("a")])
def test_records_are_immutable(record: object) -> None:
    first_field = dataclasses.fields(record)[0].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(record, first_field, "x")


def test_an_error_record_of_a_message_alone_reads_as_that_message() -> None:
    record = ErrorRecord("it failed")
    assert str(record) == "it failed"
    assert record.text == ""
    assert record.category_info is None and record.fully_qualified_error_id is None


def test_a_progress_record_has_powershells_defaults() -> None:
    # System.Management.Automation.ProgressRecord: -1 means "not given" for
    # the percentage, the parent and the seconds; a new record is Processing.
    assert ProgressRecord("a") == ProgressRecord(
        activity="a",
        status="",
        percent_complete=-1,
        activity_id=0,
        parent_activity_id=-1,
        current_operation=None,
        seconds_remaining=-1,
        record_type="Processing",
    )


def test_empty_streams_have_no_text() -> None:
    streams = ClixmlStreams()
    assert streams.other == ""
    assert streams.text() == ""


def test_plain_text_ends_with_one_line_end_in_the_text() -> None:
    assert ClixmlStreams(other="code X\r\n").text() == "code X\n"
    assert ClixmlStreams(other="\r\nafter a blank line").text() == "\r\nafter a blank line\n"


# -- progress --------------------------------------------------------------------------------


def _progress(record: str) -> str:
    return f'<Obj S="progress" RefId="0"><MS><PR N="Record">{record}</PR></MS></Obj>'


def test_every_field_of_a_progress_record_is_read() -> None:
    streams = decode_clixml(
        _doc(
            _progress(
                "<AV>Copying</AV><AI>3</AI><CO>file.txt</CO><PI>1</PI><PC>40</PC>"
                "<T>Processing</T><SR>12</SR><SD>2 of 5</SD>"
            )
        )
    )
    assert streams.progress == [
        ProgressRecord(
            activity="Copying",
            status="2 of 5",
            percent_complete=40,
            activity_id=3,
            parent_activity_id=1,
            current_operation="file.txt",
            seconds_remaining=12,
            record_type="Processing",
        )
    ]


def test_missing_or_unreadable_progress_fields_take_the_defaults() -> None:
    streams = decode_clixml(_doc(_progress("<AV /><SD></SD><PC>n/a</PC><Nil />")))
    assert streams.progress == [ProgressRecord(activity="")]


def test_a_progress_object_without_a_record_is_skipped() -> None:
    assert decode_clixml(_doc('<Obj S="progress" RefId="0"><MS /></Obj>')).progress == []


# -- strings and line ends -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("escaped", "message"),
    [
        ("a_x000D__x000A_", "a"),
        ("a_x000A_", "a"),  # a bare LF ends the line too
        ("_x000A_indented", "\nindented"),  # only the end is a line end
        ("ends in X", "ends in X"),
        ("", ""),
    ],
)
def test_a_message_loses_only_its_line_end(escaped: str, message: str) -> None:
    assert decode_clixml(_doc(f'<S S="warning">{escaped}</S>')).warnings == [message]


def test_information_written_as_a_string_is_read() -> None:
    streams = decode_clixml(_doc('<S S="information">note_x000D__x000A_</S>'))
    assert streams.information == ["note"]
    assert streams.records == [("information", "note")]


def test_information_without_tostring_takes_its_message_data() -> None:
    streams = decode_clixml(
        _doc(
            '<Obj S="information" RefId="0"><Props><S N="MessageData">hi_x0021_</S></Props></Obj>',
            '<Obj S="information" RefId="1"><Props /></Obj>',
        )
    )
    assert streams.information == ["hi!", ""]


def test_an_error_record_without_a_closing_blank_line_is_kept() -> None:
    streams = decode_clixml(_doc('<S S="Error">bad_x000D__x000A_</S>'))
    assert [e.message for e in streams.errors] == ["bad"]


def test_an_error_message_is_trimmed_at_both_ends() -> None:
    streams = decode_clixml(_doc(_error("  indented : oops  ")))
    assert streams.errors[0].message == "indented : oops"


# -- bytes, headers and plain text -----------------------------------------------------------


def test_bytes_invalid_in_the_codepage_are_replaced_not_raised() -> None:
    streams = decode_clixml(b"bad \xff byte", encoding="utf-8")
    assert streams.other == "bad \ufffd byte"


def test_a_byte_order_mark_leaves_nothing_behind() -> None:
    data = ("\ufeff" + _doc('<S S="warning">w</S>')).encode("utf-8")
    assert decode_clixml(data).other == ""


def test_plain_text_keeps_its_own_characters() -> None:
    assert decode_clixml("XML error X").other == "XML error X"
    assert decode_clixml("\r\nfirst line\r\n").other == "first line"


@pytest.mark.parametrize("line_end", ["\r\n", "\n", ""])
def test_the_clixml_header_line_is_removed_whole(line_end: str) -> None:
    data = f'before\r\n#< CLIXML{line_end}{OBJS}<S S="warning">w</S></Objs>after'
    assert decode_clixml(data).other == "before\r\nafter"


def test_a_document_that_cannot_be_read_does_not_stop_the_next() -> None:
    doctype = '<!DOCTYPE x [<!ENTITY a "b">]><Objs>&a;</Objs>'
    streams = decode_clixml("#< CLIXML\r\n" + doctype + _doc('<S S="warning">next</S>'))
    assert streams.warnings == ["next"]


# -- documents cut off -----------------------------------------------------------------------


def test_text_before_a_document_cut_off_is_kept() -> None:
    cut = "native\r\n" + _doc('<S S="warning">kept</S>')[: -len("</Objs>")]
    streams = decode_clixml(cut)
    assert (streams.other, streams.warnings) == ("native", ["kept"])


def test_a_document_cut_off_at_the_very_start_is_read() -> None:
    cut = OBJS + '<S S="warning">kept</S><S S="war'
    assert decode_clixml(cut).warnings == ["kept"]


def test_a_document_cut_off_before_its_first_record_holds_nothing() -> None:
    streams = decode_clixml("#< CLIXML\r\n" + OBJS + '<S S="warning">lo')
    assert (streams.records, streams.other) == ([], "")


def test_a_document_cut_off_inside_its_root_tag_is_kept_as_text() -> None:
    streams = decode_clixml('#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns')
    assert streams.other == '<Objs Version="1.1.0.1" xmlns'


def test_a_cut_document_is_searched_back_over_at_most_32_record_ends() -> None:
    # Each candidate end is a parse of the whole prefix: the search is bounded.
    partial = '<Obj S="information" RefId="1"><Props>' + "<S>x</S>" * 32
    assert decode_clixml(_doc('<S S="warning">w</S>', partial)[: -len("</Objs>")]).records == []
    partial = '<Obj S="information" RefId="1"><Props>' + "<S>x</S>" * 31
    cut = _doc('<S S="warning">w</S>', partial)[: -len("</Objs>")]
    assert decode_clixml(cut).warnings == ["w"]


@pytest.mark.parametrize("cut", [False, True])
def test_plain_text_mentioning_objs_does_not_swallow_the_document_after_it(cut: bool) -> None:
    data = "tool: unexpected <Objs in input\r\n" + _doc('<S S="warning">w</S>')
    if cut:
        data = data[: -len("</Objs>")]
    streams = decode_clixml(data)
    assert streams.warnings == ["w"]
    assert streams.other == "tool: unexpected <Objs in input"
