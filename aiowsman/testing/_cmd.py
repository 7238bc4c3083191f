"""A small cmd.exe for the test server's remote shells: documented rules, deterministic output.

A WinRS command runs as ``cmd.exe /c <command line>`` (MS-WSMV 3.1.4.11;
the command line is ``rsp:Command`` and the ``rsp:Arguments`` joined by
spaces). This module emulates that much of cmd.exe, by cmd's own rules:

1. ``%NAME%`` is replaced by the variable's value (names without case; an
   undefined one is left as written; ``%%`` is ``%``), before anything else
   and inside quotes too -- as cmd's first parsing phase does.
2. Outside double quotes, ``&``, ``&&``, ``||`` and ``|`` separate commands
   (``a & b``: both; ``a && b``: b if a exited 0; ``a || b``: b if a
   failed; ``a | b``: a's stdout is b's stdin, both run at once), and ``^``
   escapes the next character.
3. Redirections: ``2>&1`` (stderr into stdout), ``1>&2`` or ``>&2`` (stdout
   into stderr), ``>nul`` / ``2>nul`` (discarded). Any other target is
   discarded too: the simulated host has no file system.
4. Arguments split by the Microsoft C runtime's rules (white space outside
   quotes; ``\\"`` is a quote).
5. The program is the first word (any directory and ``.exe`` dropped); a
   name not in the repertoire prints cmd's "is not recognized" message on
   stderr and exits 9009.

The repertoire (output in the console code page: what the page cannot
carry becomes ``?``; lines end with CRLF):

===============================  ====================================================
``hostname``                     the host name
``echo TEXT`` / ``echo.``        TEXT as written (quotes and the spaces before an
                                 operator included); ``echo.``: an empty line;
                                 bare ``echo``: ``ECHO is on.``
``exit [/b] [N]``                stop, exit code N (default 0)
``set [NAME[=VALUE]]``           list variables (sorted) / those starting with NAME /
                                 set one (seen by later programs, not by ``%NAME%``
                                 in the same line: cmd expands the line first)
``cd``                           the working directory
``ver``, ``whoami``, ``chcp``    Windows version, ``host\\user``, ``Active code page: N``
``ipconfig [/all]``              one Ethernet adapter, its address made from the
                                 host name
``more``                         stdin to stdout, line by line as it arrives
``findstr [/i] [/v] TEXT``       the stdin lines containing TEXT (streamed)
``sort [/r]``                    the stdin lines, sorted without case, at its end
``ping [-n N] [-t] HOST``        N replies (4 by default), ``ping_interval`` seconds
                                 apart, then statistics; ``-t`` runs until Ctrl-C
                                 (then statistics, ``Control-C``, exit 0xC000013A)
``waitfor [/t N] NAME``          silence for N seconds (forever without ``/t``), then
                                 ``ERROR: Timed out waiting for 'NAME'.``, exit 1
``timeout /t N``                 a countdown of N seconds; with stdin a pipe
                                 (``WINRS_CONSOLEMODE_STDIN=FALSE``) it refuses to
                                 run, as Windows' does: an error on stderr, exit 1
``cmd /c LINE``                  LINE, by these rules
``powershell ...``               see :mod:`aiowsman.testing._powershell`
``aiowsman-lines N [MS] [TEXT]``  (test program) N lines ``TEXT i``, MS ms apart
                                 (100 by default)
``aiowsman-bytes N``             (test program) N bytes of a fixed ASCII pattern, in
                                 64 KiB writes
===============================  ====================================================

Ctrl-C and Ctrl-Break end a program as Windows ends a console program
(exit code 0xC000013A, STATUS_CONTROL_C_EXIT); a program's output waits while
``OUTPUT_LIMIT`` bytes are unread, as a process writing to a full pipe does.
"""

from __future__ import annotations

import asyncio
import codecs
import collections
import hashlib
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

__all__ = [
    "OUTPUT_LIMIT",
    "STATUS_CONTROL_C_EXIT",
    "Context",
    "Environment",
    "ProgramIO",
    "SimProcess",
    "codec_for",
    "run_command_line",
    "run_program",
]

#: Bytes of unread output a process may have before its writes wait (a pipe buffer).
OUTPUT_LIMIT: Final = 256 * 1024
#: The exit code of a console program ended by Ctrl-C or Ctrl-Break (ntstatus.h).
STATUS_CONTROL_C_EXIT: Final = 0xC000013A
#: cmd.exe's exit code for a command it cannot find.
EXIT_NOT_RECOGNIZED: Final = 9009


def codec_for(codepage: int) -> str | None:
    """The Python codec of a Windows code page, or None when there is none."""
    if codepage == 65001:
        return "utf-8"
    if codepage == 1200:
        return "utf-16-le"
    try:
        return codecs.lookup(f"cp{codepage}").name
    except LookupError:
        return None


def encode(text: str, codepage: int) -> bytes:
    """``text`` in a code page; what it cannot carry becomes ``?`` (as
    Windows' WideCharToMultiByte does)."""
    return text.encode(codec_for(codepage) or "ascii", errors="replace")


# -- a process and its streams -------------------------------------------------------------


class Sink(Protocol):
    """Where a program writes one stream."""

    async def write(self, data: bytes) -> None: ...


class Source(Protocol):
    """Where a program reads its stdin."""

    async def read(self) -> bytes | None:
        """The next block of input; None at its end."""
        ...


class _Null:
    async def write(self, data: bytes) -> None:
        return None

    async def read(self) -> bytes | None:
        return None


NULL: Final = _Null()


class SimProcess:
    """One running command as WinRS sees it: stdin in, ordered output out, an exit code.

    The program side writes through :meth:`sink` (waiting while
    :data:`OUTPUT_LIMIT` bytes are unread) and reads :meth:`source`; the
    protocol side feeds stdin (:meth:`feed`), takes output (:meth:`take`),
    and waits for some (:meth:`wait_ready`).
    """

    def __init__(self, limit: int = OUTPUT_LIMIT) -> None:
        self._limit = limit
        self._output: collections.deque[tuple[str, bytes]] = collections.deque()
        self._queued = 0
        self._space = asyncio.Event()
        self._space.set()
        self._ready = asyncio.Event()
        self._stdin: collections.deque[bytes] = collections.deque()
        self._stdin_end = False
        self._stdin_ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.exit_code: int | None = None
        self.interrupted = False
        self.stdin_bytes = 0

    # -- program side ------------------------------------------------------------

    def sink(self, stream: str) -> Sink:
        """A writer of ``stream`` (``stdout``/``stderr``)."""
        return _QueueSink(self, stream)

    def source(self) -> Source:
        """The reader of stdin."""
        return _StdinSource(self)

    async def _write(self, stream: str, data: bytes) -> None:
        if not data:
            return
        while self._queued >= self._limit:
            self._space.clear()
            await self._space.wait()
        self._output.append((stream, data))
        self._queued += len(data)
        self._ready.set()

    async def _read(self) -> bytes | None:
        while not self._stdin:
            if self._stdin_end:
                return None
            self._stdin_ready.clear()
            await self._stdin_ready.wait()
        return self._stdin.popleft()

    # -- protocol side -----------------------------------------------------------------

    def start(self, main: Callable[[SimProcess], Awaitable[int]]) -> None:
        """Run ``main`` (which returns the exit code) as this process."""

        async def run() -> None:
            try:
                code = await main(self)
            except asyncio.CancelledError:
                if not self.interrupted:
                    raise
                code = STATUS_CONTROL_C_EXIT
            self.exit_code = code

        self.task = asyncio.get_running_loop().create_task(run())
        self.task.add_done_callback(lambda _: self._ready.set())

    @property
    def done(self) -> bool:
        """The program has exited (or was killed)."""
        return self.task is not None and self.task.done()

    def feed(self, data: bytes, *, end: bool) -> None:
        """Stdin from a Send; ``end`` closes it."""
        if self._stdin_end:
            return
        if data:
            self._stdin.append(data)
            self.stdin_bytes += len(data)
        if end:
            self._stdin_end = True
        self._stdin_ready.set()

    @property
    def stdin_closed(self) -> bool:
        return self._stdin_end

    def has_output(self, streams: frozenset[str]) -> bool:
        return any(s in streams for s, _ in self._output)

    def take(
        self, streams: frozenset[str], budget: int, *, per_block: int = 0
    ) -> list[tuple[str, bytes]]:
        """Unread output of ``streams`` in order, as blocks whose base64 size
        plus ``per_block`` each stay within ``budget`` (a block too large for
        what is left is split)."""
        taken: list[tuple[str, bytes]] = []
        kept: collections.deque[tuple[str, bytes]] = collections.deque()
        while self._output:
            room = (budget - per_block) // 4 * 3
            if room <= 0:
                break
            stream, data = self._output.popleft()
            if stream not in streams:
                kept.append((stream, data))
                continue
            if len(data) > room:
                self._output.appendleft((stream, data[room:]))
                data = data[:room]
            taken.append((stream, data))
            budget -= per_block + (len(data) + 2) // 3 * 4
            self._queued -= len(data)
        self._output.extendleft(reversed(kept))
        if self._queued < self._limit:
            self._space.set()
        return taken

    def push(self, stream: str, data: bytes) -> None:
        """Queue output at once, whatever is unread (the writer then waits
        with :meth:`room`): for writers that produce whole blocks that must
        not be split into writes (PSRP fragments)."""
        if data:
            self._output.append((stream, data))
            self._queued += len(data)
            self._ready.set()

    async def room(self) -> None:
        """Wait until the unread output is below the limit."""
        while self._queued >= self._limit:
            self._space.clear()
            await self._space.wait()

    def output_left(self, streams: frozenset[str]) -> bool:
        return any(s in streams for s, _ in self._output)

    async def wait_ready(self, streams: frozenset[str], within: float) -> bool:
        """Wait until output of ``streams`` is unread or the program exited;
        False when ``within`` seconds passed first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not (self.has_output(streams) or self.done):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._ready.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._ready.wait()
            except TimeoutError:
                return self.has_output(streams) or self.done
        return True

    def interrupt(self) -> None:
        """Ctrl-C / Ctrl-Break: the program ends with STATUS_CONTROL_C_EXIT."""
        if self.task is not None and not self.task.done():
            self.interrupted = True
            self.task.cancel()

    def kill(self) -> None:
        """Terminate: the program is stopped at once."""
        if self.task is not None and not self.task.done():
            self.task.cancel()
        self._space.set()


class _QueueSink:
    def __init__(self, proc: SimProcess, stream: str) -> None:
        self._proc = proc
        self._stream = stream

    async def write(self, data: bytes) -> None:
        await self._proc._write(self._stream, data)


class _StdinSource:
    def __init__(self, proc: SimProcess) -> None:
        self._proc = proc

    async def read(self) -> bytes | None:
        return await self._proc._read()


class _Pipe:
    """``a | b``: a's stdout is b's stdin (a small buffer, as a pipe). Once
    the reader has exited, writes are dropped (the writer of a broken pipe
    is not left waiting)."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(16)
        self._reader_gone = False

    async def write(self, data: bytes) -> None:
        if data and not self._reader_gone:
            await self._queue.put(data)

    async def close(self) -> None:
        if not self._reader_gone:
            await self._queue.put(None)

    async def read(self) -> bytes | None:
        return await self._queue.get()

    def reader_done(self) -> None:
        self._reader_gone = True
        while not self._queue.empty():
            self._queue.get_nowait()


# -- what a program sees ----------------------------------------------------------------------


class Environment:
    """Environment variables: names without case, the first spelling kept."""

    def __init__(self, values: Mapping[str, str] = {}) -> None:
        self._values: dict[str, tuple[str, str]] = {}
        for name, value in values.items():
            self[name] = value

    def __setitem__(self, name: str, value: str) -> None:
        key = name.casefold()
        old = self._values.get(key)
        self._values[key] = (old[0] if old else name, value)

    def __delitem__(self, name: str) -> None:
        self._values.pop(name.casefold(), None)

    def get(self, name: str) -> str | None:
        item = self._values.get(name.casefold())
        return item[1] if item else None

    def items(self) -> Iterator[tuple[str, str]]:
        return iter(sorted(self._values.values(), key=lambda kv: kv[0].casefold()))

    def copy(self) -> Environment:
        new = Environment()
        new._values = dict(self._values)
        return new


@dataclass
class Context:
    """The host facts a program may print, and the shell's settings.

    Attributes:
        hostname: the host name (``HOST0000``).
        user: the user the shell runs as.
        environment: the process environment.
        cwd: the working directory.
        codepage: the console code page (``WINRS_CODEPAGE``).
        os_version: ``10.0.17763``...
        ping_interval: seconds between ping replies.
        services: ``() -> [(Name, State, DisplayName)]`` for ``Get-Service``.
        console_stdin: stdin is a console, not a pipe (``WINRS_CONSOLEMODE_STDIN``).
    """

    hostname: str
    user: str
    environment: Environment
    cwd: str
    codepage: int
    os_version: str = "10.0.17763"
    ping_interval: float = 1.0
    services: Callable[[], list[tuple[str, str, str]]] = field(default=lambda: [])
    console_stdin: bool = True


@dataclass
class ProgramIO:
    """A program's three streams."""

    stdin: Source
    stdout: Sink
    stderr: Sink
    codepage: int

    async def out(self, text: str) -> None:
        await self.stdout.write(encode(text, self.codepage))

    async def err(self, text: str) -> None:
        await self.stderr.write(encode(text, self.codepage))

    async def lines(self) -> collections.abc.AsyncIterator[bytes]:
        """Stdin line by line (without the line end), as it arrives; the last
        line may lack an end."""
        pending = b""
        while True:
            block = await self.stdin.read()
            if block is None:
                break
            pending += block
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line.rstrip(b"\r")
        if pending:
            yield pending.rstrip(b"\r")


Program = Callable[[ProgramIO, Context, list[str], str], Awaitable[int]]


class _Exit(Exception):
    """``exit``: stop the whole command line with this code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


# -- parsing ------------------------------------------------------------------------------------

_VARIABLE = re.compile(r"%%|%([^%\r\n]+)%")


def expand_variables(line: str, env: Environment) -> str:
    """cmd's phase 1: ``%NAME%`` replaced by its value, ``%%`` by ``%``."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        found = env.get(name)
        return match.group(0) if found is None else found

    return _VARIABLE.sub(value, line)


def split_operators(line: str) -> list[tuple[str, str]]:
    """``[(segment, operator after it)]`` for ``&``, ``&&``, ``||``, ``|``
    outside quotes (``^`` escapes a character, and is removed)."""
    parts: list[tuple[str, str]] = []
    current: list[str] = []
    quoted = False
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == '"':
            quoted = not quoted
            current.append(ch)
        elif ch == "^" and not quoted and i + 1 < len(line):
            current.append(line[i + 1])
            i += 1
        elif ch == "&" and not quoted and "".join(current).rstrip().endswith((">", "<")):
            current.append(ch)  # ">&2": a redirection, not a separator
        elif ch in "&|" and not quoted:
            op = ch
            if i + 1 < len(line) and line[i + 1] == ch:
                op = ch * 2
                i += 1
            parts.append(("".join(current), op))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append(("".join(current), ""))
    return parts


_REDIRECT = re.compile(r'(?<![^\s"])([12]?)>(&[12]|\s*[^\s&|<>]+)')


def split_redirections(segment: str) -> tuple[str, dict[str, str]]:
    """The segment without its redirections, and ``{"1"|"2": "&1"|"&2"|"nul"}``."""
    redirects: dict[str, str] = {}
    out: list[str] = []
    pos = 0
    quoted_spans = _quoted_spans(segment)
    for match in _REDIRECT.finditer(segment):
        if any(a <= match.start() < b for a, b in quoted_spans):
            continue
        handle = match.group(1) or "1"
        target = match.group(2).strip()
        redirects[handle] = target.lower() if target.startswith("&") else "nul"
        out.append(segment[pos : match.start()])
        pos = match.end()
    out.append(segment[pos:])
    return "".join(out), redirects


def _quoted_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    start = None
    for i, ch in enumerate(text):
        if ch == '"':
            if start is None:
                start = i
            else:
                spans.append((start, i + 1))
                start = None
    if start is not None:
        spans.append((start, len(text)))
    return spans


def split_arguments(text: str) -> list[str]:
    """Split a command line into arguments (Microsoft C runtime rules)."""
    args: list[str] = []
    current: list[str] = []
    in_arg = quoted = False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            n = 0
            while i < len(text) and text[i] == "\\":
                n += 1
                i += 1
            if i < len(text) and text[i] == '"':
                current.append("\\" * (n // 2))
                if n % 2:
                    current.append('"')
                    i += 1
            else:
                current.append("\\" * n)
            in_arg = True
            continue
        if ch == '"':
            quoted = not quoted
            in_arg = True
        elif ch in " \t" and not quoted:
            if in_arg:
                args.append("".join(current))
                current = []
                in_arg = False
        else:
            current.append(ch)
            in_arg = True
        i += 1
    if in_arg:
        args.append("".join(current))
    return args


def program_name(word: str) -> str:
    """``C:\\Windows\\System32\\PING.EXE`` -> ``ping``."""
    name = word.replace("/", "\\").rsplit("\\", 1)[-1].lower()
    for ext in (".exe", ".com"):
        if name.endswith(ext):
            return name[: -len(ext)]
    return name


# -- running -----------------------------------------------------------------------------------


async def run_command_line(io: ProgramIO, ctx: Context, line: str) -> int:
    """Run ``line`` as ``cmd.exe /c`` would; returns the exit code."""
    expanded = expand_variables(line, ctx.environment)
    try:
        return await _run_sequence(io, ctx, split_operators(expanded))
    except _Exit as stop:
        return stop.code


async def _run_sequence(io: ProgramIO, ctx: Context, parts: list[tuple[str, str]]) -> int:
    code = 0
    skip = False
    i = 0
    while i < len(parts):
        # A pipeline: segments joined by "|".
        group = [parts[i][0]]
        while parts[i][1] == "|" and i + 1 < len(parts):
            i += 1
            group.append(parts[i][0])
        op = parts[i][1]
        i += 1
        if not skip and any(s.strip() for s in group):
            code = await _run_pipeline(io, ctx, group)
        # The operator after this pipeline decides whether the next runs.
        skip = (op == "&&" and code != 0) or (op == "||" and code == 0)
    return code


async def _run_pipeline(io: ProgramIO, ctx: Context, segments: list[str]) -> int:
    if len(segments) == 1:
        return await _run_segment(io, ctx, segments[0])
    pipes = [_Pipe() for _ in segments[:-1]]

    async def stage(n: int) -> int:
        stdin = io.stdin if n == 0 else pipes[n - 1]
        stdout = pipes[n] if n < len(pipes) else io.stdout
        try:
            return await _run_segment(
                ProgramIO(stdin, stdout, io.stderr, io.codepage), ctx, segments[n]
            )
        finally:
            if n < len(pipes):
                await pipes[n].close()
            if n > 0:
                pipes[n - 1].reader_done()

    codes = await asyncio.gather(*(stage(n) for n in range(len(segments))))
    return codes[-1]


async def _run_segment(io: ProgramIO, ctx: Context, segment: str) -> int:
    text, redirects = split_redirections(segment)
    # cmd keeps the spaces before an operator: "echo hi & ..." prints "hi ".
    text = text.lstrip()
    if not text.strip():
        return 0
    stdout, stderr = io.stdout, io.stderr
    for handle, target in redirects.items():
        dest = stdout if target == "&1" else stderr if target == "&2" else NULL
        if handle == "1":
            stdout = dest
        else:
            stderr = dest
    io = ProgramIO(io.stdin, stdout, stderr, io.codepage)
    word, _, rest = text.partition(" ")
    word = word.rstrip()
    name = program_name(word)
    if name.startswith("echo") and name[4:5] in (".", ""):
        return await _echo(io, text)
    program = PROGRAMS.get(name)
    if program is None:
        await io.err(
            f"'{word}' is not recognized as an internal or external command,\r\n"
            "operable program or batch file.\r\n"
        )
        return EXIT_NOT_RECOGNIZED
    return await program(io, ctx, split_arguments(rest), rest)


async def run_program(io: ProgramIO, ctx: Context, line: str) -> int:
    """Start the program of ``line`` directly (no cmd.exe: no variables,
    operators or redirections); returns its exit code."""
    words = split_arguments(line)
    program = PROGRAMS.get(program_name(words[0])) if words else None
    if program is None:
        return EXIT_NOT_RECOGNIZED
    _, _, rest = line.strip().partition(" ")
    try:
        return await program(io, ctx, words[1:], rest)
    except _Exit as stop:
        return stop.code


async def _echo(io: ProgramIO, text: str) -> int:
    # cmd's echo prints the rest of the line as written, after one separator.
    if text[4:5] == ".":
        await io.out(text[5:] + "\r\n")
        return 0
    rest = text[5:]
    await io.out((rest if rest.strip() else "ECHO is on.") + "\r\n")
    return 0


# -- the programs ------------------------------------------------------------------------------


async def _hostname(io: ProgramIO, ctx: Context, argv: list[str], raw: str) -> int:
    await io.out(ctx.hostname + "\r\n")
    return 0


async def _exit(io: ProgramIO, ctx: Context, argv: list[str], raw: str) -> int:
    args = [a for a in argv if a.lower() != "/b"]
    try:
        code = int(args[0]) if args else 0
    except ValueError:
        code = 0
    raise _Exit(code)


async def _set(io: ProgramIO, ctx: Context, argv: list[str], raw: str) -> int:
    text = raw.strip()
    if "=" in text:
        # cmd keeps everything after "=", spaces before an operator included.
        name, _, value = raw.lstrip().partition("=")
        if value:
            ctx.environment[name] = value
        else:
            del ctx.environment[name]
        return 0
    shown = [(n, v) for n, v in ctx.environment.items() if n.casefold().startswith(text.casefold())]
    if not shown:
        await io.err(f"Environment variable {text} not defined\r\n")
        return 1
    await io.out("".join(f"{n}={v}\r\n" for n, v in shown))
    return 0


async def _cd(io: ProgramIO, ctx: Context, argv: list[str], raw: str) -> int:
    await io.out(ctx.cwd + "\r\n")
    return 0


async def _ver(io: ProgramIO, ctx: Context, argv: list[str], raw: str) -> int:
    await io.out(f"\r\nMicrosoft Windows [Version {ctx.os_version}]\r\n")
    return 0


async def _whoami(io: ProgramIO, ctx: Context, argv: list[str], raw: str) -> int:
    await io.out(f"{ctx.hostname}\\{ctx.user}".lower() + "\r\n")
    return 0


async def _chcp(io: ProgramIO, ctx: Context, argv: list[str], raw: str) -> int:
    await io.out(f"Active code page: {io.codepage}\r\n")
    return 0


async def _more(io: ProgramIO, ctx: Context, argv: list[str], raw: str) -> int:
    async for line in io.lines():
        await io.stdout.write(line + b"\r\n")
    return 0


async def _findstr(io: ProgramIO, ctx: Context, argv: list[str], raw: str) -> int:
    flags = {a.lower() for a in argv if a.startswith("/")}
    words = [a for a in argv if not a.startswith("/")]
    if not words:
        await io.err("FINDSTR: Bad command line\r\n")
        return 2
    needle = encode(words[0], io.codepage)
    fold = "/i" in flags
    if fold:
        needle = needle.lower()
    found = False
    async for line in io.lines():
        hit = needle in (line.lower() if fold else line)
        if hit != ("/v" in flags):
            found = True
            await io.stdout.write(line + b"\r\n")
    return 0 if found else 1


async def _sort(io: ProgramIO, ctx: Context, argv: list[str], raw: str) -> int:
    lines = [line async for line in io.lines()]
    lines.sort(key=bytes.lower, reverse="/r" in (a.lower() for a in argv))
    await io.stdout.write(b"".join(line + b"\r\n" for line in lines))
    return 0


def _address(name: str, ctx: Context) -> str:
    if name.lower() in ("localhost", ctx.hostname.lower(), "127.0.0.1"):
        return "127.0.0.1"
    digest = hashlib.sha256(name.lower().encode()).digest()
    return f"10.{digest[0]}.{digest[1]}.{digest[2] or 1}"


async def _ipconfig(io: ProgramIO, ctx: Context, argv: list[str], raw: str) -> int:
    address = _address(ctx.hostname + ".lan", ctx)
    gateway = address.rsplit(".", 1)[0] + ".1"
    lines = ["", "Windows IP Configuration", ""]
    if any(a.lower() in ("/all", "-all") for a in argv):
        lines += [
            f"   Host Name . . . . . . . . . . . . : {ctx.hostname}",
            "   Primary Dns Suffix  . . . . . . . : ",
            "   Node Type . . . . . . . . . . . . : Hybrid",
            "   IP Routing Enabled. . . . . . . . : No",
            "",
        ]
    lines += [
        "Ethernet adapter Ethernet:",
        "",
        "   Connection-specific DNS Suffix  . : lan",
        f"   IPv4 Address. . . . . . . . . . . : {address}",
        "   Subnet Mask . . . . . . . . . . . : 255.255.255.0",
        f"   Default Gateway . . . . . . . . . : {gateway}",
        "",
    ]
    await io.out("\r\n".join(lines) + "\r\n")
    return 0


async def _ping(io: ProgramIO, ctx: Context, argv: list[str], raw: str) -> int:
    count = 4
    forever = False
    host: str | None = None
    args = iter(argv)
    for arg in args:
        low = arg.lower()
        if low in ("-t", "/t"):
            forever = True
        elif low in ("-n", "/n"):
            try:
                count = max(1, int(next(args, "4")))
            except ValueError:
                count = 4
        elif low in ("-w", "/w", "-l", "/l", "-i", "/i"):
            next(args, None)
        elif not low.startswith(("-", "/")):
            host = arg
    if host is None:
        await io.out("\r\nUsage: ping [-t] [-n count] target_name\r\n")
        return 1
    address = _address(host, ctx)
    shown = f"{host} [{address}]" if host != address else address
    await io.out(f"\r\nPinging {shown} with 32 bytes of data:\r\n")
    sent = 0

    async def statistics() -> None:
        await io.out(
            f"\r\nPing statistics for {address}:\r\n"
            f"    Packets: Sent = {sent}, Received = {sent}, Lost = 0 (0% loss),\r\n"
            "Approximate round trip times in milli-seconds:\r\n"
            "    Minimum = 0ms, Maximum = 0ms, Average = 0ms\r\n"
        )

    try:
        while forever or sent < count:
            if sent:
                await asyncio.sleep(ctx.ping_interval)
            await io.out(f"Reply from {address}: bytes=32 time<1ms TTL=128\r\n")
            sent += 1
    except asyncio.CancelledError:
        # Ctrl-C: statistics, then cmd's "Control-C" line (written by ping itself).
        await asyncio.shield(statistics())
        await asyncio.shield(io.out("Control-C\r\n^C"))
        raise
    await statistics()
    return 0


async def _waitfor(io: ProgramIO, ctx: Context, argv: list[str], raw: str) -> int:
    seconds: float | None = None
    name = "signal"
    args = iter(argv)
    for arg in args:
        if arg.lower() in ("/t", "-t"):
            try:
                seconds = float(next(args, "0"))
            except ValueError:
                seconds = 0.0
        elif not arg.startswith(("/", "-")):
            name = arg
    if seconds is None:
        await asyncio.Event().wait()  # until stopped
    else:
        await asyncio.sleep(seconds)
    await io.err(f"ERROR: Timed out waiting for '{name}'.\r\n")
    return 1


async def _timeout(io: ProgramIO, ctx: Context, argv: list[str], raw: str) -> int:
    # timeout.exe reads the console: with a piped stdin it refuses to run.
    if not ctx.console_stdin:
        await io.err(
            "ERROR: Input redirection is not supported, exiting the process immediately.\r\n"
        )
        return 1
    seconds = 0
    args = iter(argv)
    for arg in args:
        if arg.lower() in ("/t", "-t"):
            try:
                seconds = int(next(args, "0"))
            except ValueError:
                seconds = 0
    await io.out("\r\n")
    for left in range(seconds, 0, -1):
        await io.out(f"\rWaiting for {left:2d} seconds, press a key to continue ...")
        await asyncio.sleep(1)
    await io.out("\rWaiting for  0 seconds, press a key to continue ...\r\n")
    return 0


async def _cmd(io: ProgramIO, ctx: Context, argv: list[str], raw: str) -> int:
    text = raw.strip()
    for switch in ("/c", "/k"):
        if text.lower().startswith(switch):
            return await run_command_line(io, ctx, text[2:].strip())
    return 0


async def _powershell(io: ProgramIO, ctx: Context, argv: list[str], raw: str) -> int:
    from aiowsman.testing._powershell import run_powershell

    return await run_powershell(io, ctx, argv)


async def _lines(io: ProgramIO, ctx: Context, argv: list[str], raw: str) -> int:
    try:
        count = int(argv[0]) if argv else 10
        delay = int(argv[1]) / 1000 if len(argv) > 1 else 0.1
    except ValueError:
        await io.err("aiowsman-lines: usage: aiowsman-lines N [MS] [TEXT]\r\n")
        return 2
    label = " ".join(argv[2:]) or "line"
    for i in range(1, count + 1):
        if i > 1 and delay:
            await asyncio.sleep(delay)
        await io.out(f"{label} {i}\r\n")
    return 0


_PATTERN: Final = b"".join(
    b"%07d 0123456789abcdefghijklmnopqrstuvwxyz\r\n" % i for i in range(1310)
)


async def _bytes(io: ProgramIO, ctx: Context, argv: list[str], raw: str) -> int:
    try:
        total = int(argv[0]) if argv else 0
    except ValueError:
        await io.err("aiowsman-bytes: usage: aiowsman-bytes N\r\n")
        return 2
    block = _PATTERN[: 64 * 1024]
    while total > 0:
        await io.stdout.write(block[: min(total, len(block))])
        total -= len(block)
    return 0


PROGRAMS: Final[dict[str, Program]] = {
    "hostname": _hostname,
    "exit": _exit,
    "set": _set,
    "cd": _cd,
    "chdir": _cd,
    "ver": _ver,
    "whoami": _whoami,
    "chcp": _chcp,
    "more": _more,
    "findstr": _findstr,
    "sort": _sort,
    "ping": _ping,
    "ipconfig": _ipconfig,
    "waitfor": _waitfor,
    "timeout": _timeout,
    "cmd": _cmd,
    "powershell": _powershell,
    "aiowsman-lines": _lines,
    "aiowsman-bytes": _bytes,
}
