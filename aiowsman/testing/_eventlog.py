"""A simulated Windows event log: channels, events by rule, and the event query subset.

Each simulated host has one :class:`EventLog` with a few channels (``System``
and ``Application`` by default). A channel holds events numbered by
``EventRecordID`` from 1, and never keeps them: an event is a pure function
of ``(seed, host, channel, record id)`` and is rendered when delivered, so a
thousand hosts with a backlog each cost almost nothing.

The rules (documented for tests; see docs/testing.md):

* **Backlog.** A channel starts with ``backlog`` events (records
  ``1..backlog``), what ``ReadExistingEvents`` replays. Their TimeCreated are
  one second apart, the last one second before
  :data:`~aiowsman.testing._data.REFERENCE_TIME`.
* **New events.** ``rate`` new events per second per channel arrive from the
  moment the log is made (0: none), stamped with the wall-clock time they
  arrive; :meth:`EventLog.emit` adds events at once (tests use it with
  ``rate=0`` for exact control).
* **Content.** Record ``r`` of a channel uses template
  ``TEMPLATES[channel][(r - 1) % len(TEMPLATES[channel])]`` (EventID, Level,
  provider, task, keywords, message); its data values come from ``(seed,
  host, channel, r)``. Use :func:`event_fields` to know what record ``r``
  is.

The query subset (the eventquery dialect, MS-WSMV 3.1.4.1.30.5: a
``QueryList`` of ``Query`` elements holding ``Select`` and ``Suppress``
elements, each with a ``Path`` -- the channel -- and an XPath):

* ``*`` -- every event of the channel;
* ``*[System[ EXPR ]]`` where EXPR combines, with ``and``, ``or`` and
  parentheses, conditions ``Level``, ``EventID``, ``EventRecordID``,
  ``Task``, ``Opcode`` or ``Version`` compared (``= != < <= > >=``) with a
  number, ``Provider[@Name='X']``, and
  ``TimeCreated[timediff(@SystemTime) <= N]`` (milliseconds).

Anything else is refused with ``ERROR_EVT_INVALID_QUERY`` (15001), and a
channel the host does not have with ``ERROR_EVT_CHANNEL_NOT_FOUND`` (15007),
as ``EvtSubscribe`` reports them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from lxml import etree

from aiowsman.protocol.namespaces import NS_WINDOWS_EVENT
from aiowsman.testing._data import REFERENCE_TIME
from aiowsman.testing._xml import attr, text

__all__ = [
    "TEMPLATES",
    "ChannelLog",
    "EventFields",
    "EventLog",
    "EventLogSettings",
    "QueryError",
    "Selection",
    "event_fields",
    "parse_query_list",
    "render_event",
]


@dataclass(frozen=True)
class EventLogSettings:
    """How a host's event log behaves.

    Args:
        channels: the channel names.
        backlog: events each channel holds when the log is made.
        rate: new events per second per channel (0: only :meth:`EventLog.emit`).
        renew: whether subscriptions may be renewed (DSP0226 10.5). Windows
            does not renew (MS-WSMV 3.1.4.1.30.4: ``wse:UnableToRenew``): set
            False to behave as it does.
        max_expires: the longest lifetime granted, seconds (None: as asked).
        min_heartbeat: the shortest heartbeat interval accepted, seconds.
    """

    channels: tuple[str, ...] = ("System", "Application")
    backlog: int = 50
    rate: float = 1.0
    renew: bool = True
    max_expires: float | None = None
    min_heartbeat: float = 0.05


class Template(NamedTuple):
    """What every event made from one template shares."""

    event_id: int
    level: int
    provider: str
    guid: str
    task: int
    opcode: int
    keywords: int
    message: str  # str.format with the data values
    data: tuple[tuple[str, tuple[str, ...]], ...]  # (Name, choices)


_SCM = ("Service Control Manager", "{555908d1-a6d7-4695-8e1e-26931d2012f4}")
_SERVICES = ("Spooler", "W32Time", "WinRM", "BITS", "wuauserv", "Dnscache", "LanmanServer")

#: The event templates of each channel, used in turn (record r -> index (r-1) % n).
TEMPLATES: Final[dict[str, tuple[Template, ...]]] = {
    "System": (
        Template(
            7036,
            4,
            *_SCM,
            0,
            0,
            0x8080000000000000,
            "The {param1} service entered the {param2} state.",
            (("param1", _SERVICES), ("param2", ("running", "stopped"))),
        ),
        Template(
            1014,
            3,
            "Microsoft-Windows-DNS-Client",
            "{1c95126e-7eea-49a9-a3fe-a378b03ddb4d}",
            1014,
            0,
            0x4000000010000000,
            "Name resolution for the name {QueryName} timed out after none of the configured "
            "DNS servers responded.",
            (("QueryName", ("wpad.corp.example.com", "time.windows.com", "fs01")),),
        ),
        Template(
            6013,
            4,
            "EventLog",
            "",
            0,
            0,
            0x80000000000000,
            "The system uptime is {uptime} seconds.",
            (("uptime", ("86400", "3600", "604800")),),
        ),
        Template(
            7000,
            2,
            *_SCM,
            0,
            0,
            0x8080000000000000,
            "The {param1} service failed to start due to the following error: {param2}",
            (("param1", _SERVICES), ("param2", ("%%1053", "%%1068"))),
        ),
        Template(
            41,
            1,
            "Microsoft-Windows-Kernel-Power",
            "{331c3b3a-2005-44c2-ac5e-77220c37d6b4}",
            63,
            0,
            0x8000400000000002,
            "The system has rebooted without cleanly shutting down first.",
            (("BugcheckCode", ("0", "159")),),
        ),
        Template(
            7040,
            4,
            *_SCM,
            0,
            0,
            0x8080000000000000,
            "The start type of the {param1} service was changed from {param2} to {param3}.",
            (
                ("param1", _SERVICES),
                ("param2", ("auto start", "demand start")),
                ("param3", ("demand start", "disabled")),
            ),
        ),
    ),
    "Application": (
        Template(
            1000,
            2,
            "Application Error",
            "",
            100,
            0,
            0x80000000000000,
            "Faulting application name: {AppName}, faulting module name: {ModuleName}.",
            (("AppName", ("app.exe", "svc.exe")), ("ModuleName", ("ntdll.dll", "kernelbase.dll"))),
        ),
        Template(
            1033,
            4,
            "MsiInstaller",
            "",
            0,
            0,
            0x80000000000000,
            "Windows Installer installed the product. Product Name: {Product}.",
            (("Product", ("Agent", "Runtime")),),
        ),
        Template(
            1026,
            2,
            ".NET Runtime",
            "",
            0,
            0,
            0x80000000000000,
            "Application: {AppName}. The process was terminated due to an unhandled exception.",
            (("AppName", ("worker.exe", "web.exe")),),
        ),
        Template(
            8224,
            4,
            "VSS",
            "",
            0,
            0,
            0x80000000000000,
            "The VSS service is shutting down due to idle timeout.",
            (),
        ),
        Template(
            1530,
            3,
            "Microsoft-Windows-User Profiles Service",
            "{89b1e9f0-5aff-44a6-9b44-0a07a7ce5845}",
            0,
            0,
            0x8000000000000000,
            "Windows detected your registry file is still in use by other applications.",
            (("Detail", ("3 user registry handles leaked",)),),
        ),
    ),
}

_GENERIC: Final = (
    Template(
        100,
        4,
        "AIOWSMAN-Test",
        "{00000000-0000-0000-0000-000000000001}",
        0,
        0,
        0,
        "Test event {n}.",
        (("n", ("1",)),),
    ),
)

_LEVEL_NAMES: Final = {0: "Information", 1: "Critical", 2: "Error", 3: "Warning", 4: "Information"}
#: Backlog records are one second apart, ending here.
BACKLOG_END: Final = REFERENCE_TIME


class EventFields(NamedTuple):
    """One event, before rendering (what queries are evaluated on)."""

    channel: str
    record_id: int
    template: Template
    data: tuple[tuple[str, str], ...]
    time_created: dt.datetime
    process_id: int
    thread_id: int


def _templates(channel: str) -> tuple[Template, ...]:
    return TEMPLATES.get(channel, _GENERIC)


def _digest(seed: int, host: int, channel: str, record: int) -> bytes:
    return hashlib.blake2b(f"{seed}:{host}:{channel}:{record}".encode(), digest_size=8).digest()


def event_fields(
    seed: int, host: int, channel: str, record: int, time_created: dt.datetime
) -> EventFields:
    """What record ``record`` of ``channel`` on host ``host`` is (the content rule)."""
    templates = _templates(channel)
    template = templates[(record - 1) % len(templates)]
    digest = _digest(seed, host, channel, record)
    data = tuple(
        (name, choices[digest[i % 8] % len(choices)])
        for i, (name, choices) in enumerate(template.data)
    )
    if template.data and template.data[0][0] == "n":
        data = (("n", str(record)),)
    pid = 400 + digest[6] * 4
    return EventFields(channel, record, template, data, time_created, pid, pid + 4 + digest[7])


# -- the log ---------------------------------------------------------------------------


@dataclass
class _Segment:
    """Records ``first..`` made at ``rate`` per second from ``start`` (monotonic),
    stamped from ``wall`` (None: instantaneous, all at ``wall``)."""

    first: int
    start: float
    wall: dt.datetime
    rate: float


class ChannelLog:
    """One channel of a host's log (see the module docstring for the rules)."""

    def __init__(self, name: str, backlog: int, rate: float, now: float) -> None:
        self.name = name
        self.backlog = backlog
        self._closed: list[tuple[int, int, float, dt.datetime, float]] = []
        self._segment = _Segment(backlog + 1, now, _utcnow(), rate)

    def count(self, now: float | None = None) -> int:
        """How many records the channel holds at monotonic time ``now``."""
        seg = self._segment
        if seg.rate <= 0:
            return seg.first - 1
        now = time.monotonic() if now is None else now
        return seg.first - 1 + max(0, int((now - seg.start) * seg.rate))

    def _close_segment(self, now: float) -> int:
        count = self.count(now)
        seg = self._segment
        if count >= seg.first:
            self._closed.append((seg.first, count, seg.start, seg.wall, seg.rate))
        return count

    def set_rate(self, rate: float, now: float | None = None) -> None:
        """Change the rate from now on (records made so far keep their times)."""
        now = time.monotonic() if now is None else now
        count = self._close_segment(now)
        self._segment = _Segment(count + 1, now, _utcnow(), rate)

    def emit(self, n: int, now: float | None = None) -> tuple[int, int]:
        """Add ``n`` events at once; returns their first and last record ids."""
        now = time.monotonic() if now is None else now
        count = self._close_segment(now)
        wall = _utcnow()
        if n > 0:
            self._closed.append((count + 1, count + n, now, wall, 0.0))
        rate = self._segment.rate
        self._segment = _Segment(count + n + 1, now, wall, rate)
        return count + 1, count + n

    def next_arrival(self, now: float) -> float | None:
        """When (monotonic) the next record arrives by rate, or None (rate 0)."""
        seg = self._segment
        if seg.rate <= 0:
            return None
        made = self.count(now) - seg.first + 1
        return seg.start + (made + 1) / seg.rate

    def time_of(self, record: int) -> dt.datetime:
        """TimeCreated of ``record``."""
        if record <= self.backlog:
            return BACKLOG_END - dt.timedelta(seconds=self.backlog - record + 1)
        seg = self._segment
        if record >= seg.first:
            return _stamp(seg.wall, seg.rate, record - seg.first)
        for first, last, _start, wall, rate in reversed(self._closed):
            if first <= record <= last:
                return _stamp(wall, rate, record - first)
        return BACKLOG_END


def _stamp(wall: dt.datetime, rate: float, offset: int) -> dt.datetime:
    if rate <= 0:
        return wall
    return wall + dt.timedelta(seconds=(offset + 1) / rate)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class EventLog:
    """A host's channels.

    Args:
        seed: the server's data seed.
        host: the host index.
        hostname: the name events carry in ``Computer``.
        settings: the :class:`EventLogSettings`.
    """

    def __init__(self, seed: int, host: int, hostname: str, settings: EventLogSettings) -> None:
        self.seed = seed
        self.host = host
        self.hostname = hostname
        self.settings = settings
        now = time.monotonic()
        self.channels: dict[str, ChannelLog] = {
            name: ChannelLog(name, settings.backlog, settings.rate, now)
            for name in settings.channels
        }
        self._listeners: list[Callable[[], None]] = []

    def channel(self, name: str) -> ChannelLog | None:
        """The channel named ``name`` (case-insensitive, as the event log is)."""
        found = self.channels.get(name)
        if found is not None:
            return found
        lowered = name.lower()
        return next((c for n, c in self.channels.items() if n.lower() == lowered), None)

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` whenever events are emitted or the rate changes."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    def emit(self, count: int = 1, channel: str | None = None) -> dict[str, tuple[int, int]]:
        """Add ``count`` events now to ``channel`` (default: every channel).

        Returns:
            channel -> (first, last) record ids added.
        """
        targets = [channel] if channel else list(self.channels)
        added = {}
        for name in targets:
            log = self.channel(name)
            if log is None:
                raise KeyError(name)
            added[log.name] = log.emit(count)
        self._changed()
        return added

    def set_rate(self, rate: float, channel: str | None = None) -> None:
        """Change the arrival rate (events per second) of one or every channel."""
        for name in [channel] if channel else list(self.channels):
            log = self.channel(name)
            if log is None:
                raise KeyError(name)
            log.set_rate(rate)
        self._changed()

    def event(self, channel: str, record: int) -> EventFields:
        """Record ``record`` of ``channel``."""
        log = self.channel(channel)
        if log is None:
            raise KeyError(channel)
        return event_fields(self.seed, self.host, log.name, record, log.time_of(record))


# -- rendering ---------------------------------------------------------------------------


def render_event(fields: EventFields, computer: str, *, rendered: bool) -> str:
    """The event as the event log renders it (``EvtRenderEventXml``), with
    ``RenderingInfo`` when ``rendered`` (ContentFormat RenderedText)."""
    t = fields.template
    guid = f' Guid="{t.guid}"' if t.guid else ""
    if t.guid:
        provider = f'<Provider Name="{attr(t.provider)}"{guid}/>'
    else:
        provider = f'<Provider Name="{attr(t.provider)}"/>'
    when = fields.time_created.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    data = "".join(f'<Data Name="{attr(k)}">{text(v)}</Data>' for k, v in fields.data)
    parts = [
        f'<Event xmlns="{NS_WINDOWS_EVENT}"><System>{provider}',
        f"<EventID>{t.event_id}</EventID><Version>0</Version><Level>{t.level}</Level>",
        f"<Task>{t.task}</Task><Opcode>{t.opcode}</Opcode>",
        f'<Keywords>0x{t.keywords:x}</Keywords><TimeCreated SystemTime="{when}"/>',
        f"<EventRecordID>{fields.record_id}</EventRecordID><Correlation/>",
        f'<Execution ProcessID="{fields.process_id}" ThreadID="{fields.thread_id}"/>',
        f"<Channel>{text(fields.channel)}</Channel><Computer>{text(computer)}</Computer>",
        '<Security UserID="S-1-5-18"/></System>',
        f"<EventData>{data}</EventData>",
    ]
    if rendered:
        values = dict(fields.data)
        try:
            message = t.message.format(**values)
        except (KeyError, IndexError):
            message = t.message
        parts.append(
            '<RenderingInfo Culture="en-US">'
            f"<Message>{text(message)}</Message>"
            f"<Level>{_LEVEL_NAMES.get(t.level, '')}</Level><Task></Task><Opcode>Info</Opcode>"
            f"<Channel>{text(fields.channel)}</Channel><Provider>{text(t.provider)}</Provider>"
            "<Keywords><Keyword>Classic</Keyword></Keywords></RenderingInfo>"
        )
    parts.append("</Event>")
    return "".join(parts)


# -- the query subset --------------------------------------------------------------------


class QueryError(ValueError):
    """The query is outside the supported subset (or malformed)."""


Predicate = Callable[[EventFields], bool]


@dataclass
class Selection:
    """What a QueryList selects from one channel: ``select`` minus ``suppress``."""

    channel: str
    selects: list[Predicate] = field(default_factory=list)
    suppresses: list[Predicate] = field(default_factory=list)

    def matches(self, fields: EventFields) -> bool:
        return any(p(fields) for p in self.selects) and not any(p(fields) for p in self.suppresses)


def parse_query_list(element: etree._Element) -> list[tuple[str, str, Predicate]]:
    """The (kind, channel, predicate) entries of a QueryList element.

    ``kind`` is ``Select`` or ``Suppress``.

    Raises:
        QueryError: not a QueryList, or an XPath outside the subset.
    """
    if etree.QName(element).localname != "QueryList":
        raise QueryError("the filter must hold one QueryList element")
    entries: list[tuple[str, str, Predicate]] = []
    for query in element:
        if not isinstance(query.tag, str):
            continue
        if etree.QName(query).localname != "Query":
            raise QueryError(f"unexpected element {etree.QName(query).localname} in QueryList")
        default_path = query.get("Path")
        for item in query:
            if not isinstance(item.tag, str):
                continue
            kind = etree.QName(item).localname
            if kind not in ("Select", "Suppress"):
                raise QueryError(f"unexpected element {kind} in Query")
            path = item.get("Path") or default_path
            if not path:
                raise QueryError(f"a {kind} without a Path")
            entries.append((kind, path, compile_xpath(item.text or "")))
    if not any(kind == "Select" for kind, _, _ in entries):
        raise QueryError("the QueryList selects nothing")
    return entries


_TOKEN: Final = re.compile(
    r"\s*(?:(?P<num>\d+)|(?P<str>'[^']*'|\"[^\"]*\")|(?P<op><=|>=|!=|=|<|>)"
    r"|(?P<name>[A-Za-z_@][\w@.-]*)|(?P<punct>[\[\]()*/]))"
)
_FIELDS: Final[dict[str, Callable[[EventFields], int]]] = {
    "Level": lambda f: f.template.level,
    "EventID": lambda f: f.template.event_id,
    "EventRecordID": lambda f: f.record_id,
    "Task": lambda f: f.template.task,
    "Opcode": lambda f: f.template.opcode,
    "Version": lambda f: 0,
}
_OPS: Final[dict[str, Callable[[int, int], bool]]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _tokens(source: str) -> Iterator[str]:
    pos = 0
    source = source.strip()
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if m is None or m.end() == pos:
            raise QueryError(f"cannot read the XPath at {source[pos : pos + 20]!r}")
        pos = m.end()
        yield m.group().strip()


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens: Sequence[str] = list(_tokens(source))
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise QueryError(f"expected {expected or 'more'} in the XPath, found {token!r}")
        self.i += 1
        return token

    def top(self) -> Predicate:
        self.take("*")
        if self.peek() is None:
            return lambda f: True
        self.take("[")
        self.take("System")
        self.take("[")
        predicate = self.expr()
        self.take("]")
        self.take("]")
        if self.peek() is not None:
            raise QueryError(f"unexpected {self.peek()!r} after the XPath")
        return predicate

    def expr(self) -> Predicate:
        terms = [self.term()]
        while self.peek() == "or":
            self.take()
            terms.append(self.term())
        if len(terms) == 1:
            return terms[0]
        return lambda f: any(t(f) for t in terms)

    def term(self) -> Predicate:
        factors = [self.factor()]
        while self.peek() == "and":
            self.take()
            factors.append(self.factor())
        if len(factors) == 1:
            return factors[0]
        return lambda f: all(x(f) for x in factors)

    def factor(self) -> Predicate:
        token = self.take()
        if token == "(":
            inner = self.expr()
            self.take(")")
            return inner
        if token in _FIELDS:
            get = _FIELDS[token]
            op = self._comparison(token)
            value = self._number()
            return lambda f: op(get(f), value)
        if token == "Provider":
            self.take("[")
            self.take("@Name")
            self.take("=")
            name = self._string()
            self.take("]")
            return lambda f: f.template.provider == name
        if token == "TimeCreated":
            self.take("[")
            self.take("timediff")
            self.take("(")
            self.take("@SystemTime")
            self.take(")")
            op = self._comparison("timediff(@SystemTime)")
            millis = self._number()
            self.take("]")
            return lambda f: op(int((_utcnow() - f.time_created).total_seconds() * 1000), millis)
        raise QueryError(f"{token!r} is not supported in this XPath subset")

    def _comparison(self, after: str) -> Callable[[int, int], bool]:
        op = _OPS.get(self.take())
        if op is None:
            raise QueryError(f"expected a comparison after {after}")
        return op

    def _number(self) -> int:
        token = self.take()
        if not token.isdigit():
            raise QueryError(f"expected a number, found {token!r}")
        return int(token)

    def _string(self) -> str:
        token = self.take()
        if len(token) < 2 or token[0] not in "'\"" or token[-1] != token[0]:
            raise QueryError(f"expected a quoted string, found {token!r}")
        return token[1:-1]


def compile_xpath(source: str) -> Predicate:
    """A predicate for one Select/Suppress XPath of the subset.

    Raises:
        QueryError: outside the subset.
    """
    if not source.strip():
        raise QueryError("an empty XPath")
    return _Parser(source).top()
