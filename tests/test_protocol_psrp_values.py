"""PowerShell remoting's sans-IO helpers: plain values, whole fragments, the pool's shell.

What ``to_python`` makes of each value psrpcore reads (the built-in type, never
a psrpcore subclass), how deep it goes, how ``FragmentBuffer`` cuts output
blocks back into whole MS-PSRP 2.2.4 fragments, and the Create of a pool's
shell (MS-PSRP 3.1.5.3.1).
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import pickle
import struct
import uuid
from typing import Any
from xml.etree import ElementTree

import psrpcore.types as ps
import pytest

from aiowsman.errors import ConfigurationError, ProtocolError
from aiowsman.protocol import namespaces as ns
from aiowsman.protocol.clixml import ProgressRecord
from aiowsman.protocol.psrp import (
    FRAGMENT_HEADER,
    MAX_DEPTH,
    MAX_FRAGMENT,
    FragmentBuffer,
    InformationRecord,
    OutputList,
    configuration_uri,
    creation_xml,
    error_record,
    information_record,
    pool_shell_spec,
    progress_record,
    to_python,
    type_names,
)


def _clixml(xml: str) -> Any:
    return ps.deserialize(ElementTree.fromstring(xml), None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        (ps.PSString("s"), "s"),
        (ps.PSInt(7), 7),
        (ps.PSInt64(2**40), 2**40),
        (ps.PSDouble(1.5), 1.5),
        (ps.PSDecimal("1.25"), decimal.Decimal("1.25")),
        (ps.PSByteArray(b"ab"), b"ab"),
        (
            ps.PSDateTime(2026, 1, 2, 3, 4, 5, 6, tzinfo=datetime.UTC),
            datetime.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=datetime.UTC),
        ),
        (
            ps.PSDuration(days=1, seconds=2, microseconds=3),
            datetime.timedelta(days=1, seconds=2, microseconds=3),
        ),
        (ps.PSGuid(int=5), uuid.UUID(int=5)),
    ],
)
def test_primitives_become_the_built_in_type(value: Any, plain: Any) -> None:
    result = to_python(value)
    assert result == plain
    assert type(result) is type(plain)


@pytest.mark.parametrize("value", [None, True, False, ps.PSBool(True)])
def test_none_and_booleans_stay_as_they_are(value: Any) -> None:
    result = to_python(value)
    assert result is value or result is bool(value)
    assert type(result) is type(value)


def test_a_secure_string_stays_hidden() -> None:
    assert to_python(ps.PSSecureString("pw")) == "<SecureString>"


def test_an_enum_becomes_its_name() -> None:
    state = _clixml(
        '<Obj RefId="0"><I32>1</I32><TN RefId="0">'
        "<T>System.Management.Automation.PSInvocationState</T><T>System.Enum</T>"
        "<T>System.ValueType</T><T>System.Object</T></TN><ToString>Running</ToString></Obj>"
    )
    assert to_python(state) == "Running"


def test_an_object_whose_type_merely_starts_like_an_enum_is_not_one() -> None:
    value = _clixml(
        '<Obj RefId="0"><TN RefId="0"><T>System.Enum.Helper</T></TN>'
        '<ToString>text</ToString><Props><S N="A">a</S></Props></Obj>'
    )
    assert to_python(value) == {"A": "a"}


def test_an_object_is_a_dict_of_its_properties_extended_ones_winning() -> None:
    value = _clixml(
        '<Obj RefId="0"><TN RefId="0"><T>Deserialized.System.Foo</T></TN><ToString>t</ToString>'
        '<Props><S N="A">adapted</S><S N="C">c</S></Props>'
        '<MS><S N="A">extended</S><I32 N="B">2</I32></MS></Obj>'
    )
    assert to_python(value) == {"A": "extended", "C": "c", "B": 2}
    assert type_names(value)[-1].endswith("System.Foo")


def test_an_object_without_properties_is_its_text_or_none() -> None:
    text = _clixml(
        '<Obj RefId="0"><TN RefId="0"><T>Deserialized.System.Foo</T></TN>'
        "<ToString>foo text</ToString></Obj>"
    )
    assert to_python(text) == "foo text"
    bare = _clixml('<Obj RefId="0"><TN RefId="0"><T>Deserialized.System.Foo</T></TN></Obj>')
    assert to_python(bare) is None


def test_lists_and_dictionaries_become_plain_ones() -> None:
    d = ps.PSDict()
    d[ps.PSString("a")] = ps.PSInt(1)
    d[ps.PSInt(2)] = ps.PSList([ps.PSString("x")])
    d[ps.PSGuid(int=5)] = "guid key"
    result = to_python(d)
    # Keys stay JSON keys: a key of another kind becomes its text.
    assert result == {"a": 1, 2: ["x"], "00000000-0000-0000-0000-000000000005": "guid key"}
    assert [type(k) for k in result] == [str, int, str]
    assert to_python((1, 2)) == [1, 2]
    assert to_python({3}) == [3]


def test_a_value_of_no_known_kind_is_its_text() -> None:
    assert to_python(complex(1, 2)) == "(1+2j)"


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _innermost(value: Any) -> Any:
    while isinstance(value, list):
        (value,) = value
    return value


def test_nesting_is_kept_to_max_depth_then_values_become_text() -> None:
    assert _innermost(to_python(_nested(MAX_DEPTH))) == 1
    assert _innermost(to_python(_nested(MAX_DEPTH + 1))) == "1"
    assert MAX_DEPTH == 32


def test_a_plain_value_has_no_type_names() -> None:
    assert type_names("text") == []


# -- fragments -------------------------------------------------------------------------------


def _fragment(blob: bytes, *, object_id: int = 1, fragment_id: int = 0) -> bytes:
    # ObjectId, FragmentId, flags (start and end), BlobLength, blob (MS-PSRP 2.2.4).
    return struct.pack(">QQBI", object_id, fragment_id, 3, len(blob)) + blob


def test_whole_fragments_come_out_at_once() -> None:
    data = _fragment(b"one") + _fragment(b"") + _fragment(b"three")
    buffer = FragmentBuffer()
    assert buffer.feed(data) == data
    assert buffer.pending == 0


def test_a_fragment_split_across_blocks_comes_out_when_whole() -> None:
    first, second = _fragment(b"abcdef"), _fragment(b"gh")
    data = first + second
    buffer = FragmentBuffer()
    for cut in (FRAGMENT_HEADER - 1, FRAGMENT_HEADER, len(first) - 1):
        buffer = FragmentBuffer()
        assert buffer.feed(data[:cut]) == b""
        assert buffer.pending == cut
        assert buffer.feed(data[cut:]) == data
        assert buffer.pending == 0
    assert buffer.feed(first + second[:5]) == first
    assert buffer.pending == 5


def test_a_header_announcing_more_than_the_limit_is_refused() -> None:
    header = struct.pack(">QQBI", 1, 0, 3, MAX_FRAGMENT + 1)
    with pytest.raises(ProtocolError, match=f"announces {MAX_FRAGMENT + 1} bytes"):
        FragmentBuffer().feed(header)
    at_limit = struct.pack(">QQBI", 1, 0, 3, MAX_FRAGMENT)
    buffer = FragmentBuffer()
    assert buffer.feed(at_limit) == b""
    assert buffer.pending == FRAGMENT_HEADER
    assert MAX_FRAGMENT == 16 * 1024 * 1024


# -- the pool's shell ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "uri"),
    [
        ("Microsoft.PowerShell", f"{ns.URI_POWERSHELL}/Microsoft.PowerShell"),
        (" JEA ", f"{ns.URI_POWERSHELL}/JEA"),
        ("http://example.com/jea/Maintenance", "http://example.com/jea/Maintenance"),
    ],
)
def test_a_configuration_name_becomes_its_resource_uri(name: str, uri: str) -> None:
    assert configuration_uri(name) == uri


@pytest.mark.parametrize("name", ["", "  ", "Micro soft"])
def test_an_empty_or_spaced_configuration_name_is_refused(name: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^configuration_name .* is empty or has a space"):
        configuration_uri(name)


def test_creation_xml_carries_the_payload_in_base64() -> None:
    assert creation_xml(b"hi") == f'<creationXml xmlns="{ns.URI_POWERSHELL}">aGk=</creationXml>'


def test_a_pool_shell_carries_its_idle_timeout_and_name() -> None:
    spec = pool_shell_spec(uuid.UUID(int=1), b"", idle_timeout=30.0, name="pool")
    assert (spec.idle_timeout, spec.name) == (30.0, "pool")
    assert spec.shell_id == "00000000-0000-0000-0000-000000000001"


# -- records ---------------------------------------------------------------------------------


# Records as deserialized ones read: objects with the MS-PSRP 2.2.3.15 property
# names (error_record reads them by name), without the ToString psrpcore's
# own classes compute.


def _error(**fields: Any) -> Any:
    base: dict[str, Any] = {
        "Exception": ps.NETException(Message="boom"),
        "FullyQualifiedErrorId": "PathNotFound,Get-Item",
    }
    return ps.PSCustomObject(**{**base, **fields})


def _category(**fields: Any) -> Any:
    return ps.PSCustomObject(
        **{
            "Category": ps.ErrorCategory.ObjectNotFound,
            "Activity": "Get-Item",
            "Reason": "ItemNotFoundException",
            "TargetName": "C:\\nope",
            "TargetType": "String",
            **fields,
        }
    )


def test_an_error_record_has_its_category_fields_and_powershells_category_text() -> None:
    record = error_record(_error(CategoryInfo=_category()))
    assert (record.message, record.category, record.reason, record.activity) == (
        "boom",
        "ObjectNotFound",
        "ItemNotFoundException",
        "Get-Item",
    )
    assert record.target_name == "C:\\nope"
    assert record.category_info == (
        "ObjectNotFound: (C:\\nope:String) [Get-Item], ItemNotFoundException"
    )
    assert record.fully_qualified_error_id == "PathNotFound,Get-Item"
    assert record.text == (
        "boom\n"
        "    + CategoryInfo          : ObjectNotFound: (C:\\nope:String) [Get-Item], "
        "ItemNotFoundException\n"
        "    + FullyQualifiedErrorId : PathNotFound,Get-Item"
    )


def test_empty_category_fields_are_none_and_left_blank_in_the_text() -> None:
    record = error_record(
        _error(CategoryInfo=_category(Activity="", Reason="", TargetName="", TargetType=""))
    )
    assert (record.reason, record.activity, record.target_name) == (None, None, None)
    assert record.category_info == "ObjectNotFound: (:) [], "


def test_the_servers_own_category_text_is_kept() -> None:
    info = _category()
    info.PSObject.to_string = "ObjectNotFound: (nope) server text"
    assert error_record(_error(CategoryInfo=info)).category_info == (
        "ObjectNotFound: (nope) server text"
    )


def test_error_details_replace_the_exception_message() -> None:
    record = error_record(_error(ErrorDetails=ps.ErrorDetails(Message="friendlier")))
    assert record.message == "friendlier"
    assert error_record(_error(ErrorDetails=ps.ErrorDetails(Message=""))).message == "boom"


def test_an_error_record_without_any_message_is_its_text() -> None:
    record = _error(Exception=ps.NETException(Message=""))
    assert error_record(record).message == str(record)


def test_an_error_record_without_category_or_invocation_has_none() -> None:
    record = error_record(_error(FullyQualifiedErrorId=""))
    assert (record.category, record.category_info, record.line_number) == (None, None, None)
    assert (record.script_name, record.position_message, record.script_stack_trace) == (
        None,
        None,
        None,
    )
    assert record.text == "boom"
    assert record.fully_qualified_error_id == ""


def _invocation(**fields: Any) -> Any:
    return ps.PSCustomObject(
        **{
            "ScriptLineNumber": 3,
            "OffsetInLine": 5,
            "ScriptName": "",
            "Line": "    Get-Item C:\\nope",
            **fields,
        }
    )


def test_a_position_message_is_rebuilt_from_line_column_and_text() -> None:
    record = error_record(_error(InvocationInfo=_invocation(), ScriptStackTrace="at <ScriptBlock>"))
    assert (record.line_number, record.offset_in_line, record.script_name) == (3, 5, "")
    assert record.position_message == (
        "At line:3 char:5\n+     Get-Item C:\\nope\n+     ~~~~~~~~~~~~~~~~"
    )
    assert record.script_stack_trace == "at <ScriptBlock>"
    assert record.text.splitlines()[1:4] == record.position_message.splitlines()


def test_a_position_in_a_script_names_the_script() -> None:
    record = error_record(_error(InvocationInfo=_invocation(ScriptName="C:\\x.ps1", Line="")))
    assert record.position_message == "At C:\\x.ps1:3 char:5"


@pytest.mark.parametrize(
    ("columns", "lines", "underline"),
    [
        ((5, 13), (3, 3), "+     ~~~~~~~~"),  # the extent's width, on one line
        ((5, 13), (3, 4), "+     ~~~~~~~~~~~~~~~~"),  # spanning lines: to the line's end
        ((5, 5), (3, 3), "+     ~~~~~~~~~~~~~~~~"),  # no width: to the line's end
        ((5, 6), (3, 3), "+     ~"),  # one column wide: one character
    ],
    ids=["one-line", "spanning-lines", "no-width", "one-column"],
)
def test_the_extent_sets_the_underline_width(
    columns: tuple[int, int], lines: tuple[int, int], underline: str
) -> None:
    extent = ps.PSCustomObject(
        StartColumnNumber=columns[0],
        EndColumnNumber=columns[1],
        StartLineNumber=lines[0],
        EndLineNumber=lines[1],
    )
    record = error_record(_error(InvocationInfo=_invocation(DisplayScriptPosition=extent)))
    assert record.position_message is not None
    assert record.position_message.splitlines()[-1] == underline


def test_the_servers_position_message_is_kept() -> None:
    record = error_record(_error(InvocationInfo=_invocation(PositionMessage="At server")))
    assert record.position_message == "At server"


def test_without_a_line_number_no_position_is_made_up() -> None:
    record = error_record(_error(InvocationInfo=_invocation(ScriptLineNumber=0)))
    assert record.position_message is None


def test_a_progress_record_has_every_field() -> None:
    record = progress_record(
        ps.ProgressRecord(
            Activity="a",
            ActivityId=2,
            StatusDescription="s",
            CurrentOperation="op",
            ParentActivityId=1,
            PercentComplete=50,
            RecordType=ps.ProgressRecordType.Completed,
            SecondsRemaining=9,
        )
    )
    assert record == ProgressRecord("a", "s", 50, 2, 1, "op", 9, "Completed")


def test_a_progress_record_without_values_has_the_defaults() -> None:
    assert progress_record(ps.PSCustomObject()) == ProgressRecord("")


def test_an_information_record_has_every_field() -> None:
    record = information_record(
        ps.InformationRecord(
            MessageData=ps.PSString("hi"),
            Source="src",
            Tags=["PSHOST"],
            User="u",
            Computer="c",
            TimeGenerated=ps.PSDateTime(2026, 1, 1, tzinfo=datetime.UTC),
        )
    )
    assert record == InformationRecord(
        message="hi",
        data="hi",
        source="src",
        tags=["PSHOST"],
        time_generated=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        user="u",
        computer="c",
    )
    assert str(record) == "hi"


def test_an_information_record_without_data_is_empty() -> None:
    record = information_record(ps.PSCustomObject())
    assert record == InformationRecord(message="")


def _innermost_value(value: Any) -> Any:
    while isinstance(value, dict | list):
        (value,) = value.values() if isinstance(value, dict) else value
    return value


@pytest.mark.parametrize(
    "wrap",
    [
        lambda inner: {"k": inner},
        lambda inner: ps.PSCustomObject(k=inner),
    ],
)
def test_dictionaries_and_objects_count_towards_max_depth(wrap: Any) -> None:
    def nested(depth: int) -> Any:
        value: Any = 1
        for _ in range(depth):
            value = wrap(value)
        return value

    assert _innermost_value(to_python(nested(MAX_DEPTH))) == 1
    assert _innermost_value(to_python(nested(MAX_DEPTH + 1))) == "1"


def test_an_object_whose_type_name_starts_with_system_enum_is_not_an_enum() -> None:
    value = ps.PSCustomObject(A="a")
    value.PSObject.type_names.insert(0, "System.Enum.Helper")
    value.PSObject.to_string = "text"
    assert to_python(value) == {"A": "a"}


def test_a_new_buffer_holds_nothing() -> None:
    assert FragmentBuffer().pending == 0


def test_a_second_fragment_with_its_header_but_not_its_blob_waits() -> None:
    first, second = _fragment(b"abcdef"), _fragment(b"ghijkl")
    buffer = FragmentBuffer()
    assert buffer.feed(first + second[:-1]) == first
    assert buffer.pending == len(second) - 1
    assert buffer.feed(second[-1:]) == second


def test_an_information_record_is_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        InformationRecord(message="m").message = "x"  # type: ignore[misc]


def test_output_that_has_no_clixml_form_travels_as_plain_data() -> None:
    # A SecureString cannot be serialized without the pool's session key.
    out = OutputList([ps.PSString("a"), ps.PSSecureString("pw")])
    assert pickle.loads(pickle.dumps(out)) == ["a", "<SecureString>"]
