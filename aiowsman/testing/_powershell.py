"""A small powershell.exe for the test server's remote shells.

``powershell.exe`` run over WinRS writes its output stream as text on stdout
and every other stream as CLIXML on stderr (``#< CLIXML`` then one
``<Objs>`` document, records appended as they happen; MS-PSRP 2.2.5 for the
serialization). This module runs a documented subset of PowerShell 5.1 and
writes what powershell.exe writes for it.

Command line: ``-NoProfile``, ``-NonInteractive``, ``-NoLogo``,
``-ExecutionPolicy X``, ``-OutputFormat Text``, ``-InputFormat X`` (any
unique prefix, any case) are accepted; the script is ``-EncodedCommand B64``
(base64 of UTF-16LE), ``-Command TEXT...``, or ``-Command -`` / no command:
stdin, read to its end and run as one script (real powershell.exe reads such
input line by line: multi-line statements there need an empty line after
them).

Script subset (statements end at a newline or ``;``; ``#`` starts a comment):

* values: ``'single'`` (``''`` is a quote), ``"double $var $env:X"``
  (backtick escapes), integers, ``$true``/``$false``/``$null``, ``$name``,
  ``$env:NAME``, ``$LASTEXITCODE``, ``$?``, ``(value)``,
  ``[Console]::In.ReadToEnd()`` (stdin, decoded with ``InputEncoding``),
  ``[Console]::OutputEncoding``/``InputEncoding``,
  ``[Text.Encoding]::UTF8`` (writes a BOM), ``New-Object Text.UTF8Encoding``
  (no BOM; ``System.`` prefixes allowed);
* ``target = value``, chained (``[Console]::InputEncoding =
  [Console]::OutputEncoding = ...``); targets ``$name``, ``$env:NAME``,
  ``[Console]::OutputEncoding``, ``[Console]::InputEncoding``; the
  preference variables below are honoured;
* ``exit [value]``, ``throw value``, a bare value (written to output);
* cmdlets: ``Write-Output``/``echo``, ``Write-Host [-NoNewline]``,
  ``Write-Error [-Message] m [-ErrorAction Stop]``, ``Write-Warning``,
  ``Write-Verbose m [-Verbose]``, ``Write-Debug`` (when
  ``$DebugPreference='Continue'``), ``Write-Information m
  [-InformationAction Continue]``, ``Write-Progress -Activity a [-Status s]
  [-PercentComplete n] [-Id n] [-Completed]`` (unless
  ``$ProgressPreference='SilentlyContinue'``), ``Start-Sleep [-Seconds] n |
  -Milliseconds n``, ``Get-Service [[-Name] n,...]`` (the host's
  Win32_Service instances, as a table), ``Invoke-Expression``/``iex``,
  ``New-Object``; ``| Out-Null`` discards, ``| Out-String`` passes on;
* native programs of :mod:`aiowsman.testing._cmd` (``hostname``, ``cmd``,
  ``ping``, ``findstr``...) write straight to the process's stdout/stderr
  and set ``$LASTEXITCODE``;
* anything else is "not recognized" (CommandNotFoundException).

Streams as powershell.exe writes them: an error is several ``<S S="Error">``
lines (the statement, ``: message``, CategoryInfo, FullyQualifiedErrorId, a
blank), a warning ``<S S="warning">``, verbose ``<S S="verbose">``, debug
``<S S="debug">``, information ``<Obj S="information">`` (an
InformationRecord), progress ``<Obj S="progress">`` (a PSCustomObject with
SourceId and a ``PR`` record), each text ending ``_x000D__x000A_``. Strings
escape control characters, surrogates (as UTF-16 code units) and ``_x`` as
``_xHHHH_`` (MS-PSRP 2.2.5.3.2). Output (stdout and the CLIXML) is encoded
with ``[Console]::OutputEncoding``, at first the shell's code page.

Exit code: ``exit N``; 1 after a terminating error (``throw``, an error with
``-ErrorAction Stop`` or ``$ErrorActionPreference='Stop'``); else 0 when the
last statement succeeded and 1 when it failed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import datetime
import fnmatch
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from aiowsman.testing._cmd import (
    NULL,
    Context,
    ProgramIO,
    codec_for,
    program_name,
    run_command_line,
)

__all__ = ["Interpreter", "PSError", "clixml_string", "processes", "run_powershell"]

_NS_PS: Final = "http://schemas.microsoft.com/powershell/2004/04"
_OBJS_OPEN: Final = f'<Objs Version="1.1.0.1" xmlns="{_NS_PS}">'
_CRLF: Final = "_x000D__x000A_"
#: Native programs powershell.exe can start (cmd's built-ins are not programs).
_NATIVE: Final = frozenset(
    {
        "hostname",
        "ipconfig",
        "whoami",
        "ping",
        "findstr",
        "chcp",
        "cmd",
        "waitfor",
        "timeout",
        "powershell",
        "aiowsman-lines",
        "aiowsman-bytes",
    }
)
_SWITCHES: Final = ("noprofile", "noninteractive", "nologo", "mta", "sta")
_VALUED: Final = ("executionpolicy", "outputformat", "inputformat", "windowstyle", "version")

# MS-PSRP 2.2.5.3.2: C0 and C1 control characters, surrogates (as UTF-16
# code units) and U+FFFE/U+FFFF are written _xHHHH_; "_x" itself (any case)
# as _x005F_x so it cannot be mistaken for an escape.
_ESCAPE: Final = re.compile("[\u0000-\u001f\u007f-\u009f\ufffe\uffff\U00010000-\U0010ffff]")
_UNDERSCORE_X: Final = re.compile("_(?=[xX])")


def clixml_string(value: str) -> str:
    """A string as CLIXML element content (escaped for XML and for MS-PSRP)."""
    value = _UNDERSCORE_X.sub("_x005F_", value)

    def units(match: re.Match[str]) -> str:
        data = match.group().encode("utf-16-be", "surrogatepass")
        return "".join(f"_x{data[i : i + 2].hex().upper()}_" for i in range(0, len(data), 2))

    value = _ESCAPE.sub(units, value)
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- values ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Encoding:
    codepage: int
    preamble: bool = False

    def __str__(self) -> str:
        return "System.Text.UTF8Encoding" if self.codepage == 65001 else f"cp{self.codepage}"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, list):
        return "\r\n".join(_text(v) for v in value)
    if isinstance(value, datetime.datetime):
        # The en-US default display of a DateTime.
        hour = value.hour % 12 or 12
        return (
            f"{value:%A}, {value:%B} {value.day}, {value.year} "
            f"{hour}:{value:%M:%S} {'AM' if value.hour < 12 else 'PM'}"
        )
    return str(value)


@dataclass(frozen=True)
class PSError:
    """An error as the interpreter raises it, before a host renders it
    (powershell.exe as CLIXML lines, remoting as an ErrorRecord).

    Attributes:
        message: the exception's message.
        category: the ErrorCategory name.
        reason: CategoryInfo's reason (the exception's short type name).
        exception_type: the exception's .NET type.
        fully_qualified_error_id: the FullyQualifiedErrorId.
        target_name, target_type, activity: the rest of CategoryInfo.
        prefix: what a console writes before `` : message`` (the statement,
            or the command name), if anything.
        statement: where it happened, if known.
        console_position: powershell.exe shows the position (``At line:``);
            it does not for a cmdlet's own errors (``Write-Error``).
    """

    message: str
    category: str
    reason: str
    exception_type: str
    fully_qualified_error_id: str
    target_name: str = ""
    target_type: str = ""
    activity: str = ""
    prefix: str | None = None
    statement: _Statement | None = None
    console_position: bool = True

    @property
    def category_info(self) -> str:
        return (
            f"{self.category}: ({self.target_name}:{self.target_type}) "
            f"[{self.activity}], {self.reason}"
        )

    def position(self) -> list[str]:
        """``At line:N char:M``, the line and a ``~`` underline (empty when unknown)."""
        st = self.statement
        if st is None:
            return []
        first = st.text.splitlines()[0]
        return [f"At line:{st.line} char:{st.column}", f"+ {first}", "+ " + "~" * len(first)]

    def console_lines(self) -> list[str]:
        """The record as powershell.exe writes it on stderr, line by line."""
        head = f"{self.prefix} : {self.message}" if self.prefix else self.message
        return [
            head,
            *(self.position() if self.console_position else []),
            f"    + CategoryInfo          : {self.category_info}",
            f"    + FullyQualifiedErrorId : {self.fully_qualified_error_id}",
        ]


def not_recognized(name: str, statement: _Statement | None) -> PSError:
    """The CommandNotFoundException of a name that is no command."""
    return PSError(
        f"The term '{name}' is not recognized as the name of a cmdlet, function, script "
        "file, or operable program. Check the spelling of the name, or if a path was "
        "included, verify that the path is correct and try again.",
        "ObjectNotFound",
        "CommandNotFoundException",
        "System.Management.Automation.CommandNotFoundException",
        "CommandNotFoundException",
        target_name=name,
        target_type="String",
        prefix=name,
        statement=statement,
    )


class _Terminating(Exception):
    """A terminating error: the script stops, powershell.exe exits 1."""

    def __init__(self, error: PSError | None = None) -> None:
        super().__init__(error.message if error is not None else "terminated")
        self.error = error


class _PSExit(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class _NotSupported(Exception):
    """A construct outside the documented subset."""


# -- the statement splitter -------------------------------------------------------------


@dataclass
class _Statement:
    text: str
    line: int
    column: int
    #: The whole line of the script the statement starts on.
    source: str = ""


def split_statements(script: str) -> list[_Statement]:
    """Statements at depth 0, ended by a newline or ``;``; comments dropped."""
    out: list[_Statement] = []
    lines = script.splitlines() or [""]
    current: list[str] = []
    depth = 0
    quote: str | None = None
    line, col = 1, 1
    start = (1, 1)
    i = 0

    def flush() -> None:
        text = "".join(current).strip()
        if text:
            out.append(_Statement(text, *start, lines[min(start[0], len(lines)) - 1]))
        current.clear()

    while i < len(script):
        ch = script[i]
        if quote is not None:
            current.append(ch)
            if ch == "`" and quote == '"' and i + 1 < len(script):
                current.append(script[i + 1])
                i += 1
            elif ch == quote:
                if i + 1 < len(script) and script[i + 1] == quote:
                    current.append(script[i + 1])
                    i += 1
                else:
                    quote = None
        elif ch in "'\"":
            quote = ch
            current.append(ch)
        elif ch == "#" and depth == 0 and (not current or current[-1].isspace()):
            while i < len(script) and script[i] != "\n":
                i += 1
            continue
        elif ch in "({":
            depth += 1
            current.append(ch)
        elif ch in ")}":
            depth -= 1
            current.append(ch)
        elif ch in ";\n" and depth == 0:
            flush()
        else:
            if not "".join(current).strip():
                start = (line, col)
            current.append(ch)
        if ch == "\n":
            line, col = line + 1, 1
        else:
            col += 1
        i += 1
    flush()
    return out


_TOKEN: Final = re.compile(
    r"""\s*(?:
        (?P<single>'(?:[^']|'')*')
      | (?P<double>"(?:[^"`]|`.|"")*")
      | (?P<paren>\()
      | (?P<type>\[[\w.]+\](?:::\w+(?:\.\w+)?(?:\(\))?)?)
      | (?P<var>\$(?:env:)?[\w?]+)
      | (?P<number>-?\d+(?![\w.]))
      | (?P<param>-[A-Za-z][\w]*:?)
      | (?P<pipe>\|)
      | (?P<comma>,)
      | (?P<word>[^\s|,;()'"]+)
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _NotSupported(text[pos:])
        kind = match.lastgroup or "word"
        if kind == "paren":
            end = _matching_paren(text, match.end() - 1)
            tokens.append(("paren", text[match.end() : end]))
            pos = end + 1
            continue
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def _matching_paren(text: str, start: int) -> int:
    depth = 0
    quote: str | None = None
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
    raise _NotSupported("missing )")


def _split_pipeline(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    quote: str | None = None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    parts.append("".join(current).strip())
    return parts


_ASSIGNMENT: Final = re.compile(r"^\s*(\$(?:env:)?\w+|\[\w+\]::\w+)\s*=(?!=)\s*(.+)$", re.DOTALL)
_PREFERENCES: Final = {
    "progresspreference": "Continue",
    "verbosepreference": "SilentlyContinue",
    "debugpreference": "SilentlyContinue",
    "warningpreference": "Continue",
    "erroractionpreference": "Continue",
    "informationpreference": "SilentlyContinue",
}


# -- the interpreter ---------------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    """A Win32 service as ``Get-Service`` returns it (a ServiceController)."""

    name: str
    status: str
    display_name: str


@dataclass(frozen=True)
class SimProcessInfo:
    """A process as ``Get-Process`` returns it (a System.Diagnostics.Process)."""

    name: str
    id: int
    handles: int
    cpu: float
    working_set: int
    path: str | None


@dataclass(frozen=True)
class CustomObject:
    """A ``[pscustomobject]`` (what ``aiowsman-objects`` writes)."""

    properties: tuple[tuple[str, Any], ...]

    def __str__(self) -> str:
        return "@{" + "; ".join(f"{k}={_text(v)}" for k, v in self.properties) + "}"


class Interpreter:
    """The language: statements, values, variables, the cmdlet table.

    What a script writes goes to the host through the methods below; this
    class is powershell.exe's host (text on stdout, CLIXML on stderr), and
    the remoting host (:mod:`aiowsman.testing.families.psrp`) overrides them
    to write objects and records instead.

    Args:
        io: the program's stdin/stdout/stderr.
        ctx: the host's facts (name, user, services...).
        variables: the variable table to use (a runspace's, kept between
            pipelines); a new one when None.
        input: the objects piped in (``$input``), if any.
    """

    def __init__(
        self,
        io: ProgramIO,
        ctx: Context,
        *,
        variables: dict[str, Any] | None = None,
        input: list[Any] | None = None,
    ) -> None:
        self.io = io
        self.ctx = ctx
        self.env = ctx.environment
        self.vars: dict[str, Any] = variables if variables is not None else {}
        for name, value in _PREFERENCES.items():
            self.vars.setdefault(name, value)
        self.vars.setdefault("lastexitcode", None)
        self.vars["?"] = True
        self.input = input
        self.output_encoding = _Encoding(io.codepage)
        self.input_encoding = _Encoding(io.codepage)
        self._bom_pending: set[str] = set()
        self._clixml_open = False
        self._progress_source = 0
        self._stdin_text: str | None = None
        self._info_ref = 0

    # -- the host: powershell.exe's (overridden by the remoting host) --------------------

    async def emit(self, values: list[Any]) -> None:
        """Write a statement's output (powershell.exe: formatted text on stdout)."""
        services = [v for v in values if isinstance(v, Service)]
        if services and len(services) == len(values):
            await self.out(_service_table(services) + "\r\n")
            return
        for value in values:
            await self.out(_text(value) + "\r\n")

    async def report(self, error: PSError, *, terminating: bool = False) -> None:
        """Write an error record (raises :class:`_Terminating` when ``terminating``)."""
        for line in [*error.console_lines(), " "]:
            await self.record(f'<S S="Error">{clixml_string(line)}{_CRLF}</S>')
        self.vars["?"] = False
        if terminating:
            raise _Terminating(error)

    async def stream_line(self, tag: str, message: str) -> None:
        """A line of the warning, verbose or debug stream."""
        await self.record(f'<S S="{tag}">{clixml_string(message)}{_CRLF}</S>')

    async def host_text(self, text: str, *, newline: bool) -> None:
        """``Write-Host``: straight to the console."""
        await self.out(text + "\r\n" if newline else text)

    async def information(self, message: str, *, shown: bool = True) -> None:
        """An information record (``Write-Information``); ``shown``: its
        preference displays it (powershell.exe writes only those)."""
        if not shown:
            return
        text = clixml_string(message)
        self._info_ref += 1
        ref = self._info_ref
        await self.record(
            f'<Obj S="information" RefId="{ref}"><TN RefId="{ref}">'
            "<T>System.Management.Automation.InformationRecord</T><T>System.Object</T></TN>"
            f'<ToString>{text}</ToString><Props><S N="MessageData">{text}</S>'
            '<S N="Source">Write-Information</S><Obj N="Tags" RefId="0"><LST /></Obj>'
            f'<S N="User">{clixml_string(self.ctx.hostname + chr(92) + self.ctx.user)}</S>'
            f'<S N="Computer">{clixml_string(self.ctx.hostname)}</S></Props></Obj>'
        )

    async def progress(
        self, activity: str, status: str, percent: int, activity_id: int, completed: bool
    ) -> None:
        """A progress record (``Write-Progress``)."""
        self._progress_source += 1
        record_type = "Completed" if completed else "Processing"
        await self.record(
            '<Obj S="progress" RefId="0"><TN RefId="0">'
            "<T>System.Management.Automation.PSCustomObject</T><T>System.Object</T></TN><MS>"
            f'<I64 N="SourceId">{self._progress_source}</I64><PR N="Record">'
            f"<AV>{clixml_string(activity)}</AV><AI>{activity_id}</AI><Nil /><PI>-1</PI>"
            f"<PC>{percent}</PC><T>{record_type}</T><SR>-1</SR>"
            f"<SD>{clixml_string(status)}</SD></PR></MS></Obj>"
        )

    async def read_line(self, prompt: str | None) -> str:
        """``Read-Host``: powershell.exe -NonInteractive refuses to read.

        Raises:
            _HostRefused: the host cannot read (the message says why).
        """
        raise _HostRefused(
            "Windows PowerShell is in NonInteractive mode. Read and Prompt functionality "
            "is not available."
        )

    # -- writing (powershell.exe) ------------------------------------------------------

    def _encode(self, stream: str, text: str) -> bytes:
        codec = codec_for(self.output_encoding.codepage) or "ascii"
        data = text.encode(codec, errors="replace")
        if stream in self._bom_pending:
            self._bom_pending.discard(stream)
            data = b"\xef\xbb\xbf" + data
        return data

    async def out(self, text: str) -> None:
        await self.io.stdout.write(self._encode("stdout", text))

    async def record(self, xml: str) -> None:
        head = ""
        if not self._clixml_open:
            self._clixml_open = True
            head = "#< CLIXML\r\n" + _OBJS_OPEN
        await self.io.stderr.write(self._encode("stderr", head + xml))

    async def close_clixml(self) -> None:
        if self._clixml_open:
            await self.io.stderr.write(self._encode("stderr", "</Objs>"))

    # -- values --------------------------------------------------------------------------

    def variable(self, name: str) -> Any:
        if name.lower().startswith("$env:"):
            return self.env.get(name[5:])
        key = name[1:].lower()
        if key == "true":
            return True
        if key == "false":
            return False
        if key == "null":
            return None
        if key == "input":
            return list(self.input or [])
        return self.vars.get(key)

    def interpolate(self, body: str) -> str:
        out: list[str] = []
        i = 0
        escapes = {"n": "\n", "r": "\r", "t": "\t", "0": "\0", "a": "\a", "e": "\x1b"}
        while i < len(body):
            ch = body[i]
            if ch == "`" and i + 1 < len(body):
                nxt = body[i + 1]
                out.append(escapes.get(nxt, nxt))
                i += 2
                continue
            if ch == '"' and body[i + 1 : i + 2] == '"':
                out.append('"')
                i += 2
                continue
            if ch == "$":
                match = re.match(r"\$(?:env:)?\w+", body[i:])
                if match:
                    out.append(_text(self.variable(match.group())))
                    i += match.end()
                    continue
            out.append(ch)
            i += 1
        return "".join(out)

    async def value(self, kind: str, text: str) -> Any:
        if kind == "single":
            return text[1:-1].replace("''", "'")
        if kind == "double":
            return self.interpolate(text[1:-1])
        if kind == "number":
            return int(text)
        if kind == "var":
            return self.variable(text)
        if kind == "paren":
            values = await self.pipeline_values(text)
            return values[0] if len(values) == 1 else values
        if kind == "type":
            return await self.type_member(text)
        return text  # a bare word as an argument is a string

    async def type_member(self, text: str) -> Any:
        low = text.lower().replace("system.", "")
        if low in ("[console]::outputencoding",):
            return self.output_encoding
        if low in ("[console]::inputencoding",):
            return self.input_encoding
        if low in ("[text.encoding]::utf8",):
            return _Encoding(65001, preamble=True)
        if low == "[console]::in.readtoend()":
            return await self.read_stdin()
        raise _NotSupported(text)

    async def read_stdin(self) -> str:
        if self._stdin_text is None:
            chunks = []
            while (block := await self.io.stdin.read()) is not None:
                chunks.append(block)
            codec = codec_for(self.input_encoding.codepage) or "ascii"
            data = b"".join(chunks)
            if codec == "utf-8" and data.startswith(b"\xef\xbb\xbf"):
                data = data[3:]
            self._stdin_text = data.decode(codec, errors="replace")
        return self._stdin_text

    async def assign(self, target: str, value: Any) -> None:
        low = target.lower().replace("system.", "")
        if low.startswith("$env:"):
            self.env[target[5:]] = _text(value)
        elif low.startswith("$"):
            self.vars[low[1:]] = value
        elif low == "[console]::outputencoding" and isinstance(value, _Encoding):
            self.output_encoding = value
            if value.preamble:
                self._bom_pending = {"stdout", "stderr"}
        elif low == "[console]::inputencoding" and isinstance(value, _Encoding):
            self.input_encoding = value
        else:
            raise _NotSupported(target)

    # -- statements ----------------------------------------------------------------------

    async def run_script(self, script: str) -> None:
        for st in split_statements(script):
            await self.statement(st)

    async def statement(self, st: _Statement) -> None:
        text = st.text
        low = text.lower()
        self.vars["?"] = True
        try:
            match = _ASSIGNMENT.match(text)
            if match is not None:
                targets = [match.group(1)]
                rest = match.group(2)
                while (more := _ASSIGNMENT.match(rest)) is not None:
                    targets.append(more.group(1))
                    rest = more.group(2)
                values = await self.pipeline_values(rest, statement=st)
                value = values[0] if len(values) == 1 else (values or None)
                for target in reversed(targets):
                    await self.assign(target, value)
                return
            if low == "exit" or low.startswith("exit "):
                arg = text[4:].strip()
                code = await self.pipeline_values(arg) if arg else [0]
                raise _PSExit(_exit_code(code[0] if code else 0))
            if low.startswith("throw"):
                values = await self.pipeline_values(text[5:].strip() or "'ScriptHalted'")
                message = _text(values[0] if values else "ScriptHalted")
                await self.report(
                    PSError(
                        message,
                        "OperationStopped",
                        "RuntimeException",
                        "System.Management.Automation.RuntimeException",
                        message,
                        target_name=message,
                        target_type="String",
                        statement=st,
                    ),
                    terminating=True,
                )
            values = await self.pipeline_values(text, statement=st)
            if values:
                await self.emit(values)
        except _NotSupported as exc:
            await self.report(
                PSError(
                    f"the test server's PowerShell does not support {exc.args[0]!r}",
                    "NotImplemented",
                    "NotSupportedException",
                    "System.NotSupportedException",
                    "NotSupported",
                    prefix=text,
                )
            )

    async def pipeline_values(self, text: str, statement: _Statement | None = None) -> list[Any]:
        """Run a pipeline; return what it outputs (not written anywhere)."""
        stages = _split_pipeline(text)
        values = await self.element(stages[0], statement)
        for stage in stages[1:]:
            name = stage.strip().lower()
            if name == "out-null":
                values = []
            elif name in ("out-string", "out-default", "out-host"):
                values = ["\r\n".join(_text(v) for v in values)] if values else []
            else:
                tokens = _tokens(stage)
                if not tokens or tokens[0][0] != "word":
                    raise _NotSupported(f"| {stage}")
                st = statement or _Statement(stage, 1, 1)
                values = await self.command(tokens[0][1], tokens[1:], st, input=values)
        return values

    async def element(self, text: str, statement: _Statement | None) -> list[Any]:
        tokens = _tokens(text)
        if not tokens:
            return []
        kind, first = tokens[0]
        if kind != "word" or first.startswith(("&", ".")):
            if any(k == "word" and t in _OPERATORS for k, t in tokens):
                return [await self.arithmetic(tokens)]
            values = [await self.value(k, t) for k, t in tokens if k != "comma"]
            return values
        st = statement or _Statement(text, 1, 1)
        return await self.command(first, tokens[1:], st)

    async def arithmetic(self, tokens: list[tuple[str, str]]) -> Any:
        """``a op b op c``: ``* / %`` before ``+ -``, left to right (numbers;
        ``+`` of strings joins them)."""
        operands: list[Any] = []
        operators: list[str] = []
        expect_value = True
        for kind, text in tokens:
            if expect_value:
                if kind == "word" and text in _OPERATORS:
                    raise _NotSupported(text)
                operands.append(await self.value(kind, text))
            else:
                if not (kind == "word" and text in _OPERATORS):
                    raise _NotSupported(text)
                operators.append(text)
            expect_value = not expect_value
        if expect_value:
            raise _NotSupported("an operator without its right operand")
        for group in ("*/%", "+-"):
            i = 0
            while i < len(operators):
                if operators[i] in group:
                    operands[i : i + 2] = [_apply(operators[i], operands[i], operands[i + 1])]
                    del operators[i]
                else:
                    i += 1
        return operands[0]

    async def arguments(self, tokens: list[tuple[str, str]]) -> tuple[list[Any], dict[str, Any]]:
        positional: list[Any] = []
        named: dict[str, Any] = {}
        i = 0
        while i < len(tokens):
            kind, text = tokens[i]
            if kind == "param":
                name = text[1:].rstrip(":").lower()
                if i + 1 < len(tokens) and tokens[i + 1][0] != "param":
                    nxt = tokens[i + 1]
                    if name in _PARAMS_WITH_VALUES:
                        value = await self.value(*nxt)
                        i += 2
                        # "-Property Name, Id": a comma makes the value a list.
                        if i + 1 < len(tokens) and tokens[i][0] == "comma":
                            items = [value]
                            while i + 1 < len(tokens) and tokens[i][0] == "comma":
                                items.append(await self.value(*tokens[i + 1]))
                                i += 2
                            value = items
                        named[name] = value
                        continue
                named[name] = True
            elif kind != "comma":
                positional.append(await self.value(kind, text))
            i += 1
        return positional, named

    async def command(
        self,
        name: str,
        tokens: list[tuple[str, str]],
        st: _Statement,
        *,
        input: list[Any] | None = None,
    ) -> list[Any]:
        low = name.lower()
        if low in _CMDLETS:
            positional, named = await self.arguments(tokens)
            return await self.invoke(name, positional, named, st, input=input)
        native = program_name(name)
        if native in _NATIVE:
            return await self.native(native, tokens)
        await self.report(not_recognized(name, st))
        return []

    async def invoke(
        self,
        name: str,
        positional: list[Any],
        named: dict[str, Any],
        st: _Statement,
        *,
        input: list[Any] | None = None,
    ) -> list[Any]:
        """Run cmdlet ``name`` (a key of the cmdlet table) with its arguments
        and pipeline input."""
        handler = _CMDLETS[name.lower()]
        if input is not None:
            named = {**named, "__input__": input}
        return await handler(self, positional, named, st)

    async def native(self, name: str, tokens: list[tuple[str, str]]) -> list[Any]:
        args: list[str] = []
        for kind, text in tokens:
            if kind == "comma":
                continue
            value = text if kind in ("word", "param") else _text(await self.value(kind, text))
            args.append(f'"{value}"' if (" " in value or not value) else value)
        line = " ".join([name, *args])
        # A native program writes to the process's own handles (no stdin).
        io = ProgramIO(NULL, self.io.stdout, self.io.stderr, self.ctx.codepage)
        code = await run_command_line(io, self.ctx, line)
        self.vars["lastexitcode"] = code
        self.vars["?"] = code == 0
        return []


class _HostRefused(Exception):
    """The host would not do what a cmdlet asked (read a line...)."""


_OPERATORS: Final = frozenset({"+", "-", "*", "/", "%"})


def _apply(operator: str, left: Any, right: Any) -> Any:
    if operator == "+" and isinstance(left, str):
        return left + _text(right)
    a, b = _number(left), _number(right)
    if operator == "+":
        return a + b
    if operator == "-":
        return a - b
    if operator == "*":
        return a * b
    if b == 0:
        raise _NotSupported("division by zero")
    if operator == "%":
        return a % b
    quotient = a / b
    return int(quotient) if quotient == int(quotient) else quotient


def _number(value: Any) -> int | float:
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    try:
        return int(str(value))
    except ValueError:
        try:
            return float(str(value))
        except ValueError:
            raise _NotSupported(f"{value!r} as a number") from None


def _exit_code(value: Any) -> int:
    if value is None or value is False:
        return 0
    if value is True:
        return 1
    try:
        return int(str(value))
    except ValueError:
        return 0


def _service_table(services: list[Service]) -> str:
    """Format-Table's view of ServiceController objects: Status, Name, DisplayName."""
    rows = [
        "",
        "Status   Name               DisplayName",
        "------   ----               -----------",
    ]
    for svc in services:
        line = f"{svc.status:<8} {svc.name:<18} {svc.display_name}"
        rows.append(line if len(line) <= 79 else line[:76] + "...")
    return "\r\n".join([*rows, "", ""])


# -- cmdlets -----------------------------------------------------------------------------

_Cmdlet = Callable[[Interpreter, list[Any], dict[str, Any], _Statement], Awaitable[list[Any]]]
_PARAMS_WITH_VALUES: Final = frozenset(
    {
        "message",
        "erroraction",
        "informationaction",
        "activity",
        "status",
        "percentcomplete",
        "id",
        "seconds",
        "milliseconds",
        "name",
        "object",
        "inputobject",
        "currentoperation",
        "typename",
        "argumentlist",
        "command",
        "prompt",
        "messagedata",
        "count",
        "first",
        "property",
    }
)


def _piped(named: dict[str, Any]) -> list[Any] | None:
    value = named.get("__input__")
    return value if isinstance(value, list) else None


async def _write_output(
    ps: Interpreter, args: list[Any], named: dict[str, Any], st: _Statement
) -> list[Any]:
    values = list(args)
    if "inputobject" in named:
        values.insert(0, named["inputobject"])
    piped = _piped(named)
    if piped is not None and not values:
        values = piped  # the pipeline's input, echoed
    return [v for v in values if v is not None]


async def _write_host(
    ps: Interpreter, args: list[Any], named: dict[str, Any], st: _Statement
) -> list[Any]:
    text = " ".join(_text(a) for a in args if a is not None)
    if "object" in named:
        text = _text(named["object"])
    await ps.host_text(text, newline=not named.get("nonewline"))
    return []


async def _write_error(
    ps: Interpreter, args: list[Any], named: dict[str, Any], st: _Statement
) -> list[Any]:
    message = _text(named.get("message", args[0] if args else ""))
    stop = str(named.get("erroraction", ps.vars["erroractionpreference"])).lower() == "stop"
    if str(named.get("erroraction", "")).lower() in ("silentlycontinue", "ignore"):
        ps.vars["?"] = False
        return []
    await ps.report(
        PSError(
            message,
            "NotSpecified",
            "WriteErrorException",
            "Microsoft.PowerShell.Commands.WriteErrorException",
            "Microsoft.PowerShell.Commands.WriteErrorException",
            activity="Write-Error",
            prefix=st.text,
            statement=st,
            console_position=False,
        ),
        terminating=stop,
    )
    return []


def _wants(ps: Interpreter, preference: str, switch: bool) -> bool:
    return switch or str(ps.vars[preference]).lower() == "continue"


def _stream_cmdlet(tag: str, preference: str, switch: str | None) -> _Cmdlet:
    """``Write-Warning``/``-Verbose``/``-Debug``: a line of stream ``tag`` when
    ``$<preference>`` is Continue (or the ``-<switch>`` switch is given)."""

    async def write(
        ps: Interpreter, args: list[Any], named: dict[str, Any], st: _Statement
    ) -> list[Any]:
        if _wants(ps, preference, bool(switch and named.get(switch))):
            await ps.stream_line(tag, _text(named.get("message", args[0] if args else "")))
        return []

    return write


async def _write_information(
    ps: Interpreter, args: list[Any], named: dict[str, Any], st: _Statement
) -> list[Any]:
    action = str(named.get("informationaction", "")).lower()
    if action == "ignore":
        return []
    # SilentlyContinue (the default) hides the record but keeps it in the
    # information stream: a console does not show it, remoting sends it.
    shown = action == "continue" or _wants(ps, "informationpreference", False)
    await ps.information(_text(named.get("messagedata", args[0] if args else "")), shown=shown)
    return []


async def _write_progress(
    ps: Interpreter, args: list[Any], named: dict[str, Any], st: _Statement
) -> list[Any]:
    if str(ps.vars["progresspreference"]).lower() == "silentlycontinue":
        return []
    await ps.progress(
        _text(named.get("activity", args[0] if args else "")),
        _text(named.get("status", "Processing")),
        _exit_code(named.get("percentcomplete", -1)),
        _exit_code(named.get("id", 0)),
        bool(named.get("completed")),
    )
    return []


async def _start_sleep(
    ps: Interpreter, args: list[Any], named: dict[str, Any], st: _Statement
) -> list[Any]:
    if "milliseconds" in named:
        seconds = _exit_code(named["milliseconds"]) / 1000
    else:
        seconds = float(_text(named.get("seconds", args[0] if args else 0)) or 0)
    await asyncio.sleep(seconds)
    return []


async def _invoke_expression(
    ps: Interpreter, args: list[Any], named: dict[str, Any], st: _Statement
) -> list[Any]:
    script = _text(named.get("command", args[0] if args else ""))
    await ps.run_script(script)
    return []


async def _new_object(
    ps: Interpreter, args: list[Any], named: dict[str, Any], st: _Statement
) -> list[Any]:
    type_name = _text(named.get("typename", args[0] if args else "")).lower()
    if type_name.replace("system.", "") == "text.utf8encoding":
        ctor = args[1:] or [named.get("argumentlist")]
        return [_Encoding(65001, preamble=bool(ctor and ctor[0] is True))]
    raise _NotSupported(f"New-Object {type_name}")


def _names(args: list[Any], named: dict[str, Any]) -> list[str]:
    wanted: list[str] = []
    for value in [*args, *([named["name"]] if "name" in named else [])]:
        wanted.extend(_text(v) for v in (value if isinstance(value, list) else [value]) if v)
    return wanted


async def _get_service(
    ps: Interpreter, args: list[Any], named: dict[str, Any], st: _Statement
) -> list[Any]:
    wanted = _names(args, named)
    services = sorted(
        (Service(name, state, display) for name, state, display in ps.ctx.services()),
        key=lambda s: s.name.lower(),
    )
    if not wanted:
        return list(services)
    found: list[Any] = []
    for name in wanted:
        match = [s for s in services if s.name.lower() == name.lower()]
        if not match:
            await ps.report(
                PSError(
                    f"Cannot find any service with service name '{name}'.",
                    "ObjectNotFound",
                    "ServiceCommandException",
                    "Microsoft.PowerShell.Commands.ServiceCommandException",
                    "NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.GetServiceCommand",
                    target_name=name,
                    target_type="String",
                    activity="Get-Service",
                    prefix=st.text,
                )
            )
        found.extend(match)
    return found


async def _get_date(
    ps: Interpreter, args: list[Any], named: dict[str, Any], st: _Statement
) -> list[Any]:
    return [datetime.datetime.now().astimezone()]


#: Get-Process: the processes of every simulated host (names, then a
#: seeded count of svchost instances), ids and figures derived from the host.
_PROCESS_NAMES: Final = (
    ("System", None),
    ("smss", r"C:\Windows\System32\smss.exe"),
    ("csrss", r"C:\Windows\System32\csrss.exe"),
    ("wininit", r"C:\Windows\System32\wininit.exe"),
    ("services", r"C:\Windows\System32\services.exe"),
    ("lsass", r"C:\Windows\System32\lsass.exe"),
    ("svchost", r"C:\Windows\System32\svchost.exe"),
    ("svchost", r"C:\Windows\System32\svchost.exe"),
    ("svchost", r"C:\Windows\System32\svchost.exe"),
    ("spoolsv", r"C:\Windows\System32\spoolsv.exe"),
    ("explorer", r"C:\Windows\explorer.exe"),
    ("wsmprovhost", r"C:\Windows\System32\wsmprovhost.exe"),
)


def processes(hostname: str) -> list[SimProcessInfo]:
    """The processes ``Get-Process`` lists on host ``hostname`` (stable per host)."""
    seed = sum(hostname.encode())
    out = []
    for i, (name, path) in enumerate(_PROCESS_NAMES):
        pid = 4 if name == "System" else 300 + ((seed * 7 + i * 131) % 9000) // 4 * 4
        out.append(
            SimProcessInfo(
                name=name,
                id=pid,
                handles=200 + (seed + i * 37) % 1500,
                cpu=round(((seed + i * 13) % 5000) / 100, 2),
                working_set=(4 + (seed + i * 17) % 200) * 1024 * 1024,
                path=path,
            )
        )
    return sorted(out, key=lambda p: (p.name.lower(), p.id))


async def _get_process(
    ps: Interpreter, args: list[Any], named: dict[str, Any], st: _Statement
) -> list[Any]:
    wanted = _names(args, named)
    listed = processes(ps.ctx.hostname)
    if "id" in named:
        ids = {
            _exit_code(v) for v in (named["id"] if isinstance(named["id"], list) else [named["id"]])
        }
        return [p for p in listed if p.id in ids]
    if not wanted:
        return list(listed)
    found: list[Any] = []
    for name in wanted:
        match = [p for p in listed if fnmatch.fnmatch(p.name.lower(), name.lower())]
        if not match:
            await ps.report(
                PSError(
                    f'Cannot find a process with the name "{name}". Verify the process name '
                    "and call the cmdlet again.",
                    "ObjectNotFound",
                    "ProcessCommandException",
                    "Microsoft.PowerShell.Commands.ProcessCommandException",
                    "NoProcessFoundForGivenName,Microsoft.PowerShell.Commands.GetProcessCommand",
                    target_name=name,
                    target_type="String",
                    activity="Get-Process",
                    prefix=st.text,
                )
            )
        found.extend(match)
    return found


async def _read_host(
    ps: Interpreter, args: list[Any], named: dict[str, Any], st: _Statement
) -> list[Any]:
    prompt = named.get("prompt", args[0] if args else None)
    try:
        return [await ps.read_line(None if prompt is None else _text(prompt))]
    except _HostRefused as exc:
        await ps.report(
            PSError(
                str(exc),
                "InvalidOperation",
                "PSInvalidOperationException",
                "System.Management.Automation.PSInvalidOperationException",
                "InvalidOperation,Microsoft.PowerShell.Commands.ReadHostCommand",
                activity="Read-Host",
                prefix=st.text,
                statement=st,
            )
        )
        return []


async def _select_object(
    ps: Interpreter, args: list[Any], named: dict[str, Any], st: _Statement
) -> list[Any]:
    values = list(_piped(named) or [])
    if "first" in named:
        values = values[: _exit_code(named["first"])]
    props = named.get("property", args[0] if args else None)
    if props is None:
        return values
    names = [_text(p) for p in (props if isinstance(props, list) else [props])]
    return [CustomObject(tuple((n, _property(v, n)) for n in names)) for v in values]


def _property(value: Any, name: str) -> Any:
    """A property of a plain value, by name, without case (None when missing)."""
    if isinstance(value, CustomObject):
        for key, item in value.properties:
            if key.lower() == name.lower():
                return item
        return None
    for field in dataclasses.fields(value) if dataclasses.is_dataclass(value) else ():
        if field.name.replace("_", "").lower() == name.replace("_", "").lower():
            return getattr(value, field.name)
    return None


async def _aiowsman_objects(
    ps: Interpreter, args: list[Any], named: dict[str, Any], st: _Statement
) -> list[Any]:
    count = _exit_code(named.get("count", args[0] if args else 10))
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    return [
        CustomObject(
            (
                ("Index", i),
                ("Name", f"object-{i}"),
                ("Value", i * 1.5),
                ("Enabled", i % 2 == 0),
                ("When", start + datetime.timedelta(seconds=i)),
                ("Tags", ["a", "b"]),
            )
        )
        for i in range(max(0, count))
    ]


_CMDLETS: Final[dict[str, _Cmdlet]] = {
    "write-output": _write_output,
    "echo": _write_output,
    "write": _write_output,
    "write-host": _write_host,
    "write-error": _write_error,
    "write-warning": _stream_cmdlet("warning", "warningpreference", None),
    "write-verbose": _stream_cmdlet("verbose", "verbosepreference", "verbose"),
    "write-debug": _stream_cmdlet("debug", "debugpreference", None),
    "write-information": _write_information,
    "write-progress": _write_progress,
    "start-sleep": _start_sleep,
    "sleep": _start_sleep,
    "invoke-expression": _invoke_expression,
    "iex": _invoke_expression,
    "new-object": _new_object,
    "get-service": _get_service,
    "gsv": _get_service,
    "get-date": _get_date,
    "get-process": _get_process,
    "gps": _get_process,
    "read-host": _read_host,
    "select-object": _select_object,
    "select": _select_object,
    "aiowsman-objects": _aiowsman_objects,
}


# -- powershell.exe ------------------------------------------------------------------------


def _parameter(arg: str) -> str | None:
    """The full name of a powershell.exe parameter given by any unique prefix."""
    if not arg.startswith(("-", "/")):
        return None
    given = arg[1:].lower()
    if given in ("e", "ec", "enc"):
        return "encodedcommand"
    if given in ("c",):
        return "command"
    names = [*_SWITCHES, *_VALUED, "encodedcommand", "command", "file"]
    matches = [n for n in names if n.startswith(given)] if given else []
    return matches[0] if len(matches) == 1 else None


async def run_powershell(io: ProgramIO, ctx: Context, argv: list[str]) -> int:
    """Run ``powershell.exe argv``; returns its exit code."""
    script: str | None = None
    i = 0
    while i < len(argv):
        name = _parameter(argv[i])
        if name in _VALUED:
            i += 2
            continue
        if name == "encodedcommand" and i + 1 < len(argv):
            try:
                script = base64.b64decode(argv[i + 1], validate=True).decode("utf-16-le")
            except (binascii.Error, UnicodeDecodeError):
                await io.err(
                    "Cannot process the command because the value specified with "
                    "-EncodedCommand is not properly encoded. The value must be Base64 "
                    "encoded.\r\n"
                )
                return 1
            break
        if name == "command":
            rest = argv[i + 1 :]
            script = None if rest in ([], ["-"]) else " ".join(rest)
            break
        if name == "file":
            await io.err("-File is not supported by the test server's PowerShell.\r\n")
            return 1
        if name is None and not argv[i].startswith(("-", "/")):
            script = " ".join(argv[i:])  # powershell.exe treats the rest as -Command
            break
        i += 1
    ps = Interpreter(io, ctx)
    code = 0
    try:
        if script is None:
            script = await ps.read_stdin()
        await ps.run_script(script)
        code = 0 if ps.vars["?"] else 1
    except _PSExit as stop:
        code = stop.code
    except _Terminating:
        code = 1
    finally:
        await asyncio.shield(ps.close_clixml())
    return code
