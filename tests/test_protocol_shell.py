"""WinRS messages (sans-IO) against the real ones of the corpus.

Requests: each builder's envelope has the structure of the real client
request in tests/corpus (action, resource URI, selectors, options, body),
compared element by element with the values the real one carries. Responses:
every real WinRS response parses into what a reading of its XML by hand says.
"""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from aiowsman.errors import ConfigurationError, ProtocolError, WSManFault
from aiowsman.protocol import namespaces as ns
from aiowsman.protocol.envelope import RequestOptions
from aiowsman.protocol.locator import Option
from aiowsman.protocol.response import parse_envelope
from aiowsman.protocol.shell import (
    CreatedShell,
    ReceiveResult,
    ShellInfo,
    ShellSpec,
    StreamChunk,
    codepage_codec,
    command_chunk_size,
    command_line,
    command_request,
    create_shell_request,
    delete_shell_request,
    parse_command,
    parse_create_shell,
    parse_receive,
    parse_send,
    parse_shell,
    parse_signal,
    quote_argument,
    receive_request,
    send_chunk_size,
    send_request,
    shell_locator,
    signal_code,
    signal_request,
)
from tests.soap_shapes import request_header

CORPUS = Path(__file__).parent / "corpus"
OPTS = RequestOptions(to="http://192.168.56.11:5985/wsman")
CMD = ns.URI_SHELL_CMD
PS = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"
NS = {
    "s": ns.NS_SOAP,
    "a": ns.NS_ADDRESSING,
    "w": ns.NS_WSMAN,
    "rsp": ns.NS_WINRS,
}
_DURATION_TAGS = {"IdleTimeOut", "Lifetime"}


def _root(data: bytes) -> etree._Element:
    return etree.fromstring(data)


def _header(root: etree._Element) -> dict[str, Any]:
    header = request_header(root)
    option_set = root.find("s:Header/w:OptionSet", NS)
    # The corpus' WinRS requests mark their OptionSet mustUnderstand.
    header["options_must_understand"] = (
        None if option_set is None else option_set.get(f"{{{ns.NS_SOAP}}}mustUnderstand")
    )
    return header


def _canon(el: etree._Element) -> tuple[Any, ...]:
    """An element as (tag, attributes, text, children), values normalised.

    Boolean attribute values compare without case (``End="True"`` = ``"true"``),
    durations by their seconds (``PT60S`` = ``PT60.000S``), and children in
    document order unless ``unordered``.
    """
    from aiowsman.protocol.durations import parse_duration

    attrs = {k: v.lower() if v.lower() in ("true", "false") else v for k, v in el.attrib.items()}
    text: Any = (el.text or "").strip()
    if etree.QName(el).localname in _DURATION_TAGS:
        text = parse_duration(text)
    # Text after a child (its tail) is part of the parent's content: stray
    # characters between elements make a different message.
    tails = tuple((c.tail or "").strip() for c in el)
    return (el.tag, tuple(sorted(attrs.items())), text, tuple(_canon(c) for c in el), tails)


def _body(root: etree._Element) -> tuple[Any, ...]:
    body = root.find("s:Body", NS)
    assert body is not None
    # The Body holds elements only (no text before, between or after them).
    assert (body.text or "").strip() == ""
    assert all((c.tail or "").strip() == "" for c in body)
    return tuple(_canon(c) for c in body)


def _same_request(ours: bytes, corpus_name: str, *, unordered: bool = False) -> None:
    theirs = _root((CORPUS / corpus_name).read_bytes())
    mine = _root(ours)
    assert _header(mine) == _header(theirs)
    if unordered:
        (a,) = _body(mine)
        (b,) = _body(theirs)
        assert a[:3] == b[:3]
        assert sorted(a[3]) == sorted(b[3])
        assert sorted(a[4]) == sorted(b[4])
    else:
        assert _body(mine) == _body(theirs)


def _shell(shell_id: str, uri: str = CMD) -> Any:
    return shell_locator(uri, shell_id)


# -- requests -------------------------------------------------------------------------


def test_create_request_has_the_streams_of_a_real_cmd_shell_create() -> None:
    _same_request(
        create_shell_request(OPTS, ShellSpec()).body, "pypsrp-shell-create-request-cmd.xml"
    )


def test_create_request_carries_environment_variables_with_any_characters() -> None:
    spec = ShellSpec(
        environment=(
            ("env1", "var1"),
            ("1234", "5678"),
            ('_-(){}[]<>*+-/\\?"!@#$^&|;:i,.`~0', '_-(){}[]<>*+-/\\?"!@#$^&|;:i,.`~0'),
        )
    )
    # In schema order (MS-WSMV 2.2.4.37: Environment before the streams); the
    # captured client put it last, which Windows accepts as well.
    _same_request(
        create_shell_request(OPTS, spec).body,
        "pypsrp-shell-create-request-environment.xml",
        unordered=True,
    )


def test_create_request_carries_idle_timeout_lifetime_name_and_working_directory() -> None:
    spec = ShellSpec(idle_timeout=60, lifetime=60, name="shell 1", working_directory="C:\\Windows")
    _same_request(
        create_shell_request(OPTS, spec).body,
        "pypsrp-shell-create-request-extra-opts.xml",
        unordered=True,
    )


def test_create_request_sends_codepage_and_noprofile_as_options() -> None:
    root = _root(create_shell_request(OPTS, ShellSpec(codepage=65001, noprofile=True)).body)
    assert _header(root)["options"] == {
        "WINRS_CODEPAGE": ("65001", "false"),
        "WINRS_NOPROFILE": ("true", "false"),
    }


def test_create_request_for_powershell_carries_shell_id_creation_xml_and_protocol_version() -> None:
    theirs = _root((CORPUS / "pypsrp-psrp-create-request-creationxml.xml").read_bytes())
    creation = theirs.find(
        "s:Body/rsp:Shell/{http://schemas.microsoft.com/powershell}creationXml", NS
    )
    assert creation is not None
    spec = ShellSpec(
        resource_uri=PS,
        input_streams=("stdin", "pr"),
        output_streams=("stdout",),
        shell_id="76056A84-51DC-4F24-9262-CA2A55464B2B",
        options=(Option("protocolversion", "2.3", must_comply=True),),
        extra_xml=etree.tostring(creation).decode(),
    )
    _same_request(
        create_shell_request(OPTS, spec).body, "pypsrp-psrp-create-request-creationxml.xml"
    )


def test_create_request_refuses_a_stream_name_with_a_space() -> None:
    with pytest.raises(ConfigurationError, match="stream name"):
        create_shell_request(OPTS, ShellSpec(input_streams=("std in",)))


def test_create_request_refuses_extra_xml_that_does_not_parse() -> None:
    with pytest.raises(ConfigurationError, match="does not parse"):
        create_shell_request(OPTS, ShellSpec(extra_xml="<a>"))


def test_command_request_sends_one_arguments_element_per_argument() -> None:
    shell = _shell("4283CBDC-3706-415B-88BD-B385F3E51A53")
    req = command_request(OPTS, shell, "cmd.exe", ["/c", "echo", "hi"], skip_cmd_shell=False)
    _same_request(req.body, "pypsrp-shell-command-request-args.xml")


def test_command_request_with_skip_cmd_shell() -> None:
    shell = _shell("F15E6BF4-8A64-41F7-BDDE-13F83D9D22DD")
    req = command_request(OPTS, shell, "powershell.exe", ["Write-Host", "hi"], skip_cmd_shell=True)
    _same_request(req.body, "pypsrp-shell-command-request-skip-cmd-shell.xml")


def test_command_request_carries_non_ascii_arguments() -> None:
    shell = _shell("3C225977-02C6-42E5-9D66-5BBDAB4859B1")
    req = command_request(
        OPTS, shell, "powershell.exe", ["Write-Host こんにちは"], skip_cmd_shell=False
    )
    _same_request(req.body, "pypsrp-shell-command-request-unicode.xml")


def test_command_request_for_powershell_has_a_command_id_and_an_empty_command() -> None:
    theirs = _root((CORPUS / "pypsrp-psrp-command-request.xml").read_bytes())
    payload = theirs.findtext("s:Body/rsp:CommandLine/rsp:Arguments", namespaces=NS)
    assert payload
    shell = _shell("32835EAA-1E68-4691-8936-4234A6EE2DD3", PS)
    req = command_request(
        OPTS,
        shell,
        "",
        [payload],
        command_id="8372DF51-5986-4AC3-96B4-8C519AE0976F",
        skip_cmd_shell=False,
    )
    _same_request(req.body, "pypsrp-psrp-command-request.xml")


def test_command_request_sends_consolemode_stdin_false_for_piped_input() -> None:
    req = command_request(OPTS, _shell("S"), "sort", console_mode_stdin=False)
    assert _header(_root(req.body))["options"] == {"WINRS_CONSOLEMODE_STDIN": ("false", "false")}


def test_send_request_carries_base64_stdin_of_a_command() -> None:
    shell = _shell("0D6FCA9D-2D40-44C3-B691-E665BE7AA687")
    cid = "B0973E54-434E-4D99-B4BE-ADE584CE3BFB"
    middle = send_request(OPTS, shell, b'Write-Host "output 1";', command_id=cid)
    last = send_request(OPTS, shell, b'Write-Host "output 2";', command_id=cid, end=True)
    # The corpus writes End="False" on a middle block; omitting it means the same.
    mine = _body(_root(middle.body))
    theirs = _body(_root((CORPUS / "pypsrp-shell-send-request-stdin.xml").read_bytes()))
    stream_mine, stream_theirs = mine[0][3][0], theirs[0][3][0]
    assert dict(stream_theirs[1]) == {**dict(stream_mine[1]), "End": "false"}
    assert stream_mine[2] == stream_theirs[2]
    _same_request(last.body, "pypsrp-shell-send-request-stdin-end.xml")


def test_send_request_on_the_powershell_pr_stream_has_no_command_id() -> None:
    theirs = _root((CORPUS / "pypsrp-psrp-send-request-pr-stream.xml").read_bytes())
    text = theirs.findtext("s:Body/rsp:Send/rsp:Stream", namespaces=NS) or ""
    shell = _shell(_header(theirs)["selectors"]["ShellId"], PS)
    req = send_request(OPTS, shell, base64.b64decode(text), stream="stdin")
    _same_request(req.body, "pypsrp-psrp-send-request-pr-stream.xml")


def test_receive_request_asks_for_stdout_and_stderr_of_a_command() -> None:
    req = receive_request(
        OPTS,
        _shell("4283CBDC-3706-415B-88BD-B385F3E51A53"),
        command_id="CF84C20A-0A35-43FA-AF78-0B4711DA5F30",
        keepalive=True,
    )
    _same_request(req.body, "pypsrp-shell-receive-request.xml")


def test_receive_request_without_a_command_id_reads_the_shells_own_streams() -> None:
    theirs = _root((CORPUS / "pypsrp-psrp-receive-request-keepalive.xml").read_bytes())
    shell = _shell(_header(theirs)["selectors"]["ShellId"], PS)
    req = receive_request(OPTS, shell, streams=("stdout",), keepalive=True)
    _same_request(req.body, "pypsrp-psrp-receive-request-keepalive.xml")


def test_signal_request_sends_ctrl_c_to_a_command() -> None:
    req = signal_request(
        OPTS,
        _shell("4283CBDC-3706-415B-88BD-B385F3E51A53"),
        "ctrl_c",
        command_id="CF84C20A-0A35-43FA-AF78-0B4711DA5F30",
    )
    _same_request(req.body, "pypsrp-shell-signal-request-ctrl-c.xml")


def test_signal_request_accepts_any_signal_uri() -> None:
    # pypsrp sends PSRP's Terminate with a capital T: a URI is sent as given.
    theirs = _root((CORPUS / "pypsrp-psrp-signal-request-terminate.xml").read_bytes())
    code = theirs.findtext("s:Body/rsp:Signal/rsp:Code", namespaces=NS) or ""
    shell = _shell(_header(theirs)["selectors"]["ShellId"], PS)
    req = signal_request(OPTS, shell, code, command_id="5B1BE6C6-ECFA-4BA8-806B-8DD7C290A0FA")
    _same_request(req.body, "pypsrp-psrp-signal-request-terminate.xml")


def test_signal_names_map_to_the_specification_uris() -> None:
    assert signal_code("terminate") == f"{ns.URI_SHELL}/signal/terminate"
    assert signal_code("CTRL_BREAK") == f"{ns.URI_SHELL}/signal/ctrl_break"
    assert signal_code("ps_ctrl_c") == "http://schemas.microsoft.com/powershell/signal/crtl_c"


def test_an_unknown_signal_name_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown signal 'sigterm'"):
        signal_code("sigterm")


def test_delete_request_names_the_shell_and_has_an_empty_body() -> None:
    req = delete_shell_request(OPTS, _shell("4283CBDC-3706-415B-88BD-B385F3E51A53"))
    _same_request(req.body, "pypsrp-shell-delete-request.xml")


def test_a_full_send_fits_max_envelope_size() -> None:
    opts = RequestOptions(to="http://host:5985/wsman", max_envelope_size=153600)
    shell = _shell("0D6FCA9D-2D40-44C3-B691-E665BE7AA687")
    cid = "B0973E54-434E-4D99-B4BE-ADE584CE3BFB"
    size = send_chunk_size(opts, shell, command_id=cid)
    req = send_request(opts, shell, b"x" * size, command_id=cid, end=True)
    assert opts.max_envelope_size - 256 - 4 <= len(req.body) <= opts.max_envelope_size


# -- command lines ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arg", "quoted"),
    [
        ("plain", "plain"),
        ("", '""'),
        ("two words", '"two words"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("C:\\dir name\\", '"C:\\dir name\\\\"'),
        ("a\\b", "a\\b"),
        ("a&b", '"a&b"'),
        ("x|y", '"x|y"'),
    ],
)
def test_arguments_are_quoted_by_the_windows_rules(arg: str, quoted: str) -> None:
    assert quote_argument(arg) == quoted


def test_a_command_line_is_the_command_then_the_quoted_arguments() -> None:
    assert command_line("findstr", ["/c:a b", "x"]) == 'findstr "/c:a b" x'


# -- responses -------------------------------------------------------------------------------


def _env(name: str) -> Any:
    return parse_envelope((CORPUS / name).read_bytes())


def test_create_response_gives_the_shell_id_and_the_shells_properties() -> None:
    created = parse_create_shell(_env("pypsrp-shell-create-response-cmd.xml"))
    assert created.shell_id == "4283CBDC-3706-415B-88BD-B385F3E51A53"
    assert created.resource_uri == CMD
    assert created.address == "http://192.168.56.11:5985/wsman"
    info = created.info
    assert info is not None
    assert info.shell_id == created.shell_id
    assert info.owner == "vagrant"
    assert info.client_ip == "192.168.56.1"
    assert info.idle_timeout == 7200.0
    assert info.input_streams == ("stdin",)
    assert info.output_streams == ("stdout", "stderr")
    assert info.properties["ShellRunTime"] == "P0DT0H0M0S"


def test_the_shell_description_is_found_after_other_elements_and_only_once() -> None:
    # The rsp:Shell follows ResourceCreated; something else in between (a
    # padded or extended answer) does not hide it, and a second rsp:Shell
    # (none is sent, but a peer could) does not replace the first.
    raw = (CORPUS / "pypsrp-shell-create-response-cmd.xml").read_bytes()
    shell = raw[raw.index(b"<rsp:Shell ") : raw.index(b"</rsp:Shell>") + len(b"</rsp:Shell>")]
    second = shell.replace(b"<rsp:Owner>vagrant<", b"<rsp:Owner>someone else<")
    padded = raw.replace(shell, b'<p:Extra xmlns:p="urn:x">1</p:Extra>' + shell + second)
    info = parse_create_shell(parse_envelope(padded)).info
    assert info is not None and info.owner == "vagrant"
    without = parse_create_shell(parse_envelope(raw.replace(shell, b"")))
    assert without.info is None
    assert without.shell_id == "4283CBDC-3706-415B-88BD-B385F3E51A53"  # from the EPR


def test_two_shells_descriptions_share_their_property_names_and_common_values() -> None:
    # A fan-out keeps a description per open shell: names and the values
    # every shell has alike are one string each, not one per shell.
    first, second = (
        parse_create_shell(_env("pypsrp-shell-create-response-cmd.xml")).info for _ in range(2)
    )
    assert first is not None and second is not None
    assert first == second
    for (name_a, value_a), (name_b, value_b) in zip(
        first.properties.items(), second.properties.items(), strict=True
    ):
        assert name_a is name_b
        assert value_a is value_b, name_a


def test_create_response_echoes_the_environment() -> None:
    created = parse_create_shell(_env("pypsrp-shell-create-response-environment.xml"))
    assert created.info is not None
    assert created.info.environment == {
        "env1": "var1",
        "1234": "5678",
        '_-(){}[]<>*+-/?"!@#$^&|;:i,.`~0': '_-(){}[]<>*+-/\\?"!@#$^&|;:i,.`~0',
    }


def test_create_response_with_options_reflects_them() -> None:
    created = parse_create_shell(_env("pypsrp-shell-create-response-extra-opts.xml"))
    assert created.shell_id == "CBA3E536-A3A2-4B88-9ED3-4919930E15C2"
    assert created.info is not None
    assert created.info.working_directory == "C:\\Windows"
    assert created.info.idle_timeout == 60.0


@pytest.mark.parametrize(
    ("name", "shell_id", "owner"),
    [
        (
            "gowinrm-shell-create-response-reindented.xml",
            "67A74734-DD32-4F10-89DE-49A060483810",
            "Administrator",
        ),
        (
            "pywinrm-shell-create-response-activityid.xml",
            "4C7F3BB5-B508-4F20-9B6E-C8980CFCADCA",
            "Administrator",
        ),
    ],
)
def test_create_responses_of_other_captures(name: str, shell_id: str, owner: str) -> None:
    created = parse_create_shell(_env(name))
    assert created.shell_id == shell_id
    assert created.info is not None
    assert created.info.owner == owner
    assert created.info.output_streams == ("stdout", "stderr")  # also across a line break


@pytest.mark.parametrize(
    ("name", "shell_id", "uri"),
    [
        (
            "winrb-shell-create-response-winrm-v1.xml",
            "uuid:739990FF-1492-4CDD-80BB-6E07ADB06D85",
            CMD,
        ),
        ("winrb-shell-create-response-winrm-v2.xml", "62DE33F0-8674-43D9-B6A5-3298012CC4CD", CMD),
        ("winrb-omi-shell-create-response.xml", "74142DC5-E14D-4FCC-86ED-63DA3EE8407E", PS),
        ("pypsrp-psrp-create-response-resourcecreated-only.xml", None, PS),
    ],
)
def test_create_responses_without_a_shell_element_still_name_the_shell(
    name: str, shell_id: str | None, uri: str
) -> None:
    created = parse_create_shell(_env(name))
    if shell_id is not None:
        assert created.shell_id == shell_id  # kept as sent (WinRM 1.1 prefixes uuid:)
    assert created.resource_uri == uri
    assert created.info is None


def test_create_response_of_a_powershell_shell_has_its_full_state() -> None:
    created = parse_create_shell(_env("pypsrp-psrp-create-response-full-shell.xml"))
    info = created.info
    assert info is not None
    assert info.owner == "WIN-NNMU24VVKJ0\\vagrant"
    assert info.state == "Connected"
    assert info.input_streams == ("stdin", "pr")
    assert info.properties["MaxIdleTimeOut"] == "PT2147483.647S"
    assert info.properties["ProcessId"] == "1868"


def test_command_response_gives_the_command_id() -> None:
    assert parse_command(_env("pypsrp-shell-command-response.xml")) == (
        "CF84C20A-0A35-43FA-AF78-0B4711DA5F30"
    )


def test_receive_response_done_has_output_stream_ends_and_exit_code() -> None:
    result = parse_receive(_env("pypsrp-shell-receive-response-done.xml"))
    cid = "CF84C20A-0A35-43FA-AF78-0B4711DA5F30"
    assert [(c.name, c.data, c.end, c.command_id) for c in result.streams] == [
        ("stdout", b"hi\r\n", False, cid),
        ("stdout", b"", True, cid),
        ("stderr", b"", True, cid),
    ]
    assert result.done
    assert result.exit_code == 0
    assert result.command_id == cid


def test_receive_response_running_has_no_exit_code() -> None:
    result = parse_receive(_env("pypsrp-shell-receive-response-running.xml"))
    assert b"".join(c.data for c in result.streams) == b"hi\n"
    assert result.state == f"{ns.URI_SHELL}/CommandState/Running"
    assert not result.done
    assert result.exit_code is None


def test_receive_response_interleaves_stdout_and_stderr_in_order() -> None:
    result = parse_receive(_env("pypsrp-shell-receive-response-stderr-exitcode1.xml"))
    assert [(c.name, c.data) for c in result.streams if c.data] == [
        ("stdout", b"out \r\n"),
        ("stderr", b"err \r\n"),
    ]
    assert result.exit_code == 1


def test_receive_response_with_utf8_output() -> None:
    result = parse_receive(_env("pypsrp-shell-receive-response-unicode.xml"))
    data = b"".join(c.data for c in result.streams if c.name == "stdout")
    assert data.decode("utf-8") == "こんにちは\n"


def test_receive_response_of_omi_is_done_without_streams() -> None:
    result = parse_receive(_env("winrb-omi-shell-receive-response-done.xml"))
    assert result.streams == ()
    assert result.done
    assert result.exit_code is None


def test_receive_response_of_a_runspace_has_streams_without_command_id() -> None:
    result = parse_receive(_env("pypsrp-psrp-receive-response-runspace.xml"))
    assert result.streams
    assert all(c.command_id is None and c.name == "stdout" for c in result.streams)
    assert result.state is None


def test_an_empty_receive_response_has_nothing() -> None:
    result = parse_receive(_env("pypsrp-psrp-receive-response-empty.xml"))
    assert result == type(result)()


def test_a_large_receive_response_is_read_whole() -> None:
    result = parse_receive(_env("pypsrp-psrp-receive-response-large.xml"))
    assert sum(len(c.data) for c in result.streams) > 100_000


def test_receive_response_with_bad_base64_is_a_protocol_error() -> None:
    data = (CORPUS / "pypsrp-shell-receive-response-done.xml").read_bytes()
    with pytest.raises(ProtocolError, match="not base64"):
        parse_receive(parse_envelope(data.replace(b"aGkNCg==", b"a*kNCg==")))


def test_receive_fault_for_no_output_yet_is_raised() -> None:
    with pytest.raises(WSManFault) as info:
        parse_receive(_env("pypsrp-fault-timedout-receive.xml"))
    assert info.value.wsman_code == ns.CODE_OPERATION_TIMEDOUT


@pytest.mark.parametrize(
    "name", ["pypsrp-shell-send-response.xml", "pypsrp-shell-signal-response.xml"]
)
def test_send_and_signal_responses_are_accepted(name: str) -> None:
    env = _env(name)
    assert parse_send(env) is None
    assert parse_signal(env) is None


def test_enumerated_shells_parse_as_shell_info() -> None:
    env = _env("pypsrp-enumerate-response-shells-optimized.xml")
    shells = env.body.findall(".//rsp:Shell", NS)
    infos = [parse_shell(s) for s in shells]
    assert [i.shell_id for i in infos] == [
        "B6631D8E-65A0-49F2-9053-A1B156C95777",
        "01AA3E43-9E21-424B-A7FC-BC16AA34F4CE",
    ]
    assert {i.state for i in infos} == {"Disconnected"}
    assert infos[0].properties["MemoryUsed"] == "46MB"


def test_command_request_sends_the_callers_options_next_to_its_own() -> None:
    req = command_request(
        OPTS, _shell("S"), "cmd", skip_cmd_shell=True, options=(Option("X_OPT", "1"),)
    )
    assert _header(_root(req.body))["options"] == {
        "WINRS_SKIP_CMD_SHELL": ("true", "false"),
        "X_OPT": ("1", "false"),
    }


# -- what the session and the callers rely on -----------------------------------------------

_S = "4283CBDC-3706-415B-88BD-B385F3E51A53"


@pytest.mark.parametrize(
    ("request_", "operation"),
    [
        (lambda: create_shell_request(OPTS, ShellSpec()), "Create"),
        (lambda: command_request(OPTS, _shell(_S), "cmd"), "Command"),
        (lambda: send_request(OPTS, _shell(_S), b"x", command_id="C"), "Send"),
        (lambda: receive_request(OPTS, _shell(_S), command_id="C"), "Receive"),
        (lambda: signal_request(OPTS, _shell(_S), "ctrl_c", command_id="C"), "Signal"),
        (lambda: delete_shell_request(OPTS, _shell(_S)), "Delete"),
    ],
)
def test_each_request_names_its_operation(request_: Any, operation: str) -> None:
    # The session decides from the operation which requests may be resent.
    assert request_().operation == operation


@pytest.mark.parametrize(
    "value",
    [
        ShellSpec(),
        StreamChunk("stdout", b"x"),
        ReceiveResult(),
        ShellInfo(shell_id="S"),
        CreatedShell("S", CMD, None, None),
    ],
)
def test_shell_values_are_immutable(value: Any) -> None:
    field_name = next(iter(value.__dataclass_fields__))
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, field_name, None)


def test_a_send_without_a_stream_name_writes_stdin() -> None:
    req = send_request(OPTS, _shell(_S), b"x", command_id="C")
    stream = _root(req.body).find("s:Body/rsp:Send/rsp:Stream", NS)
    assert stream is not None and stream.get("Name") == "stdin"


def test_a_receive_asks_no_keepalive_unless_told() -> None:
    req = receive_request(OPTS, _shell(_S), command_id="C")
    assert _header(_root(req.body))["options"] == {}
    assert _header(_root(req.body))["options_must_understand"] is None


def test_a_receive_carries_the_sequence_id_of_a_robust_connection() -> None:
    req = receive_request(OPTS, _shell(_S), command_id="C", sequence_id=7)
    receive = _root(req.body).find("s:Body/rsp:Receive", NS)
    assert receive is not None and receive.get("SequenceId") == "7"


def test_a_receive_refuses_a_desired_stream_name_with_a_space() -> None:
    with pytest.raises(ConfigurationError, match=r"^desired stream name 'std out'"):
        receive_request(OPTS, _shell(_S), streams=("std out",))


def test_a_signal_without_a_command_id_goes_to_the_shell() -> None:
    req = signal_request(OPTS, _shell(_S), "terminate")
    signal = _root(req.body).find("s:Body/rsp:Signal", NS)
    assert signal is not None and signal.attrib == {}
    assert signal.findtext("rsp:Code", namespaces=NS) == ns.SIGNAL_TERMINATE


def test_an_unknown_signal_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match="use one of terminate, ctrl_c, ctrl_break"):
        signal_code("hup")


def test_a_negative_idle_timeout_is_refused_by_name() -> None:
    with pytest.raises(ConfigurationError, match=r"^idle_timeout: "):
        create_shell_request(OPTS, ShellSpec(idle_timeout=-1))


@pytest.mark.parametrize(
    ("arg", "quoted"),
    [
        ('a\\"b', '"a\\\\\\"b"'),  # a backslash before a quote: doubled, then \"
        ('a\\\\"b c', '"a\\\\\\\\\\"b c"'),  # two before a quote: four, then \"
        ("a\\\\\\b c", '"a\\\\\\b c"'),  # backslashes before another character stay
    ],
)
def test_backslashes_are_doubled_only_before_a_quote(arg: str, quoted: str) -> None:
    assert quote_argument(arg) == quoted


@pytest.mark.parametrize(
    ("codepage", "codec"), [(65001, "utf-8"), (1200, "utf-16-le"), (437, "cp437")]
)
def test_code_pages_map_to_python_codecs(codepage: int, codec: str) -> None:
    assert codepage_codec(codepage) == codec


def _largest_that_fits(size: int, build: Any, opts: RequestOptions) -> None:
    # The chunk is the largest whole base64 group that leaves 256 bytes of the
    # envelope free; three more bytes (one more group) would not.
    assert len(build(size).body) <= opts.max_envelope_size - 256
    assert len(build(size + 3).body) > opts.max_envelope_size - 256


@pytest.mark.parametrize("max_size", [2000, 2001, 2002, 2003])
@pytest.mark.parametrize(("stream", "command_id"), [("stdin", "C0-FFEE"), ("pr", None)])
def test_a_send_chunk_is_the_largest_that_fits(
    max_size: int, stream: str, command_id: str | None
) -> None:
    opts = RequestOptions(to="http://host:5985/wsman", max_envelope_size=max_size)
    size = send_chunk_size(opts, _shell(_S), stream=stream, command_id=command_id)
    _largest_that_fits(
        size,
        lambda n: send_request(
            opts, _shell(_S), b"x" * n, stream=stream, command_id=command_id, end=True
        ),
        opts,
    )


@pytest.mark.parametrize("max_size", [2000, 2001, 2002, 2003])
def test_a_command_chunk_is_the_largest_that_fits(max_size: int) -> None:
    opts = RequestOptions(to="http://host:5985/wsman", max_envelope_size=max_size)
    extra = (Option("X_OPTION", "1"),)
    size = command_chunk_size(opts, _shell(_S, PS), command_id="C0-FFEE", options=extra)
    _largest_that_fits(
        size,
        lambda n: command_request(
            opts,
            _shell(_S, PS),
            "",
            [base64.b64encode(b"x" * n).decode()],
            command_id="C0-FFEE",
            options=extra,
        ),
        opts,
    )


def test_an_envelope_with_room_for_one_base64_group_still_sends() -> None:
    # Measured with a MaxEnvelopeSize of as many digits as the ones below.
    four_digits = RequestOptions(to=OPTS.to, max_envelope_size=1000)
    empty = len(send_request(four_digits, _shell(_S), b"", command_id="C", end=True).body)
    fits_three = RequestOptions(to=OPTS.to, max_envelope_size=empty + 256 + 4)
    assert send_chunk_size(fits_three, _shell(_S), command_id="C") == 3
    too_small = RequestOptions(to=OPTS.to, max_envelope_size=empty + 256 + 3)
    with pytest.raises(ConfigurationError, match="leaves no room for input data"):
        send_chunk_size(too_small, _shell(_S), command_id="C")


def _receive(stream: str, *, state: str = "") -> Any:
    data = (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        f'xmlns:rsp="{ns.NS_WINRS}"><s:Header/><s:Body><rsp:ReceiveResponse>'
        f"{stream}{state}</rsp:ReceiveResponse></s:Body></s:Envelope>"
    )
    return parse_envelope(data.encode())


@pytest.mark.parametrize("end", ["true", "1", " true ", "TRUE"])
def test_a_stream_end_is_an_xs_boolean(end: str) -> None:
    result = parse_receive(_receive(f'<rsp:Stream Name="stdout" End="{end}"/>'))
    assert result.streams[0].end is True


def test_stream_attributes_are_read_without_surrounding_blanks() -> None:
    result = parse_receive(
        _receive('<rsp:Stream Name=" stdout " CommandId=" C1 ">aGk=</rsp:Stream>')
    )
    assert (result.streams[0].name, result.streams[0].command_id) == ("stdout", "C1")


def test_a_stream_without_a_name_has_an_empty_one() -> None:
    assert parse_receive(_receive("<rsp:Stream>aGk=</rsp:Stream>")).streams[0].name == ""


def test_base64_split_over_lines_is_read() -> None:
    result = parse_receive(_receive('<rsp:Stream Name="stdout">\n  aGk=\n</rsp:Stream>'))
    assert result.streams[0].data == b"hi"


def test_a_stray_character_in_base64_is_a_protocol_error_not_dropped() -> None:
    with pytest.raises(ProtocolError, match="not base64"):
        parse_receive(_receive('<rsp:Stream Name="stdout">aG*k=</rsp:Stream>'))


def test_a_chunk_is_not_the_end_of_its_stream_unless_said() -> None:
    assert StreamChunk("stdout", b"x").end is False


@pytest.mark.parametrize(
    ("parse", "what"), [(parse_receive, "Receive"), (parse_command, "Command")]
)
def test_an_empty_response_body_is_an_error_naming_the_operation(parse: Any, what: str) -> None:
    env = parse_envelope(
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/>'
        b"<s:Body/></s:Envelope>"
    )
    with pytest.raises(ProtocolError, match=f"^{what} response has an empty Body"):
        parse(env)


def _command_response(command_id: str) -> Any:
    data = (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        f'xmlns:rsp="{ns.NS_WINRS}"><s:Header/><s:Body><rsp:CommandResponse>'
        f"{command_id}</rsp:CommandResponse></s:Body></s:Envelope>"
    )
    return parse_envelope(data.encode())


def test_a_command_id_is_read_without_surrounding_blanks() -> None:
    assert parse_command(_command_response("<rsp:CommandId>\n C1 \n</rsp:CommandId>")) == "C1"


def test_a_command_response_without_a_command_id_is_refused() -> None:
    with pytest.raises(ProtocolError, match="has no CommandId"):
        parse_command(_command_response(""))


@pytest.mark.parametrize("parse", [parse_send, parse_signal])
def test_a_fault_answering_send_or_signal_is_raised(parse: Any) -> None:
    with pytest.raises(WSManFault):
        parse(_env("pypsrp-fault-invalidselectors-bad-commandid.xml"))


def _created(text: str, *, old: str, new: str) -> Any:
    data = (CORPUS / "pypsrp-shell-create-response-cmd.xml").read_text()
    assert old in data
    return parse_envelope(data.replace(old, new).encode())


_SELECTOR = f'<w:Selector Name="ShellId">{_S}</w:Selector>'
_SHELL_ID = f"<rsp:ShellId>{_S}</rsp:ShellId>"


def test_a_shell_id_selector_is_read_without_surrounding_blanks() -> None:
    env = _created("", old=_SELECTOR, new=f'<w:Selector Name="ShellId">\n {_S} \n</w:Selector>')
    assert parse_create_shell(env).shell_id == _S


def test_a_create_response_without_the_selector_takes_the_shells_own_id() -> None:
    env = _created("", old=_SELECTOR, new="")
    assert parse_create_shell(env).shell_id == _S


def test_a_create_response_naming_no_shell_id_anywhere_is_refused() -> None:
    data = (CORPUS / "pypsrp-shell-create-response-cmd.xml").read_text()
    data = data.replace(_SELECTOR, "").replace(_SHELL_ID, "")
    with pytest.raises(ProtocolError, match="names no ShellId"):
        parse_create_shell(parse_envelope(data.encode()))
    without_shell = data[: data.index("<rsp:Shell ")] + "</s:Body></s:Envelope>"
    with pytest.raises(ProtocolError, match="names no ShellId"):
        parse_create_shell(parse_envelope(without_shell.encode()))


def test_a_created_shell_reports_its_resource_uri() -> None:
    info = parse_create_shell(_env("pypsrp-shell-create-response-cmd.xml")).info
    assert info is not None and info.resource_uri == CMD


def _shell_element(children: str, attrs: str = "") -> etree._Element:
    return etree.fromstring(f'<rsp:Shell xmlns:rsp="{ns.NS_WINRS}"{attrs}>{children}</rsp:Shell>')


def test_a_shell_id_may_come_as_an_attribute() -> None:
    assert parse_shell(_shell_element("", ' ShellId="S1"')).shell_id == "S1"


def test_a_shell_without_stream_lists_has_no_streams() -> None:
    info = parse_shell(_shell_element("<rsp:State>Connected</rsp:State>"))
    assert (info.input_streams, info.output_streams) == ((), ())


def test_shell_properties_after_the_environment_are_read() -> None:
    info = parse_shell(
        _shell_element(
            '<rsp:Environment><rsp:Variable Name="A">1</rsp:Variable>'
            '<rsp:Variable Name="EMPTY"/><rsp:Variable>no name</rsp:Variable>'
            "</rsp:Environment>"
            "<!-- a comment --><rsp:Owner> me </rsp:Owner><rsp:Name/>"
        )
    )
    assert info.environment == {"A": "1", "EMPTY": "", "": "no name"}
    assert info.owner == "me"
    assert info.properties["Name"] == ""


@pytest.mark.parametrize("codepage", [65002, 1201, 0])
def test_a_code_page_python_has_no_codec_for_is_refused(codepage: int) -> None:
    with pytest.raises(ConfigurationError, match=f"no text codec for code page {codepage}"):
        codepage_codec(codepage)
