"""PowerShell's CLIXML on stderr, decoded into text and typed records (sans-IO).

``powershell.exe`` whose stderr is not a console writes every stream but
output as CLIXML (MS-PSRP 2.2.5 serialization) on stderr::

    #< CLIXML
    <Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">
      <S S="Error">Write-Error 'x' : x_x000D__x000A_</S>     (one per line of the record)
      <S S="warning">...</S> <S S="verbose">...</S> <S S="debug">...</S>
      <Obj S="information">...<ToString>message</ToString>...</Obj>
      <Obj S="progress">...<PR N="Record"><AV>activity</AV>...</PR>...</Obj>
    </Objs>

Rules followed (with the peers that learnt them the hard way):

* the bytes are decoded with the shell's code page first, and a leading
  UTF-8 byte order mark is dropped (pywinrm#333, #111);
* every ``<Objs>`` document is read: output may hold several, each after its
  own ``#< CLIXML`` line (ansible#69550); text outside them (a native
  program's plain stderr) is kept as it is;
* ``_xHHHH_`` escapes are UTF-16 code units (MS-PSRP 2.2.5.3.2), so a run of
  them is decoded together and a surrogate pair becomes one character; only
  four hex digits make an escape (psrpcore 0.3.1); a lone surrogate becomes
  U+FFFD;
* the streams stay apart (pywinrm#169): errors (a record spans several
  ``<S S="Error">`` lines and ends with a blank one), warnings, verbose,
  debug, information and progress records.

This decoder is ours rather than psrpcore's ``ClixmlOutput``: the stderr of
``powershell -OutputFormat Text`` holds only strings and two record shapes,
which a page of code reads without a dependency (psrpcore brings
``cryptography``) and with records the rest of aiowsman defines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from lxml import etree

from ..errors import ProtocolError
from .xml import parse_xml

__all__ = [
    "ClixmlStreams",
    "ErrorRecord",
    "ProgressRecord",
    "decode_clixml",
    "unescape",
]

NS_PS: Final = "http://schemas.microsoft.com/powershell/2004/04"
_P = "{" + NS_PS + "}"
_HEADER: Final = "#< CLIXML"
# A document starts at the last "<Objs" before its "</Objs>": within one, text
# escapes "<", and no element is named Objs but the root, so an earlier "<Objs"
# can only be plain stderr text (a native program's) and must not swallow it.
_DOCUMENT: Final = re.compile(r"<Objs\b(?:(?!<Objs\b).)*?</Objs>", re.DOTALL)
_ESCAPES: Final = re.compile(r"(?:_x[0-9A-Fa-f]{4}_)+")
_UNIT: Final = re.compile(r"_x([0-9A-Fa-f]{4})_")
_LONE_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_ERROR_FIELD: Final = re.compile(r"^\s*\+\s*(CategoryInfo|FullyQualifiedErrorId)\s*:\s*(.*)$")


def unescape(value: str) -> str:
    """Decode MS-PSRP ``_xHHHH_`` escapes (UTF-16 code units; pairs combine)."""
    if "_x" not in value and "_X" not in value:
        return value

    def run(match: re.Match[str]) -> str:
        data = bytes.fromhex("".join(_UNIT.findall(match.group())))
        text = data.decode("utf-16-be", "surrogatepass")
        # Pairs are whole characters now; what is left alone cannot be encoded.
        return _LONE_SURROGATE.sub("\ufffd", text)

    return _ESCAPES.sub(run, value)


@dataclass(frozen=True)
class ErrorRecord:
    """One PowerShell error record.

    From powershell.exe's stderr (``run_ps``) only the rendered text is
    known: ``message``, ``category_info``, ``fully_qualified_error_id`` and
    ``text``. From PowerShell remoting (a serialized
    ``System.Management.Automation.ErrorRecord``, MS-PSRP 2.2.3.15) the
    fields after them are known too.

    Attributes:
        message: the text before the CategoryInfo line (for a cmdlet error
            over WinRS ``<the statement> : <message>``; may span lines); over
            PowerShell remoting the exception's message.
        category_info: the ``+ CategoryInfo`` value, if given
            (``ObjectNotFound: (Get-Foo:String) [], CommandNotFoundException``).
        fully_qualified_error_id: the ``+ FullyQualifiedErrorId`` value.
        text: every line of the record, as a console shows it.
        category: the ErrorCategory name (``NotSpecified``, ``ObjectNotFound``...).
        reason: CategoryInfo's reason (usually the exception's short type name).
        activity: CategoryInfo's activity (the command, ``Write-Error``).
        target_name: CategoryInfo's target name.
        exception_type: the .NET type of the exception
            (``System.Management.Automation.CommandNotFoundException``).
        script_name: the script the error happened in ('' for a script block).
        line_number: its line (1-based; 0 or None when unknown).
        offset_in_line: its column (1-based; 0 or None when unknown).
        position_message: PowerShell's ``At line:1 char:1 ...`` text.
        script_stack_trace: the script stack trace, if sent.
    """

    message: str
    category_info: str | None = None
    fully_qualified_error_id: str | None = None
    text: str = ""
    category: str | None = None
    reason: str | None = None
    activity: str | None = None
    target_name: str | None = None
    exception_type: str | None = None
    script_name: str | None = None
    line_number: int | None = None
    offset_in_line: int | None = None
    position_message: str | None = None
    script_stack_trace: str | None = None

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class ProgressRecord:
    """A ``Write-Progress`` record (the ``PR`` element of a progress object)."""

    activity: str
    status: str = ""
    percent_complete: int = -1
    activity_id: int = 0
    parent_activity_id: int = -1
    current_operation: str | None = None
    seconds_remaining: int = -1
    record_type: str = "Processing"


@dataclass
class ClixmlStreams:
    """What a CLIXML stderr holds, stream by stream.

    Attributes:
        errors: error records.
        warnings, verbose, debug, information: the messages of those streams.
        progress: progress records.
        other: stderr text outside any CLIXML document (a native program's).
        records: ``(stream, message)`` of every record in order (progress
            excluded), ``stream`` one of ``error``, ``warning``, ``verbose``,
            ``debug``, ``information``.
    """

    errors: list[ErrorRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    verbose: list[str] = field(default_factory=list)
    debug: list[str] = field(default_factory=list)
    information: list[str] = field(default_factory=list)
    progress: list[ProgressRecord] = field(default_factory=list)
    other: str = ""
    records: list[tuple[str, str]] = field(default_factory=list)

    def text(self) -> str:
        """Readable stderr, as a console would show it: errors as written,
        ``WARNING:``/``VERBOSE:``/``DEBUG:`` prefixes, information as is;
        progress left out; any plain text first."""
        lines: list[str] = []
        if self.other:
            lines.append(self.other.rstrip("\r\n"))
        prefix = {"warning": "WARNING: ", "verbose": "VERBOSE: ", "debug": "DEBUG: "}
        for stream, message in self.records:
            lines.append(prefix.get(stream, "") + message)
        return "\n".join(lines) + ("\n" if lines else "")


def _strip_line_end(value: str) -> str:
    return value[:-2] if value.endswith("\r\n") else value.rstrip("\n")


def _error_records(lines: list[str]) -> list[ErrorRecord]:
    """Group the lines of ``<S S="Error">`` records: each ends with a blank line."""
    records: list[ErrorRecord] = []
    current: list[str] = []

    def flush() -> None:
        if not current:
            return
        message: list[str] = []
        fields: dict[str, str] = {}
        for line in current:
            match = _ERROR_FIELD.match(line)
            if match is not None:
                fields[match.group(1)] = match.group(2).strip()
            elif not fields:
                message.append(line)
        records.append(
            ErrorRecord(
                message="\n".join(message).strip(),
                category_info=fields.get("CategoryInfo"),
                fully_qualified_error_id=fields.get("FullyQualifiedErrorId"),
                text="\n".join(current),
            )
        )
        current.clear()

    for line in lines:
        if line.strip():
            current.append(line)
        else:
            flush()
    flush()
    return records


def _int(value: str | None, default: int) -> int:
    try:
        return int((value or "").strip())
    except ValueError:
        return default


def _progress(obj: etree._Element) -> ProgressRecord | None:
    record = obj.find(f".//{_P}PR")
    if record is None:
        return None

    def child(tag: str) -> str | None:
        el = record.find(_P + tag)
        return unescape(el.text or "") if el is not None else None

    return ProgressRecord(
        activity=child("AV") or "",
        status=child("SD") or "",
        percent_complete=_int(child("PC"), -1),
        activity_id=_int(child("AI"), 0),
        parent_activity_id=_int(child("PI"), -1),
        current_operation=child("CO"),
        seconds_remaining=_int(child("SR"), -1),
        record_type=child("T") or "Processing",
    )


def _information(obj: etree._Element) -> str:
    text = obj.findtext(_P + "ToString")
    if text is None:
        text = obj.findtext(f".//{_P}S[@N='MessageData']") or ""
    return unescape(text)


def decode_clixml(data: str | bytes, *, encoding: str = "utf-8") -> ClixmlStreams:
    """Decode powershell.exe's stderr.

    Args:
        data: the stderr text, or bytes in ``encoding`` (the shell's code page).
        encoding: the codec of ``data`` when it is bytes.

    Returns:
        The streams. Stderr without CLIXML comes back whole in ``other``, and
        so does a document that cannot be read (not well-formed, or with a
        DOCTYPE: it is never expanded); of a document cut off (the process
        was stopped mid-record) the complete records are read.
    """
    text = data.decode(encoding, errors="replace") if isinstance(data, bytes) else data
    text = text.lstrip("\ufeff")
    out = ClixmlStreams()
    other: list[str] = []
    pos = 0
    documents: list[str] = []
    for match in _DOCUMENT.finditer(text):
        other.append(text[pos : match.start()])
        documents.append(match.group())
        pos = match.end()
    tail = text[pos:]
    start = tail.rfind("<Objs")  # the last one, as for whole documents
    if start >= 0:
        # A document without its end (the process was stopped): read what is whole.
        other.append(tail[:start])
        try:
            documents.append(_close(tail[start:]))
        except ProtocolError:
            other.append(tail[start:])
    else:
        other.append(tail)
    error_lines: list[str] = []

    def flush_errors() -> None:
        for record in _error_records(error_lines):
            out.errors.append(record)
            out.records.append(("error", record.text))
        error_lines.clear()

    for document in documents:
        try:
            root = parse_xml(document.encode("utf-8"))
        except ProtocolError:
            other.append(document)  # unreadable: kept as text, never expanded
            continue
        for element in root:
            tag = element.tag
            if not isinstance(tag, str):
                continue
            stream = (element.get("S") or "").lower()
            if stream != "error":
                flush_errors()
            if tag == _P + "S":
                message = _strip_line_end(unescape(element.text or ""))
                if stream == "error":
                    error_lines.append(message)
                elif stream == "warning":
                    out.warnings.append(message)
                    out.records.append((stream, message))
                elif stream == "verbose":
                    out.verbose.append(message)
                    out.records.append((stream, message))
                elif stream == "debug":
                    out.debug.append(message)
                    out.records.append((stream, message))
                elif stream == "information":
                    out.information.append(message)
                    out.records.append((stream, message))
            elif tag == _P + "Obj":
                if stream == "progress":
                    progress = _progress(element)
                    if progress is not None:
                        out.progress.append(progress)
                elif stream == "information":
                    message = _strip_line_end(_information(element))
                    out.information.append(message)
                    out.records.append(("information", message))
        flush_errors()
    plain = "".join(other).replace(_HEADER + "\r\n", "").replace(_HEADER + "\n", "")
    out.other = plain.replace(_HEADER, "").strip("\r\n")
    return out


def _close(fragment: str) -> str:
    """Close a truncated ``<Objs>`` document after its last complete top-level record.

    Raises:
        ProtocolError: no prefix of it closes into a well-formed document.
    """
    ends = [m.end() for m in re.finditer(r"</S>|</Obj>", fragment)]
    for end in reversed(ends[-32:]):
        candidate = fragment[:end] + "</Objs>"
        try:
            parse_xml(candidate.encode("utf-8"))
        except ProtocolError:
            continue
        return candidate
    head = fragment.find(">")
    if head < 0:
        raise ProtocolError("a CLIXML document is cut off before its first record")
    return fragment[: head + 1] + "</Objs>"
