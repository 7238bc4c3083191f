"""aiowsman.psrp's messages against the real PowerShell remoting captures of the corpus.

Client and test server share psrpcore, so a mistake in it would pass every
end-to-end test; these tests hold the client to what a real client (pypsrp)
sent to real Windows, and what real Windows answered (tests/corpus,
pypsrp-psrp-*). Requests are captured on their way to the test server and
compared with the captures: the envelope by structure (action, resource URI,
selectors, options, body elements and attributes -- ids differ by nature),
the PSRP fragments and message headers byte for byte, and the CLIXML of each
message by its properties and values (two serializers order elements
differently). Responses: Windows' own ReceiveResponses go through the
client's event handling.
"""

from __future__ import annotations

import base64
import re
import struct
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from lxml import etree

from aiowsman import AsyncSession
from aiowsman.protocol import namespaces as ns
from aiowsman.protocol.response import parse_envelope
from aiowsman.protocol.shell import parse_receive
from aiowsman.psrp import PowerShell, RunspacePool, _Run
from aiowsman.testing import WSManTestServer
from tests.conftest import BASIC_OVER_HTTP
from tests.soap_shapes import request_header

CORPUS = Path(__file__).parent / "corpus"
NS = {"s": ns.NS_SOAP, "a": ns.NS_ADDRESSING, "w": ns.NS_WSMAN, "rsp": ns.NS_WINRS}
PSNS = "{http://schemas.microsoft.com/powershell}"
CLIXML = "{http://schemas.microsoft.com/powershell/2004/04}"


# -- capturing what the client sends ------------------------------------------------------


class Capture:
    """Every request body a session sends, in order (the requests still go out)."""

    def __init__(self, session: AsyncSession) -> None:
        self.bodies: list[bytes] = []
        transport = session._transport
        assert transport is not None
        real = transport.exchange

        async def exchange(body: bytes, *, operation: str) -> Any:
            self.bodies.append(body)
            return await real(body, operation=operation)

        transport.exchange = exchange  # type: ignore[method-assign]

    def requests(self, action: str) -> list[etree._Element]:
        roots = [etree.fromstring(b) for b in self.bodies]
        return [r for r in roots if r.findtext("s:Header/a:Action", namespaces=NS) == action]


@pytest.fixture
async def captured(basic_server: WSManTestServer) -> AsyncIterator[tuple[AsyncSession, Capture]]:
    async with AsyncSession(basic_server.endpoints[0], **BASIC_OVER_HTTP) as session:
        yield session, Capture(session)


def _corpus(name: str) -> etree._Element:
    return etree.fromstring((CORPUS / name).read_bytes())


def _header(root: etree._Element) -> dict[str, Any]:
    # Selector values are ids (ShellId...), ours and theirs: only their names compare.
    return request_header(root, selector_values=False)


def _shape(el: etree._Element) -> tuple[Any, ...]:
    """An element's tag, attribute names, and children's shapes (values left out)."""
    return (el.tag, tuple(sorted(el.attrib)), tuple(_shape(c) for c in el))


def _values(el: etree._Element) -> tuple[Any, ...]:
    """An element with its attributes and text too (where no id differs)."""
    attrs = tuple(sorted((k, v.lower()) for k, v in el.attrib.items()))
    return (el.tag, attrs, (el.text or "").strip(), tuple(_values(c) for c in el))


def _body(root: etree._Element) -> etree._Element:
    (first,) = root.find("s:Body", NS)  # type: ignore[misc]
    return first


# -- PSRP fragments and messages ----------------------------------------------------------------


def _fragments(data: bytes) -> list[tuple[bytes, bytes]]:
    """(21-byte header, blob) of each fragment (MS-PSRP 2.2.4)."""
    out = []
    pos = 0
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos + 17)
        out.append((data[pos : pos + 21], data[pos + 21 : pos + 21 + length]))
        pos += 21 + length
    return out


def _message(blob: bytes) -> tuple[int, int, uuid.UUID, uuid.UUID, str]:
    """Destination, type, runspace pool id, pipeline id, XML (MS-PSRP 2.2.1)."""
    destination, kind = struct.unpack_from("<II", blob)
    return (
        destination,
        kind,
        uuid.UUID(bytes_le=blob[8:24]),
        uuid.UUID(bytes_le=blob[24:40]),
        blob[40:].decode("utf-8-sig"),
    )


def _properties(xml: str) -> dict[str, Any]:
    """A message's properties (MS-PSRP 2.2.5.2.9), by name: a primitive's
    text; an enum its numeric value; an object its own properties; a list
    its items; Nil None; a reference (``<Ref RefId>``, 2.2.5.2.2) what it
    refers to."""
    root = ElementTree.fromstring(xml)
    objects = {el.get("RefId"): el for el in root.iter("Obj") if el.get("RefId")}
    return _props(root, objects)


def _props(obj: ElementTree.Element, objects: dict[str | None, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for group in (obj.find("MS"), obj.find("Props")):
        if group is None:
            continue
        for child in group:
            out[child.get("N", "")] = _value(child, objects)
    return out


def _value(el: ElementTree.Element, objects: dict[str | None, Any]) -> Any:
    if el.tag == "Ref":
        el = objects[el.get("RefId")]
    if el.tag == "Nil":
        return None
    if el.tag != "Obj":
        return el.text or ""
    items = el.find("LST")
    if items is not None:
        return [_value(c, objects) for c in items]
    entries = el.find("DCT")
    if entries is not None:
        return {"dict": len(entries)}
    primitive = [c for c in el if c.tag in ("I32", "I64", "S", "B")]
    if primitive and el.find("MS") is None:
        return primitive[0].text  # an enum: its value
    return _props(el, objects)


# -- requests ----------------------------------------------------------------------------------


@pytest.fixture
async def created(
    captured: tuple[AsyncSession, Capture],
) -> tuple[RunspacePool, etree._Element, etree._Element]:
    """A pool opened and closed: the pool, its Create, and pypsrp's real one."""
    session, capture = captured
    async with session.runspace_pool() as pool:
        pass
    (mine,) = capture.requests(ns.ACTION_CREATE)
    return pool, mine, _corpus("pypsrp-psrp-create-request-creationxml.xml")


async def test_the_create_of_a_pool_has_the_shape_of_a_real_one(
    created: tuple[RunspacePool, etree._Element, etree._Element],
) -> None:
    pool, mine, theirs = created
    assert _header(mine) == _header(theirs)
    assert _shape(_body(mine)) == _shape(_body(theirs))
    shell = _body(mine)
    assert shell.get("ShellId") == str(pool.pool_id).upper()
    for name in ("InputStreams", "OutputStreams"):
        assert shell.findtext(f"rsp:{name}", namespaces=NS) == _body(theirs).findtext(
            f"rsp:{name}", namespaces=NS
        )


async def test_the_creation_xml_holds_the_same_messages_as_a_real_one(
    created: tuple[RunspacePool, etree._Element, etree._Element],
) -> None:
    pool, mine, theirs = created

    def fragments(root: etree._Element) -> list[tuple[bytes, bytes]]:
        text = _body(root).findtext(f"{PSNS}creationXml") or ""
        return _fragments(base64.b64decode(text))

    ours, real = fragments(mine), fragments(theirs)
    assert len(ours) == len(real) == 2
    real_pool = uuid.UUID(_body(theirs).get("ShellId") or "")
    for (our_head, our_blob), (real_head, real_blob) in zip(ours, real):
        # Object id, fragment id, start/end flags and length field: byte for byte
        # but for the length (two serializers, two lengths).
        assert our_head[:17] == real_head[:17]
        destination, kind, rpid, pid, xml = _message(our_blob)
        r_destination, r_kind, r_rpid, r_pid, r_xml = _message(real_blob)
        assert (destination, kind, pid) == (r_destination, r_kind, r_pid)
        # The pool id as .NET's Guid.ToByteArray writes it (MS-DTYP 2.3.4.2,
        # little-endian fields: PowerShell's own client). pypsrp writes the
        # big-endian bytes of its ShellId; Windows takes the 16 bytes as they
        # come (its answers carry them back: pypsrp-psrp-receive-response-*).
        assert rpid == pool.pool_id
        assert r_rpid.bytes_le == real_pool.bytes
        ours_props, real_props = _properties(xml), _properties(r_xml)
        assert set(ours_props) == set(real_props)
        if kind == 0x00010002:  # SESSION_CAPABILITY: the same versions
            assert ours_props == real_props
        else:  # INIT_RUNSPACEPOOL: the same pool; aiowsman presents a host (a UI)
            for name in ("MinRunspaces", "MaxRunspaces", "PSThreadOptions", "ApartmentState"):
                assert ours_props[name] == real_props[name]
            assert ours_props["HostInfo"]["_isHostNull"] == "false"


async def test_a_pipeline_is_a_command_with_its_first_fragment_as_a_real_one(
    captured: tuple[AsyncSession, Capture],
) -> None:
    theirs = _corpus("pypsrp-psrp-command-request.xml")
    real_args = theirs.findtext("s:Body/rsp:CommandLine/rsp:Arguments", namespaces=NS) or ""
    ((_, real_blob),) = _fragments(base64.b64decode(real_args))
    script = _properties(_message(real_blob)[4])["PowerShell"]["Cmds"][0]["Cmd"]
    session, capture = captured
    async with session.runspace_pool() as pool:
        ps = pool.powershell().add_script(script.replace("_x000A_", "\n"))
        await ps.invoke()
    (mine,) = capture.requests(ns.ACTION_SHELL_COMMAND)
    assert _header(mine) == _header(theirs)
    assert _shape(_body(mine)) == _shape(_body(theirs))
    command_line = _body(mine)
    assert command_line.findtext("rsp:Command", namespaces=NS) in ("", None)
    ((head, blob),) = _fragments(
        base64.b64decode(command_line.findtext("rsp:Arguments", namespaces=NS) or "")
    )
    (real_head, _) = _fragments(base64.b64decode(real_args))[0]
    # The third message of the pool (after the two of its Create), whole in one fragment.
    assert head[:17] == real_head[:17]
    destination, kind, rpid, pid, xml = _message(blob)
    r_destination, r_kind, _, _, r_xml = _message(real_blob)
    assert (destination, kind) == (r_destination, r_kind) == (2, 0x00021006)
    assert rpid == pool.pool_id
    assert str(pid).upper() == command_line.get("CommandId")
    ours_props, real_props = _properties(xml), _properties(r_xml)
    assert set(ours_props) == set(real_props)
    for name in ("NoInput", "RemoteStreamOptions", "AddToHistory", "IsNested", "ApartmentState"):
        assert ours_props[name] == real_props[name], name
    ours_cmd = ours_props["PowerShell"]["Cmds"][0]
    real_cmd = real_props["PowerShell"]["Cmds"][0]
    assert set(ours_cmd) == set(real_cmd)
    for name in ("Cmd", "IsScript", "UseLocalScope", "Args", "MergeMyResult", "MergeError"):
        assert ours_cmd[name] == real_cmd[name], name


async def test_the_pool_is_read_with_a_receive_as_a_real_one(
    captured: tuple[AsyncSession, Capture],
) -> None:
    session, capture = captured
    async with session.runspace_pool():
        pass
    mine = capture.requests(ns.ACTION_SHELL_RECEIVE)[0]
    theirs = _corpus("pypsrp-psrp-receive-request-keepalive.xml")
    assert _header(mine) == _header(theirs)
    assert _values(_body(mine)) == _values(_body(theirs))


async def test_the_session_key_is_asked_for_with_a_send_as_a_real_one(
    captured: tuple[AsyncSession, Capture],
) -> None:
    from psrpcore.types import PSSecureString

    session, capture = captured
    async with session.runspace_pool() as pool:
        await (
            pool.powershell().add_command("Write-Output").add_argument(PSSecureString("x")).invoke()
        )
    theirs = _corpus("pypsrp-psrp-send-request-pr-stream.xml")
    mine = [
        r
        for r in capture.requests(ns.ACTION_SHELL_SEND)
        if _body(r).find("rsp:Stream", NS).get("CommandId") is None  # type: ignore[union-attr]
    ]
    assert len(mine) == 1
    assert _header(mine[0]) == _header(theirs)
    assert _shape(_body(mine[0])) == _shape(_body(theirs))

    def message(root: etree._Element) -> tuple[int, int]:
        data = base64.b64decode(_body(root).findtext("rsp:Stream", namespaces=NS) or "")
        ((_, blob),) = _fragments(data)
        return _message(blob)[:2]

    assert message(mine[0]) == message(theirs) == (2, 0x00010005)  # PUBLIC_KEY


async def test_a_finished_pipeline_is_terminated_as_a_real_client_does(
    captured: tuple[AsyncSession, Capture],
) -> None:
    session, capture = captured
    async with session.runspace_pool() as pool:
        await pool.powershell().add_script("1").invoke()
        await pool.powershell().add_script("2").invoke()  # the first is terminated with it
    (mine,) = capture.requests(ns.ACTION_SHELL_SIGNAL)
    theirs = _corpus("pypsrp-psrp-signal-request-terminate.xml")
    assert _header(mine) == _header(theirs)
    assert _shape(_body(mine)) == _shape(_body(theirs))
    code = _body(mine).findtext("rsp:Code", namespaces=NS) or ""
    real = _body(theirs).findtext("rsp:Code", namespaces=NS) or ""
    assert code.lower() == real.lower()  # pypsrp writes .../signal/Terminate


async def test_a_pipeline_is_stopped_with_powershells_crtl_c(
    captured: tuple[AsyncSession, Capture],
) -> None:
    session, capture = captured
    async with session.runspace_pool() as pool:
        with pytest.raises(TimeoutError):
            await pool.powershell().add_script("Start-Sleep 60").invoke(timeout=0.5)
    codes = [
        _body(r).findtext("rsp:Code", namespaces=NS)
        for r in capture.requests(ns.ACTION_SHELL_SIGNAL)
    ]
    # MS-PSRP 3.1.5.3.9 and Windows spell it "crtl_c"; MS-WSMV 2.2.5.6 "ctrl_c".
    assert codes == ["http://schemas.microsoft.com/powershell/signal/crtl_c", ns.SIGNAL_TERMINATE]


# -- Windows' responses -------------------------------------------------------------------------


def _stdout(name: str) -> list[bytes]:
    result = parse_receive(parse_envelope((CORPUS / name).read_bytes()))
    return [chunk.data for chunk in result.streams if chunk.name == "stdout"]


def _offline_pool() -> RunspacePool:
    # Nothing is sent: the pool only reads the captured answers.
    return RunspacePool(AsyncSession("http://127.0.0.1:9/wsman", **BASIC_OVER_HTTP))


def test_windows_opening_answer_gives_its_capability_and_private_data() -> None:
    pool = _offline_pool()
    for data in _stdout("pypsrp-psrp-receive-response-runspace.xml"):
        pool._feed(pool._fragments.feed(data))
    capability = pool._core.their_capability
    assert capability is not None and str(capability.protocolversion) == "2.3"
    assert "PSVersionTable" in pool.application_private_data


def test_windows_pipeline_output_lands_in_output_and_streams() -> None:
    from psrpcore import ClientPowerShell

    pool = _offline_pool()
    # The pipeline's 16 bytes as pypsrp sent them (see above), read as .NET does.
    pipeline_id = uuid.UUID(bytes_le=uuid.UUID("8372DF51-5986-4AC3-96B4-8C519AE0976F").bytes)
    core = ClientPowerShell(pool._core, pipeline_id=pipeline_id)
    core.state = core.state.Running
    ps = PowerShell(pool)
    run = _Run(pool, ps, core)
    pool._runs[pipeline_id] = run
    for data in _stdout("pypsrp-psrp-receive-response-pipeline-done.xml"):
        pool._feed(run.fragments.feed(data))
    assert list(run.out) == ["output stream"]
    assert (run.terminal, ps.state) == (True, "Completed")
    (error,) = ps.streams.error
    assert error.message == "error stream"
    assert error.category_info == "NotSpecified: (:) [Write-Error], WriteErrorException"
    assert error.exception_type == "Microsoft.PowerShell.Commands.WriteErrorException"
    assert error.script_stack_trace == "at <ScriptBlock>, <No file>: line 5"
    assert (ps.streams.warning, ps.streams.verbose, ps.streams.debug) == (
        ["warning stream"],
        ["verbose stream"],
        ["debug stream"],
    )
    (info,) = ps.streams.information
    assert (info.message, info.source, info.computer) == (
        "information stream",
        "Write-Information",
        "WIN-NNMU24VVKJ0",
    )
    (progress,) = ps.streams.progress
    assert (progress.activity, progress.record_type) == (
        "Preparing modules for first use.",
        "Completed",
    )


def test_a_large_windows_answer_is_read_whole_fragment_by_fragment() -> None:
    from aiowsman.protocol.psrp import FragmentBuffer

    buffer = FragmentBuffer()
    whole = b"".join(buffer.feed(d) for d in _stdout("pypsrp-psrp-receive-response-large.xml"))
    assert buffer.pending == 0
    heads = [struct.unpack_from(">QQB", h) for h, _ in _fragments(whole)]
    assert heads and all(flags in (0, 1, 2, 3) for _, _, flags in heads)
    assert re.search(rb"<S>", whole)
