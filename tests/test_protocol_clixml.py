"""PowerShell's stderr CLIXML decodes into text and typed records (sans-IO)."""

from __future__ import annotations

import pytest

from aiowsman.protocol.clixml import decode_clixml, unescape

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
