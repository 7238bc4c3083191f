"""Remote shells (WinRS), sans-IO: the messages of MS-WSMV 3.1.4.5-3.1.4.14.

A shell is created with a WS-Transfer Create (3.1.4.5.2, body ``rsp:Shell``,
2.2.4.37) on a shell resource URI and addressed afterwards by its ``ShellId``
selector. Commands run in it (``Command``, 3.1.4.11), take input (``Send``,
3.1.4.13), give output (``Receive``, 3.1.4.14), are signalled (``Signal``,
3.1.4.12), and the shell is deleted with a WS-Transfer Delete (3.1.4.4.1)::

    Create  -> ShellId            Command -> CommandId
    Send    (stdin, base64)       Receive -> streams, CommandState, ExitCode
    Signal  (terminate, ctrl_c)   Delete

Nothing here is specific to ``cmd.exe``: the resource URI, the stream names,
client-chosen ``ShellId``/``CommandId`` attributes, header options and extra
``rsp:Shell`` content (PowerShell remoting's ``creationXml``) are all
parameters, so PowerShell remoting (MS-PSRP 3.1.4: resource URI
``http://schemas.microsoft.com/powershell/<configuration>``, streams
``stdin pr`` / ``stdout``) rides on the same builders and parsers.

Request shapes follow the real WinRS messages of the corpus
(``pypsrp-shell-*-request-*.xml``); the parsers read every real response
there (``pypsrp-shell-*``, ``winrb-*shell*``, ``gowinrm-*``, ``pywinrm-*``).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from sys import intern
from typing import Final

from lxml import etree

from ..errors import ConfigurationError, ProtocolError
from . import namespaces as ns
from .durations import format_duration, parse_duration
from .envelope import Request, RequestOptions, _build, escape_attr, escape_text
from .locator import Option, ResourceLocator
from .response import Envelope, _require_body, created_reference

__all__ = [
    "SIGNALS",
    "CreatedShell",
    "ReceiveResult",
    "ShellInfo",
    "ShellSpec",
    "StreamChunk",
    "base64_room",
    "codepage_codec",
    "command_chunk_size",
    "command_line",
    "command_request",
    "create_shell_request",
    "delete_shell_request",
    "parse_command",
    "parse_create_shell",
    "parse_receive",
    "parse_send",
    "parse_shell",
    "parse_signal",
    "quote_argument",
    "receive_request",
    "send_chunk_size",
    "send_request",
    "shell_locator",
    "signal_code",
    "signal_request",
]

_RSP = "{" + ns.NS_WINRS + "}"
_RSP_SHELL = _RSP + "Shell"
_RSP_STREAM = _RSP + "Stream"
_RSP_COMMAND_STATE = _RSP + "CommandState"
_RSP_EXIT_CODE = _RSP + "ExitCode"
_RSP_COMMAND_RESPONSE = _RSP + "CommandResponse"
_RSP_COMMAND_ID = _RSP + "CommandId"
_RSP_RECEIVE_RESPONSE = _RSP + "ReceiveResponse"
_RSP_ENVIRONMENT = _RSP + "Environment"
_RSP_VARIABLE = _RSP + "Variable"
_XMLNS_RSP = f'xmlns:rsp="{ns.NS_WINRS}"'

#: Signal names accepted by :func:`signal_code` (MS-WSMV 2.2.5.6).
SIGNALS: Final[Mapping[str, str]] = {
    "terminate": ns.SIGNAL_TERMINATE,
    "ctrl_c": ns.SIGNAL_CTRL_C,
    "ctrl_break": ns.SIGNAL_CTRL_BREAK,
    "ps_ctrl_c": ns.SIGNAL_PS_CTRL_C,
}

# Options of the cmd shell (MS-WSMV 3.1.4.5.2 Create, 3.1.4.11 Command).
OPTION_CODEPAGE: Final = "WINRS_CODEPAGE"
OPTION_NOPROFILE: Final = "WINRS_NOPROFILE"
OPTION_CONSOLEMODE_STDIN: Final = "WINRS_CONSOLEMODE_STDIN"
OPTION_SKIP_CMD_SHELL: Final = "WINRS_SKIP_CMD_SHELL"
#: A Receive option peers send to keep a shell alive (pypsrp, WinRb); no
#: public specification text describes it (see docs/internals.md).
OPTION_KEEPALIVE: Final = "WSMAN_CMDSHELL_OPTION_KEEPALIVE"


def codepage_codec(codepage: int) -> str:
    """The Python codec of a Windows code page (65001 -> ``utf-8``, 437 -> ``cp437``).

    Raises:
        ConfigurationError: Python has no codec for it.
    """
    if codepage == 65001:
        return "utf-8"
    if codepage == 1200:
        return "utf-16-le"
    try:
        return codecs.lookup(f"cp{int(codepage)}").name
    except (LookupError, ValueError, TypeError):
        raise ConfigurationError(f"no text codec for code page {codepage!r}") from None


def _bool_option(value: bool) -> str:
    # Windows writes and reads these booleans as TRUE/FALSE (MS-WSMV 3.1.4.11).
    return "TRUE" if value else "FALSE"


def shell_locator(resource_uri: str, shell_id: str) -> ResourceLocator:
    """The locator of an open shell: its resource URI and ``ShellId`` selector."""
    return ResourceLocator(resource_uri, {"ShellId": shell_id})


def _with_options(locator: ResourceLocator, options: Iterable[Option]) -> ResourceLocator:
    opts = list(options)
    if not opts:
        return locator
    loc = locator.copy()
    loc.options = opts
    # The corpus' WinRS requests mark the OptionSet mustUnderstand.
    loc.must_understand_options = True
    return loc


# -- Create -----------------------------------------------------------------------


@dataclass(frozen=True)
class ShellSpec:
    """What a shell is created with (``rsp:Shell``, MS-WSMV 2.2.4.37, 3.1.4.5.2).

    Attributes:
        resource_uri: the shell resource (``.../windows/shell/cmd``, or
            ``http://schemas.microsoft.com/powershell/<configuration>``).
        input_streams: ``rsp:InputStreams`` names.
        output_streams: ``rsp:OutputStreams`` names.
        environment: ``rsp:Environment/rsp:Variable`` pairs, in order.
        working_directory: ``rsp:WorkingDirectory``.
        idle_timeout: ``rsp:IdleTimeOut`` in seconds: the service deletes the
            shell after this long without a request (capped by its
            IdleTimeout setting).
        lifetime: ``rsp:Lifetime`` in seconds.
        name: ``rsp:Name`` (shown by ``winrm enumerate windows/shell``).
        codepage: option ``WINRS_CODEPAGE``: the console code page the
            shell's programs write (65001 is UTF-8).
        noprofile: option ``WINRS_NOPROFILE``: do not load the user profile.
        shell_id: a client-chosen ``ShellId`` attribute (PowerShell remoting).
        options: more ``w:Option`` headers (``protocolversion`` for PSRP).
        extra_xml: raw XML appended inside ``rsp:Shell`` (PSRP's
            ``creationXml``); it must be well-formed.
    """

    resource_uri: str = ns.URI_SHELL_CMD
    input_streams: tuple[str, ...] = ("stdin",)
    output_streams: tuple[str, ...] = ("stdout", "stderr")
    environment: tuple[tuple[str, str], ...] = ()
    working_directory: str | None = None
    idle_timeout: float | None = None
    lifetime: float | None = None
    name: str | None = None
    codepage: int | None = None
    noprofile: bool | None = None
    shell_id: str | None = None
    options: tuple[Option, ...] = ()
    extra_xml: str = ""

    def header_options(self) -> list[Option]:
        """The ``w:OptionSet`` of the Create request."""
        out: list[Option] = []
        if self.noprofile is not None:
            out.append(Option(OPTION_NOPROFILE, _bool_option(self.noprofile)))
        if self.codepage is not None:
            out.append(Option(OPTION_CODEPAGE, str(self.codepage)))
        out.extend(self.options)
        return out


#: What a stream name may not hold (``str.isspace``'s characters, as ``\s`` matches them).
_WHITESPACE: Final = re.compile(r"\s")


def _stream_names(names: Sequence[str], what: str) -> str:
    for name in names:
        if not name or _WHITESPACE.search(name):
            raise ConfigurationError(f"{what} stream name {name!r} is empty or has a space")
    return " ".join(names)


def _duration(seconds: float, what: str) -> str:
    try:
        return format_duration(seconds)
    except ValueError as exc:
        raise ConfigurationError(f"{what}: {exc}") from None


def create_shell_request(opts: RequestOptions, spec: ShellSpec) -> Request:
    """Build the Create of a shell (MS-WSMV 3.1.4.5.2).

    Raises:
        ConfigurationError: an unsendable value (a bad stream name, a
            negative timeout, a character XML cannot carry).
    """
    attrs = f' ShellId="{escape_attr(spec.shell_id)}"' if spec.shell_id else ""
    parts = [f"<rsp:Shell {_XMLNS_RSP}{attrs}>"]
    if spec.name is not None:
        parts.append(f"<rsp:Name>{escape_text(spec.name)}</rsp:Name>")
    if spec.environment:
        parts.append("<rsp:Environment>")
        for key, value in spec.environment:
            if not key:
                raise ConfigurationError("an environment variable needs a name")
            parts.append(
                f'<rsp:Variable Name="{escape_attr(key)}">{escape_text(value)}</rsp:Variable>'
            )
        parts.append("</rsp:Environment>")
    if spec.working_directory is not None:
        parts.append(
            f"<rsp:WorkingDirectory>{escape_text(spec.working_directory)}</rsp:WorkingDirectory>"
        )
    if spec.lifetime is not None:
        parts.append(f"<rsp:Lifetime>{_duration(spec.lifetime, 'lifetime')}</rsp:Lifetime>")
    if spec.idle_timeout is not None:
        idle = _duration(spec.idle_timeout, "idle_timeout")
        parts.append(f"<rsp:IdleTimeOut>{idle}</rsp:IdleTimeOut>")
    parts.append(
        f"<rsp:InputStreams>{_stream_names(spec.input_streams, 'input')}</rsp:InputStreams>"
        f"<rsp:OutputStreams>{_stream_names(spec.output_streams, 'output')}</rsp:OutputStreams>"
    )
    if spec.extra_xml:
        _check_well_formed(spec.extra_xml)
        parts.append(spec.extra_xml)
    parts.append("</rsp:Shell>")
    locator = _with_options(ResourceLocator(spec.resource_uri), spec.header_options())
    return _build("Create", ns.ACTION_CREATE, opts, locator, "".join(parts))


def _check_well_formed(xml: str) -> None:
    from .xml import parse_xml

    try:
        parse_xml(f"<wrapper {_XMLNS_RSP}>{xml}</wrapper>".encode())
    except ProtocolError as exc:
        raise ConfigurationError(f"extra shell XML does not parse: {exc.message}") from None


# -- Command ------------------------------------------------------------------------

# Characters that make cmd.exe or a program's argument parser split or
# reinterpret an argument unless it is quoted.
_NEEDS_QUOTES = re.compile(r'[\s"&|<>^()]')


def quote_argument(arg: str) -> str:
    """Quote one argument for a Windows command line.

    Programs split their command line by the Microsoft C runtime's rules
    (``CommandLineToArgvW``): an argument with white space is quoted, a
    quote inside is written ``\\"``, and backslashes are doubled only where
    they precede a quote. cmd.exe's own metacharacters (``& | < > ^ ( )``)
    are inert inside quotes, so an argument holding one is quoted too.
    ``%NAME%`` is still expanded by cmd.exe, quoted or not.

    Returns:
        ``arg`` unchanged when it needs no quotes, else the quoted form.
    """
    if arg and not _NEEDS_QUOTES.search(arg):
        return arg
    out = ['"']
    backslashes = 0
    for ch in arg:
        if ch == "\\":
            backslashes += 1
            continue
        if ch == '"':
            out.append("\\" * (2 * backslashes + 1) + '"')
        else:
            out.append("\\" * backslashes + ch)
        backslashes = 0
    out.append("\\" * (2 * backslashes) + '"')
    return "".join(out)


def command_line(command: str, arguments: Sequence[str]) -> str:
    """The command line WinRS runs for ``command`` and its ``arguments``:
    the command as given, then each argument quoted (:func:`quote_argument`),
    separated by spaces."""
    return " ".join([command, *(quote_argument(a) for a in arguments)])


def command_request(
    opts: RequestOptions,
    shell: ResourceLocator,
    command: str,
    arguments: Sequence[str] = (),
    *,
    command_id: str | None = None,
    console_mode_stdin: bool | None = None,
    skip_cmd_shell: bool | None = None,
    options: Sequence[Option] = (),
) -> Request:
    """Build a Command (MS-WSMV 3.1.4.11): ``rsp:CommandLine`` with one
    ``rsp:Arguments`` element per argument, as given (quote them first with
    :func:`quote_argument` for a cmd shell).

    Args:
        opts: session header values.
        shell: the shell's locator (:func:`shell_locator`).
        command: ``rsp:Command`` (may be empty: PSRP sends its payload as
            the only argument).
        arguments: the ``rsp:Arguments`` values.
        command_id: a client-chosen ``CommandId`` attribute (PSRP).
        console_mode_stdin: option ``WINRS_CONSOLEMODE_STDIN``; False makes
            stdin a pipe, so filters like ``sort`` see its end.
        skip_cmd_shell: option ``WINRS_SKIP_CMD_SHELL``: run the program
            without ``cmd.exe /c``.
        options: more ``w:Option`` headers.
    """
    options_list: list[Option] = []
    if console_mode_stdin is not None:
        options_list.append(Option(OPTION_CONSOLEMODE_STDIN, _bool_option(console_mode_stdin)))
    if skip_cmd_shell is not None:
        options_list.append(Option(OPTION_SKIP_CMD_SHELL, _bool_option(skip_cmd_shell)))
    options_list.extend(options)
    attrs = f' CommandId="{escape_attr(command_id)}"' if command_id else ""
    body = [f"<rsp:CommandLine {_XMLNS_RSP}{attrs}>"]
    body.append(
        f"<rsp:Command>{escape_text(command)}</rsp:Command>" if command else "<rsp:Command/>"
    )
    body.extend(f"<rsp:Arguments>{escape_text(a)}</rsp:Arguments>" for a in arguments)
    body.append("</rsp:CommandLine>")
    locator = _with_options(shell, options_list)
    return _build("Command", ns.ACTION_SHELL_COMMAND, opts, locator, "".join(body))


# -- Send -------------------------------------------------------------------------------


def send_request(
    opts: RequestOptions,
    shell: ResourceLocator,
    data: bytes,
    *,
    stream: str = "stdin",
    command_id: str | None = None,
    end: bool = False,
) -> Request:
    """Build a Send (MS-WSMV 3.1.4.13): ``data`` base64 in one ``rsp:Stream``;
    ``end`` marks the stream's last block (``End="true"``)."""
    attrs = f' Name="{escape_attr(stream)}"'
    if command_id:
        attrs += f' CommandId="{escape_attr(command_id)}"'
    if end:
        attrs += ' End="true"'
    payload = base64.b64encode(data).decode("ascii")
    body = f"<rsp:Send {_XMLNS_RSP}><rsp:Stream{attrs}>{payload}</rsp:Stream></rsp:Send>"
    return _build("Send", ns.ACTION_SHELL_SEND, opts, shell, body)


def send_chunk_size(
    opts: RequestOptions,
    shell: ResourceLocator,
    *,
    stream: str = "stdin",
    command_id: str | None = None,
) -> int:
    """The most bytes one Send can carry within ``opts.max_envelope_size``.

    The envelope around the data is measured (an empty Send is built), and
    what is left is divided by base64's 4/3; 256 bytes stay in reserve for
    the ``End`` attribute and the service's own accounting.

    Raises:
        ConfigurationError: MaxEnvelopeSize cannot hold any data at all.
    """
    empty = send_request(opts, shell, b"", stream=stream, command_id=command_id, end=True)
    return base64_room(opts, empty)


def command_chunk_size(
    opts: RequestOptions,
    shell: ResourceLocator,
    *,
    command_id: str | None = None,
    options: Sequence[Option] = (),
) -> int:
    """The most bytes of base64 data one ``rsp:Arguments`` of a Command with
    an empty ``rsp:Command`` can carry (PowerShell remoting sends a
    pipeline's first fragment there, MS-PSRP 3.1.5.3.3); measured as
    :func:`send_chunk_size` measures a Send.

    Raises:
        ConfigurationError: MaxEnvelopeSize cannot hold any data at all.
    """
    empty = command_request(opts, shell, "", [""], command_id=command_id, options=options)
    return base64_room(opts, empty)


def base64_room(opts: RequestOptions, empty: Request) -> int:
    """What is left of MaxEnvelopeSize around ``empty`` (a request built with
    no data), in bytes before base64 (4/3), 256 bytes kept in reserve for
    attributes and the service's own accounting.

    Raises:
        ConfigurationError: MaxEnvelopeSize cannot hold any data at all.
    """
    room = opts.max_envelope_size - len(empty.body) - 256
    size = room // 4 * 3
    if size < 3:
        raise ConfigurationError(
            f"MaxEnvelopeSize {opts.max_envelope_size} leaves no room for input data"
        )
    return size


# -- Receive ------------------------------------------------------------------------------


def receive_request(
    opts: RequestOptions,
    shell: ResourceLocator,
    *,
    streams: Sequence[str] = ("stdout", "stderr"),
    command_id: str | None = None,
    keepalive: bool = False,
    sequence_id: int | None = None,
) -> Request:
    """Build a Receive (MS-WSMV 3.1.4.14).

    Args:
        opts: session header values; ``operation_timeout`` is how long the
            service may hold the request waiting for output.
        shell: the shell's locator.
        streams: ``rsp:DesiredStream`` names.
        command_id: the command whose output is wanted (cmd shells need
            one); None asks for the shell's own streams (PSRP runspaces).
        keepalive: add option ``WSMAN_CMDSHELL_OPTION_KEEPALIVE=TRUE``.
        sequence_id: the ``SequenceId`` attribute of robust-connection
            Receives (MS-WSMV 3.1.4.1.39), if any.
    """
    attrs = f' CommandId="{escape_attr(command_id)}"' if command_id else ""
    seq = f' SequenceId="{int(sequence_id)}"' if sequence_id is not None else ""
    names = _stream_names(streams, "desired")
    body = (
        f"<rsp:Receive {_XMLNS_RSP}{seq}><rsp:DesiredStream{attrs}>{names}"
        "</rsp:DesiredStream></rsp:Receive>"
    )
    locator = _with_options(shell, [Option(OPTION_KEEPALIVE, "TRUE")] if keepalive else [])
    return _build("Receive", ns.ACTION_SHELL_RECEIVE, opts, locator, body)


@dataclass(frozen=True)
class StreamChunk:
    """One ``rsp:Stream`` of a ReceiveResponse.

    Attributes:
        name: the stream (``stdout``, ``stderr``...).
        data: the decoded bytes (may be empty).
        command_id: the command it belongs to (None for shell-level streams).
        end: ``End="true"``: the stream has no more data.
    """

    name: str
    data: bytes
    command_id: str | None = None
    end: bool = False


@dataclass(frozen=True)
class ReceiveResult:
    """A ReceiveResponse (MS-WSMV 2.2.4.27).

    Attributes:
        streams: the stream chunks in document order.
        state: the ``rsp:CommandState/@State`` URI, or None when absent.
        command_id: the ``CommandId`` of the CommandState.
        exit_code: ``rsp:ExitCode`` (the process exit code, as the service
            writes it), or None.
    """

    streams: tuple[StreamChunk, ...] = ()
    state: str | None = None
    command_id: str | None = None
    exit_code: int | None = None

    @property
    def done(self) -> bool:
        """The command has finished (``CommandState/Done``)."""
        return self.state == ns.COMMAND_STATE_DONE


def _is_true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1")


def _attr(element: etree._Element, name: str) -> str | None:
    value = element.get(name)
    return value.strip() if value is not None else None


def parse_receive(env: Envelope) -> ReceiveResult:
    """Parse a ReceiveResponse.

    Raises:
        WSManFault: the envelope is a fault.
        ProtocolError: no ReceiveResponse, bad base64, or a bad ExitCode.
    """
    first = _require_body(env, "Receive")
    if first.tag != _RSP_RECEIVE_RESPONSE:
        raise ProtocolError(f"expected rsp:ReceiveResponse, got {first.tag!r}")
    chunks: list[StreamChunk] = []
    state = command_id = None
    exit_code: int | None = None
    for child in first:
        tag = child.tag
        if tag == _RSP_STREAM:
            text = (child.text or "").strip()
            try:
                data = base64.b64decode(text, validate=True) if text else b""
            except (binascii.Error, ValueError):
                raise ProtocolError("rsp:Stream content is not base64") from None
            chunks.append(
                StreamChunk(
                    _attr(child, "Name") or "",
                    data,
                    _attr(child, "CommandId"),
                    _is_true(child.get("End")),
                )
            )
        elif tag == _RSP_COMMAND_STATE:
            state = _attr(child, "State")
            command_id = _attr(child, "CommandId")
            code = child.findtext(_RSP_EXIT_CODE)
            if code is not None and code.strip():
                try:
                    exit_code = int(code.strip())
                except ValueError:
                    raise ProtocolError(f"rsp:ExitCode {code.strip()!r} is not a number") from None
    return ReceiveResult(tuple(chunks), state, command_id, exit_code)


# -- Signal, Delete ----------------------------------------------------------------------


def signal_code(signal: str) -> str:
    """The signal URI for a name in :data:`SIGNALS` (``"ctrl_c"``...) or a URI as given.

    Raises:
        ConfigurationError: neither a known name nor a URI.
    """
    code = SIGNALS.get(signal.lower())
    if code is not None:
        return code
    if "://" in signal:
        return signal
    names = ", ".join(SIGNALS)
    raise ConfigurationError(f"unknown signal {signal!r}; use one of {names} or a signal URI")


def signal_request(
    opts: RequestOptions, shell: ResourceLocator, signal: str, *, command_id: str | None = None
) -> Request:
    """Build a Signal (MS-WSMV 3.1.4.12) of ``signal`` (a name or URI, see
    :func:`signal_code`) to a command (or, without ``command_id``, the shell)."""
    attrs = f' CommandId="{escape_attr(command_id)}"' if command_id else ""
    body = (
        f"<rsp:Signal {_XMLNS_RSP}{attrs}><rsp:Code>{escape_text(signal_code(signal))}"
        "</rsp:Code></rsp:Signal>"
    )
    return _build("Signal", ns.ACTION_SHELL_SIGNAL, opts, shell, body)


def delete_shell_request(opts: RequestOptions, shell: ResourceLocator) -> Request:
    """Build the Delete of a shell (WS-Transfer Delete, MS-WSMV 3.1.4.4.1)."""
    return _build("Delete", ns.ACTION_DELETE, opts, shell, "")


# -- parsing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShellInfo:
    """An ``rsp:Shell`` instance as the service describes it (Create, Get, Enumerate).

    Attributes:
        shell_id: ``rsp:ShellId``.
        resource_uri: ``rsp:ResourceUri``.
        owner: ``rsp:Owner`` (``DOMAIN\\user``).
        client_ip: ``rsp:ClientIP``.
        idle_timeout: ``rsp:IdleTimeOut`` in seconds (the effective value).
        input_streams, output_streams: the stream names.
        working_directory: ``rsp:WorkingDirectory``.
        environment: ``rsp:Environment`` variables.
        state: ``rsp:State`` (``Connected``/``Disconnected``), if given.
        properties: every simple child by local name, as text.
    """

    shell_id: str | None
    resource_uri: str | None = None
    owner: str | None = None
    client_ip: str | None = None
    idle_timeout: float | None = None
    input_streams: tuple[str, ...] = ()
    output_streams: tuple[str, ...] = ()
    working_directory: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    state: str | None = None
    properties: dict[str, str] = field(default_factory=dict)


def parse_shell(element: etree._Element) -> ShellInfo:
    """Read an ``rsp:Shell`` element.

    Raises:
        ProtocolError: not an ``rsp:Shell``, or an unreadable IdleTimeOut.
    """
    if element.tag != _RSP_SHELL:
        raise ProtocolError(f"expected rsp:Shell, got {element.tag!r}")
    props: dict[str, str] = {}
    env: dict[str, str] = {}
    for child in element:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        if tag == _RSP_ENVIRONMENT:
            for var in child.iter(_RSP_VARIABLE):
                env[var.get("Name", "")] = var.text or ""
            continue
        if len(child) == 0:
            # Interned: a shell keeps its description while it is open, and
            # the names and most values (ResourceUri, streams, locale, idle
            # timeout...) are the same for every shell of a fan-out.
            props[intern(tag.rpartition("}")[2])] = intern((child.text or "").strip())
    idle: float | None = None
    idle_text = props.get("IdleTimeOut")
    if idle_text:
        try:
            idle = parse_duration(idle_text)
        except ValueError:
            raise ProtocolError(f"rsp:IdleTimeOut {idle_text!r} is not a duration") from None
    return ShellInfo(
        shell_id=props.get("ShellId") or element.get("ShellId"),
        resource_uri=props.get("ResourceUri"),
        owner=props.get("Owner"),
        client_ip=props.get("ClientIP"),
        idle_timeout=idle,
        input_streams=tuple(props.get("InputStreams", "").split()),
        output_streams=tuple(props.get("OutputStreams", "").split()),
        working_directory=props.get("WorkingDirectory"),
        environment=env,
        state=props.get("State"),
        properties=props,
    )


@dataclass(frozen=True)
class CreatedShell:
    """A shell's CreateResponse.

    Attributes:
        shell_id: the ``ShellId`` selector of the new shell's EPR.
        resource_uri: the EPR's resource URI.
        address: the EPR's address.
        info: the ``rsp:Shell`` the service sent along (None from older
            services, which send only the EPR).
    """

    shell_id: str
    resource_uri: str | None
    address: str | None
    info: ShellInfo | None


def parse_create_shell(env: Envelope) -> CreatedShell:
    """Parse the CreateResponse of a shell (``x:ResourceCreated`` + ``rsp:Shell``).

    Raises:
        WSManFault: the envelope is a fault.
        ProtocolError: no ResourceCreated, or no ShellId anywhere.
    """
    first, reference = created_reference(env)
    # The rsp:Shell that follows ResourceCreated, read directly (no generic Item first).
    shell = next(first.itersiblings(_RSP_SHELL), None)
    info = parse_shell(shell) if shell is not None else None
    selector = reference.selectors.get("ShellId")
    shell_id = selector.strip() if isinstance(selector, str) else None
    if not shell_id and info is not None:
        shell_id = info.shell_id
    if not shell_id:
        raise ProtocolError("CreateResponse names no ShellId")
    return CreatedShell(shell_id, reference.resource_uri, reference.address, info)


def parse_command(env: Envelope) -> str:
    """The ``rsp:CommandId`` of a CommandResponse (MS-WSMV 2.2.4.8).

    Raises:
        WSManFault: the envelope is a fault.
        ProtocolError: no CommandResponse or no CommandId.
    """
    first = _require_body(env, "Command")
    if first.tag != _RSP_COMMAND_RESPONSE:
        raise ProtocolError(f"expected rsp:CommandResponse, got {first.tag!r}")
    command_id = (first.findtext(_RSP_COMMAND_ID) or "").strip()
    if not command_id:
        raise ProtocolError("CommandResponse has no CommandId")
    return command_id


def _accept(env: Envelope) -> None:
    from .response import fault_exception

    if env.fault is not None:
        raise fault_exception(env.fault)


def parse_send(env: Envelope) -> None:
    """Accept a SendResponse. Raises WSManFault for a fault."""
    _accept(env)


def parse_signal(env: Envelope) -> None:
    """Accept a SignalResponse. Raises WSManFault for a fault."""
    _accept(env)
