"""PowerShell remoting (MS-PSRP) over WinRS, sans-IO: what aiowsman adds to psrpcore.

psrpcore (MIT, by the author of pypsrp) builds and reads the PSRP messages
themselves -- runspace pool and pipeline state machines, fragments
(MS-PSRP 2.2.4), CLIXML serialization (2.2.5), host calls. This module holds
the rest of the sans-IO part, the WinRS side (MS-PSRP 3.1.5.3):

* the shell a runspace pool lives in (:func:`pool_shell_spec`): resource URI
  ``http://schemas.microsoft.com/powershell/<configuration>``, input streams
  ``stdin pr`` and output stream ``stdout``, the ``ShellId`` the client
  chose (the pool's id), option ``protocolversion`` (MustComply), and the
  first fragments in ``creationXml`` (3.1.5.3.1);
* :class:`FragmentBuffer`: output blocks cut back into whole fragments
  (psrpcore reads whole fragments only; a service may split one across
  ``rsp:Stream`` elements when MaxEnvelopeSize is small);
* the values PowerShell sends, made plain Python for records and JSON
  (:func:`to_python`), and its records made aiowsman's own
  (:func:`error_record`, :func:`information_record`, :func:`progress_record`).

The WinRS messages themselves (Create, Command with the first fragment as
its only argument, Send on ``stdin``/``pr``, Receive of ``stdout``, Signal
``powershell/signal/crtl_c``, Delete) are :mod:`aiowsman.protocol.shell`'s.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from psrpcore.types import (
    ErrorRecord as CoreErrorRecord,
)
from psrpcore.types import (
    InformationRecord as CoreInformationRecord,
)
from psrpcore.types import (
    ProgressRecord as CoreProgressRecord,
)
from psrpcore.types import (
    PSObject,
    PSSecureString,
)

from ..errors import ConfigurationError, ProtocolError
from . import namespaces as ns
from .clixml import ErrorRecord, ProgressRecord
from .locator import Option
from .shell import ShellSpec

__all__ = [
    "DEFAULT_CONFIGURATION",
    "FRAGMENT_HEADER",
    "PROTOCOL_VERSION",
    "FragmentBuffer",
    "InformationRecord",
    "OutputList",
    "configuration_uri",
    "creation_xml",
    "error_record",
    "information_record",
    "pool_shell_spec",
    "progress_record",
    "properties",
    "to_python",
    "type_names",
]

#: The PSRP protocol version aiowsman speaks (psrpcore's: PowerShell 5.1's).
PROTOCOL_VERSION: Final = "2.3"
#: The endpoint configuration of ``Enter-PSSession`` without -ConfigurationName.
DEFAULT_CONFIGURATION: Final = ns.PSRP_DEFAULT_CONFIGURATION
#: ObjectId (8) + FragmentId (8) + flags (1) + BlobLength (4): MS-PSRP 2.2.4.
FRAGMENT_HEADER: Final = 21
#: The largest fragment accepted from a service (Windows sends 32 KiB ones);
#: a longer length field is a corrupt or hostile stream.
MAX_FRAGMENT: Final = 16 * 1024 * 1024
#: Nesting kept by :func:`to_python` (deeper values become their text).
MAX_DEPTH: Final = 32
#: The streams of a runspace pool's shell (MS-PSRP 3.1.5.3.1).
INPUT_STREAMS: Final = ("stdin", "pr")
OUTPUT_STREAMS: Final = ("stdout",)


def configuration_uri(name: str) -> str:
    """The resource URI of an endpoint configuration: ``Microsoft.PowerShell``
    -> ``http://schemas.microsoft.com/powershell/Microsoft.PowerShell``; a
    URI is taken as given (a JEA endpoint registered under its own URI).

    Raises:
        ConfigurationError: an empty name, or one with white space.
    """
    name = (name or "").strip()
    if not name or any(c.isspace() for c in name):
        raise ConfigurationError(f"configuration_name {name!r} is empty or has a space")
    if "://" in name:
        return name
    return f"{ns.URI_POWERSHELL}/{name}"


def creation_xml(payload: bytes) -> str:
    """The ``creationXml`` element carrying a pool's first fragments in its
    Create (MS-PSRP 3.1.5.3.1), base64 in the PowerShell namespace."""
    data = base64.b64encode(payload).decode("ascii")
    return f'<creationXml xmlns="{ns.URI_POWERSHELL}">{data}</creationXml>'


def pool_shell_spec(
    pool_id: uuid.UUID,
    payload: bytes,
    *,
    configuration: str = DEFAULT_CONFIGURATION,
    idle_timeout: float | None = None,
    name: str | None = None,
) -> ShellSpec:
    """The shell of a runspace pool (MS-PSRP 3.1.5.3.1).

    Args:
        pool_id: the pool's id, sent as the shell's ``ShellId`` (upper case,
            as Windows' own client does; the corpus' pypsrp Create too).
        payload: the pool's first fragments (SESSION_CAPABILITY and
            INIT_RUNSPACEPOOL), for ``creationXml``.
        configuration: the endpoint configuration (``configuration_name``).
        idle_timeout: ``rsp:IdleTimeOut`` in seconds.
        name: ``rsp:Name``.
    """
    return ShellSpec(
        resource_uri=configuration_uri(configuration),
        input_streams=INPUT_STREAMS,
        output_streams=OUTPUT_STREAMS,
        idle_timeout=idle_timeout,
        name=name,
        shell_id=str(pool_id).upper(),
        options=(Option("protocolversion", PROTOCOL_VERSION, must_comply=True),),
        extra_xml=creation_xml(payload),
    )


class FragmentBuffer:
    """Whole PSRP fragments out of output blocks (MS-PSRP 2.2.4).

    ``feed`` returns the complete fragments received so far (possibly none)
    and keeps the start of an incomplete one for the next block.
    """

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = b""

    @property
    def pending(self) -> int:
        """Bytes of an incomplete fragment held."""
        return len(self._pending)

    def feed(self, data: bytes) -> bytes:
        """Add ``data``; return every complete fragment now held.

        Raises:
            ProtocolError: a fragment header announces more than
                :data:`MAX_FRAGMENT` bytes.
        """
        buf = self._pending + data if self._pending else data
        end = 0
        while len(buf) - end >= FRAGMENT_HEADER:
            (length,) = struct.unpack_from(">I", buf, end + 17)
            if length > MAX_FRAGMENT:
                raise ProtocolError(f"a PSRP fragment announces {length} bytes")
            if len(buf) - end < FRAGMENT_HEADER + length:
                break
            end += FRAGMENT_HEADER + length
        self._pending = buf[end:]
        return buf[:end]


# -- values ------------------------------------------------------------------------------


def _is_enum(value: PSObject) -> bool:
    return any(t.endswith("System.Enum") for t in value.PSObject.type_names)


def to_python(value: Any, _depth: int = 0) -> Any:
    """A value PowerShell sent, as plain Python data (for records and JSON).

    psrpcore's values already read naturally in Python (``proc.Name``,
    ``proc["Id"]``, strings and numbers are ``str``/``int`` subclasses); this
    makes them plain: primitives become the built-in type (``str``, ``int``,
    ``float``, ``bool``, ``bytes``, ``decimal.Decimal``, ``datetime``,
    ``timedelta``, ``uuid.UUID``), an enum its name (``"Running"``),
    lists and dictionaries plain ones, an object a ``dict`` of its properties
    (adapted then extended, as PowerShell lists them) -- or its text when it
    has none. A SecureString stays hidden (``"<SecureString>"``).
    """
    if value is None or isinstance(value, bool):
        return value
    if _depth > MAX_DEPTH:
        return str(value)
    if isinstance(value, PSSecureString):
        return "<SecureString>"
    if isinstance(value, PSObject) and _is_enum(value) and value.PSObject.to_string:
        return str(value.PSObject.to_string)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, decimal.Decimal):
        return decimal.Decimal(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, datetime.datetime):
        return datetime.datetime(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            value.tzinfo,
        )
    if isinstance(value, datetime.timedelta):
        return datetime.timedelta(
            days=value.days, seconds=value.seconds, microseconds=value.microseconds
        )
    if isinstance(value, uuid.UUID):
        return uuid.UUID(int=value.int)
    if isinstance(value, Mapping):
        return {_key(k): to_python(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_python(v, _depth + 1) for v in value]
    if isinstance(value, PSObject):
        props = properties(value)
        if not props:
            text = value.PSObject.to_string
            return str(text) if text is not None else None
        return {name: to_python(v, _depth + 1) for name, v in props.items()}
    return str(value)


def _key(key: Any) -> Any:
    plain = to_python(key, MAX_DEPTH)
    return plain if isinstance(plain, str | int | float | bool) or plain is None else str(plain)


def properties(value: PSObject) -> dict[str, Any]:
    """An object's properties by name: adapted ones, then extended ones
    (an extended property wins a clash, as in PowerShell's type system)."""
    meta = value.PSObject
    out: dict[str, Any] = {}
    for prop in [*meta.adapted_properties, *meta.extended_properties]:
        out[prop.name] = prop.get_value(value)
    return out


def type_names(value: Any) -> list[str]:
    """The PowerShell type names of a value (``Deserialized.System.Diagnostics.Process``...)."""
    meta = getattr(value, "PSObject", None)
    return list(getattr(meta, "type_names", None) or [])


# -- records -----------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _short_type(names: list[str]) -> str | None:
    for name in names:
        plain = name.removeprefix("Deserialized.")
        if plain:
            return plain
    return None


def error_record(record: CoreErrorRecord) -> ErrorRecord:
    """aiowsman's :class:`~aiowsman.protocol.clixml.ErrorRecord` of a PSRP
    ErrorRecord (MS-PSRP 2.2.3.15): the exception's message, the category,
    the script position, and the text a console would show."""
    exception = getattr(record, "Exception", None)
    message = _text(getattr(exception, "Message", None))
    details = getattr(record, "ErrorDetails", None)
    detail_message = _text(getattr(details, "Message", None)) if details is not None else None
    if detail_message:
        message = detail_message
    if not message:
        message = str(record)
    info = getattr(record, "CategoryInfo", None)
    category = reason = activity = target = category_text = None
    if info is not None:
        raw = getattr(info, "Category", None)
        category = getattr(raw, "name", None) or _text(raw)
        reason = _text(getattr(info, "Reason", None)) or None
        activity = _text(getattr(info, "Activity", None)) or None
        target = _text(getattr(info, "TargetName", None)) or None
        # The server's own text (ErrorCategory_Message) when it sent one, else
        # PowerShell's form: "Category: (target:type) [activity], reason".
        category_text = info.PSObject.to_string or (
            f"{category}: ({target or ''}:{_text(getattr(info, 'TargetType', None)) or ''}) "
            f"[{activity or ''}], {reason or ''}"
        )
    invocation = getattr(record, "InvocationInfo", None)
    line = offset = None
    script_name = position = None
    if invocation is not None:
        line = _int_or_none(getattr(invocation, "ScriptLineNumber", None))
        offset = _int_or_none(getattr(invocation, "OffsetInLine", None))
        script_name = _text(getattr(invocation, "ScriptName", None))
        position = _text(getattr(invocation, "PositionMessage", None)) or None
        if position is None and line and offset:
            # psrpcore does not keep InvocationInfo_PositionMessage: rebuilt in
            # PowerShell's form from the line, the column, the line's text and
            # the extent, when the server sent one (SerializeExtent).
            width = None
            extent = getattr(invocation, "DisplayScriptPosition", None)
            start = _int_or_none(getattr(extent, "StartColumnNumber", None))
            stop = _int_or_none(getattr(extent, "EndColumnNumber", None))
            same_line = getattr(extent, "StartLineNumber", None) == getattr(
                extent, "EndLineNumber", None
            )
            if start is not None and stop is not None and same_line and stop > start:
                width = stop - start
            position = _position_message(
                script_name, line, offset, _text(getattr(invocation, "Line", None)) or "", width
            )
    fqid = _text(getattr(record, "FullyQualifiedErrorId", None))
    stack = _text(getattr(record, "ScriptStackTrace", None)) or None
    lines = [message]
    if position:
        lines.extend(position.splitlines())
    if category_text:
        lines.append(f"    + CategoryInfo          : {category_text}")
    if fqid:
        lines.append(f"    + FullyQualifiedErrorId : {fqid}")
    return ErrorRecord(
        message=message,
        category_info=category_text,
        fully_qualified_error_id=fqid,
        text="\n".join(lines),
        category=category,
        reason=reason,
        activity=activity,
        target_name=target,
        exception_type=_short_type(type_names(exception)) if exception is not None else None,
        script_name=script_name,
        line_number=line,
        offset_in_line=offset,
        position_message=position,
        script_stack_trace=stack,
    )


def _position_message(
    script: str | None, line: int, column: int, text: str, width: int | None = None
) -> str:
    """``At line:3 char:1`` (``At C:\\x.ps1:3 char:1`` in a file), the line, and a
    ``~`` underline from the column, ``width`` long (to the line's end when
    unknown): PowerShell's ``InvocationInfo.PositionMessage``."""
    where = f"At {script}:{line}" if script else f"At line:{line}"
    first = text.splitlines()[0] if text else ""
    lines = [f"{where} char:{column}"]
    if first:
        length = width if width is not None else len(first) - column + 1
        lines += [f"+ {first}", "+ " + " " * (column - 1) + "~" * max(1, length)]
    return "\n".join(lines)


@dataclass(frozen=True)
class InformationRecord:
    """A record of the information stream (``Write-Information``,
    ``Write-Host`` -- tagged ``PSHOST``; MS-PSRP 2.2.2.26).

    Attributes:
        message: the message data as text.
        data: the message data as plain data (:func:`to_python`; an object
            for ``Write-Information $obj`` is a ``dict`` of its properties).
        source: what wrote it (``Write-Information``, a script path...).
        tags: its tags.
        time_generated: when it was written, if sent.
        user, computer: where it was written.
    """

    message: str
    data: Any = None
    source: str | None = None
    tags: list[str] = field(default_factory=list)
    time_generated: datetime.datetime | None = None
    user: str | None = None
    computer: str | None = None

    def __str__(self) -> str:
        return self.message


def information_record(record: CoreInformationRecord) -> InformationRecord:
    """aiowsman's :class:`InformationRecord` of a PSRP InformationRecord."""
    data = getattr(record, "MessageData", None)
    tags = getattr(record, "Tags", None) or []
    generated = getattr(record, "TimeGenerated", None)
    return InformationRecord(
        message="" if data is None else str(data),
        data=to_python(data),
        source=_text(getattr(record, "Source", None)),
        tags=[str(t) for t in tags],
        time_generated=to_python(generated) if generated is not None else None,
        user=_text(getattr(record, "User", None)),
        computer=_text(getattr(record, "Computer", None)),
    )


def progress_record(record: CoreProgressRecord) -> ProgressRecord:
    """aiowsman's :class:`~aiowsman.protocol.clixml.ProgressRecord` of a PSRP one."""
    kind = getattr(record, "RecordType", None)

    def number(name: str, default: int) -> int:
        value = _int_or_none(getattr(record, name, None))
        return default if value is None else value

    return ProgressRecord(
        activity=_text(getattr(record, "Activity", None)) or "",
        status=_text(getattr(record, "StatusDescription", None)) or "",
        percent_complete=number("PercentComplete", -1),
        activity_id=number("ActivityId", 0),
        parent_activity_id=number("ParentActivityId", -1),
        current_operation=_text(getattr(record, "CurrentOperation", None)),
        seconds_remaining=number("SecondsRemaining", -1),
        record_type=getattr(kind, "name", None) or "Processing",
    )


# -- values that travel between processes ---------------------------------------------------


class OutputList(list[Any]):
    """A pipeline's output: a plain ``list``, which also pickles.

    psrpcore's objects do not pickle (a property table lives on each
    instance), and a fan-out on worker processes or Dask ships values
    between processes; an ``OutputList`` pickles as the CLIXML of each
    element (MS-PSRP 2.2.5) and is read back into the same objects. A value
    that cannot be serialized (a SecureString without a session key) travels
    as :func:`to_python` makes it.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return (_output_from_clixml, ([_portable(v) for v in self],))


def _portable(value: Any) -> tuple[str, Any]:
    from xml.etree import ElementTree

    from psrpcore import PSRemotingCrypto
    from psrpcore.types import serialize

    try:
        element = serialize(value, PSRemotingCrypto())
    except Exception:  # the value has no CLIXML form here: carry its plain data
        return ("plain", to_python(value))
    return ("clixml", ElementTree.tostring(element, encoding="unicode"))


def _output_from_clixml(items: list[tuple[str, Any]]) -> OutputList:
    from xml.etree import ElementTree

    from psrpcore import PSRemotingCrypto
    from psrpcore.types import deserialize

    out = OutputList()
    cipher = PSRemotingCrypto()
    for kind, data in items:
        out.append(deserialize(ElementTree.fromstring(data), cipher) if kind == "clixml" else data)
    return out
