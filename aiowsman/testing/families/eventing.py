"""Event subscriptions: WS-Eventing in pull mode on ``.../windows/EventLog``.

The family serves Subscribe, Pull (of a subscription's context), Renew and
Unsubscribe for the resource URI Windows uses for its event logs (MS-WSMV
3.1.4.6), over the host's simulated :class:`~aiowsman.testing._eventlog.EventLog`
(its events, rules and query subset are documented there).

Rules it follows (DSP0226 10 and MS-WSMV 3.1.4.1.30; the server's own
reading where no capture pins a shape down):

* **Subscribe** (DSP0226 10.2) must ask for pull delivery (``Delivery
  Mode=".../wsman/Pull"``; anything else: ``wse:DeliveryModeRequestedUnavailable``)
  with a ``wsman:Filter`` in the eventquery dialect (else
  ``wse:FilteringRequestedUnavailable``, MS-WSMV 3.1.4.1.30.5) holding a
  QueryList of the supported subset (else ``wse:EventSourceUnableToProcess``
  with code 15001; an unknown channel: 15007, unless the ``IgnoreChannelError``
  option is present). ``wse:Expires`` is a positive duration or a future
  dateTime (else ``wse:InvalidExpirationTime``; absent: no expiry), capped by
  ``max_expires``. ``wsman:Heartbeats`` at least ``min_heartbeat`` (else
  ``wsman:UnsupportedFeature``). ``wsman:ConnectionRetry`` count and interval
  both zero or both not (else ``wsman:InternalError``, MS-WSMV 3.1.4.1.30.2).
  A ``wsman:Bookmark`` is the reserved "earliest" URI or a ``BookmarkList``
  of this host's channels with record ids it has reached (else
  ``wsman:InvalidBookmark``). Options: ``ContentFormat`` (``Raw`` |
  ``RenderedText``), ``ReadExistingEvents`` (``true`` or ``xsi:nil``),
  ``IgnoreChannelError``, ``CDATA`` (events as text), ``SubscriptionName``.
  The response carries the manager EPR (``w:ResourceURI`` and
  ``e:Identifier`` reference parameters, as Windows'), the granted
  ``e:Expires`` if any, and the enumeration context.
* **Pull** on a subscription's context returns up to MaxElements matching
  events (channels in turn, each in EventRecordID order, within
  MaxEnvelopeSize) as ``w:Event`` wrappers in ``n:Items``, with a
  ``w:Bookmark`` header (a ``BookmarkList`` of every channel's position,
  ``IsCurrent`` on the last event's) when bookmarks were asked for. It
  returns as soon as there is one event; with none, it waits up to MaxTime
  (or the OperationTimeout) and answers ``w:TimedOut``; a heartbeat is due
  first: an answer with Action ``.../wsman/Heartbeat`` and an empty
  PullResponse. An expired, unsubscribed or forgotten subscription:
  ``wsen:InvalidEnumerationContext``. One ended by :meth:`EventingFamily.end`:
  a ``wse:SubscriptionEnd`` message, once.
* **Renew** (DSP0226 10.5) grants a new lifetime, or answers
  ``wse:UnableToRenew`` when the settings say ``renew=False`` (Windows).
  **Unsubscribe** (10.4) ends it. Both find the subscription by the
  ``e:Identifier`` header; an unknown one is ``wsa:DestinationUnreachable``
  (code ERROR_WSMAN_SUBSCRIPTION_CLOSED).

Tests see live subscriptions with ``host.family(EventingFamily).subscriptions``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Final

from lxml import etree

from aiowsman.protocol.namespaces import (
    ACTION_EVENT,
    ACTION_FAULT_EVENTING,
    ACTION_HEARTBEAT,
    ACTION_PULL_RESPONSE,
    ACTION_RENEW,
    ACTION_RENEW_RESPONSE,
    ACTION_SUBSCRIBE,
    ACTION_SUBSCRIBE_RESPONSE,
    ACTION_SUBSCRIPTION_END,
    ACTION_UNSUBSCRIBE,
    ACTION_UNSUBSCRIBE_RESPONSE,
    BOOKMARK_EARLIEST,
    CODE_EVENTING_DELIVERY_MODE_UNAVAILABLE,
    CODE_EVENTING_FILTERING_UNAVAILABLE,
    CODE_EVENTING_INVALID_EXPIRATION_TIME,
    CODE_EVENTING_INVALID_HEARTBEAT,
    CODE_EVENTING_SOURCE_UNABLE_TO_PROCESS,
    CODE_EVENTING_UNABLE_TO_RENEW,
    CODE_EVT_CHANNEL_NOT_FOUND,
    CODE_EVT_INVALID_QUERY,
    CODE_SUBSCRIPTION_CLOSED,
    DELIVERY_MODE_PULL,
    DIALECT_EVENT_QUERY,
    NS_ENUMERATION,
    NS_EVENTING,
    NS_WSMAN,
    URI_EVENTLOG,
)
from aiowsman.testing._enumeration import DEFAULT_MAX_ENVELOPE, EnumerationState, parse_int
from aiowsman.testing._eventlog import (
    EventFields,
    EventLog,
    EventLogSettings,
    QueryError,
    Selection,
    parse_query_list,
    render_event,
)
from aiowsman.testing._faults import Fault
from aiowsman.testing._request import ParsedRequest, parse_duration
from aiowsman.testing._xml import ENVELOPE_ENUMERATION, ENVELOPE_EVENTING, attr, new_uuid, text
from aiowsman.testing.families.base import Host, Reply, ResourceFamily

__all__ = ["EventingFamily", "ServerSubscription"]

_E = "{" + NS_EVENTING + "}"
_W = "{" + NS_WSMAN + "}"
_N = "{" + NS_ENUMERATION + "}"
_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"

#: Wait of a Pull that names neither MaxTime nor OperationTimeout (WinRM's
#: MaxTimeoutms default).
_DEFAULT_WAIT: Final = 60.0
#: Room kept in a response for everything but the events (envelope, bookmark).
_ENVELOPE_ROOM: Final = 2000
#: Win32 ERROR_INVALID_PARAMETER: the code of faults whose own wsmerror.h code
#: no capture shows (InternalError for ConnectionRetry, InvalidOptions,
#: InvalidBookmark).
_ERROR_INVALID_PARAMETER: Final = 87


@dataclass
class ServerSubscription:
    """One subscription on a simulated host (what tests inspect).

    Attributes:
        identifier: its ``e:Identifier``.
        context: its enumeration context.
        user: who subscribed.
        selections: what it selects, per channel.
        positions: channel -> last record id delivered.
        heartbeat: the heartbeat interval (seconds) or None.
        expires_at: ``time.monotonic()`` when it expires, or None.
        send_bookmarks, rendered, cdata: the delivery options.
        name: the ``SubscriptionName`` option.
        pulls, delivered, heartbeats_sent, renewals: counters.
        current: the channel of the last event delivered.
        last_activity: ``time.monotonic()`` of the last answer (for heartbeats).
        ended: (status, reason) once :meth:`EventingFamily.end` ended it.
    """

    identifier: str
    context: str
    user: str | None
    selections: list[Selection]
    positions: dict[str, int]
    heartbeat: float | None
    expires_at: float | None
    send_bookmarks: bool
    rendered: bool
    cdata: bool
    name: str | None = None
    pulls: int = 0
    delivered: int = 0
    heartbeats_sent: int = 0
    renewals: int = 0
    current: str | None = None
    last_activity: float = field(default_factory=time.monotonic)
    ended: tuple[str, str] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)


def _flag(options: dict[str, str], name: str) -> bool:
    """A boolean option: present with ``xsi:nil`` (empty) or ``true``."""
    return name in options and options[name].strip().lower() in ("", "true")


def _eventing_fault(subcode: str, reason: str, code: int, message: str | None = None) -> Fault:
    return Fault(subcode, reason, action=ACTION_FAULT_EVENTING, wsman_code=code, message=message)


def _source_unable(code: int, message: str) -> Fault:
    return _eventing_fault(
        "e:EventSourceUnableToProcess",
        "The event source cannot process the subscription. ",
        CODE_EVENTING_SOURCE_UNABLE_TO_PROCESS if code == 0 else code,
        message,
    )


def _closed() -> Fault:
    return Fault(
        "a:DestinationUnreachable",
        "The subscription does not exist, or has ended. ",
        detail="InvalidResourceURI",
        wsman_code=CODE_SUBSCRIPTION_CLOSED,
    )


def _invalid_bookmark(message: str) -> Fault:
    return Fault(
        "w:InvalidBookmark",
        "The bookmark supplied with the subscription is not valid. ",
        detail="Invalid",
        wsman_code=_ERROR_INVALID_PARAMETER,
        message=message,
    )


class EventingFamily(ResourceFamily):
    """The event log of one host as a WS-Eventing source (pull mode).

    Args:
        host: the host.
        settings: how its log behaves (see :class:`EventLogSettings`).

    Attributes:
        log: the host's :class:`~aiowsman.testing._eventlog.EventLog` (tests
            call ``log.emit(...)`` and ``log.set_rate(...)``).
        unsubscribed: identifiers unsubscribed so far, in order.
    """

    name = "eventing"
    resource_uris = (URI_EVENTLOG,)

    def __init__(self, host: Host, *, settings: EventLogSettings | None = None) -> None:
        super().__init__(host)
        self._settings = settings or EventLogSettings()
        self._log: EventLog | None = None
        self._subscriptions: dict[str, ServerSubscription] = {}
        self._by_context: dict[str, ServerSubscription] = {}
        self._changed: asyncio.Future[None] | None = None
        self.unsubscribed: list[str] = []

    # -- what tests use ----------------------------------------------------------------

    @property
    def settings(self) -> EventLogSettings:
        return self._settings

    @settings.setter
    def settings(self, value: EventLogSettings) -> None:
        """Replace the settings; a log already made is made again from them."""
        self._settings = value
        self._log = None

    @property
    def log(self) -> EventLog:
        """The host's event log, made on first use."""
        if self._log is None:
            self._log = EventLog(
                self.host.seed, self.host.index, self.host.hostname, self._settings
            )
            self._log.on_change(self._notify)
        return self._log

    @property
    def subscriptions(self) -> dict[str, ServerSubscription]:
        """The live subscriptions (not expired, unsubscribed, ended or forgotten)."""
        now = time.monotonic()
        for sub in list(self._subscriptions.values()):
            state = self.host.contexts.get(sub.context)
            if state is None or (sub.expires_at is not None and sub.expires_at < now):
                self._forget(sub)
        return dict(self._subscriptions)

    def end(self, identifier: str, status: str = "SourceShuttingDown", reason: str = "") -> None:
        """End a subscription from the source's side: its next Pull gets a
        ``wse:SubscriptionEnd`` (WS-Eventing 2004/08 status ``wse:{status}``).

        Raises:
            KeyError: no such live subscription.
        """
        sub = self._subscriptions[identifier]
        sub.ended = (status, reason or "The event source ended the subscription.")
        self._notify()

    # -- dispatch --------------------------------------------------------------------------

    def handle(self, req: ParsedRequest, user: str | None) -> Reply | Awaitable[Reply]:
        action = req.action
        if action == ACTION_SUBSCRIBE:
            return Reply(ACTION_SUBSCRIBE_RESPONSE, self.subscribe(req, user), ENVELOPE_EVENTING)
        if action == ACTION_RENEW:
            return Reply(ACTION_RENEW_RESPONSE, self.renew(req), ENVELOPE_EVENTING)
        if action == ACTION_UNSUBSCRIBE:
            self.unsubscribe(req)
            return Reply(ACTION_UNSUBSCRIBE_RESPONSE, "", ENVELOPE_EVENTING)
        # The event log serves nothing else (Get, Enumerate...).
        raise Fault.action_not_supported(action)

    def _notify(self) -> None:
        fut, self._changed = self._changed, None
        if fut is not None and not fut.done():
            fut.set_result(None)

    async def _wait_change(self, seconds: float) -> None:
        """Sleep up to ``seconds``, or until events are emitted or a subscription ends."""
        if seconds <= 0:
            return
        if self._changed is None:
            self._changed = asyncio.get_running_loop().create_future()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._changed), seconds)

    def _forget(self, sub: ServerSubscription) -> None:
        self._subscriptions.pop(sub.identifier, None)
        self._by_context.pop(sub.context, None)
        self.host.contexts.pop(sub.context, None)

    # -- Subscribe ---------------------------------------------------------------------------

    def subscribe(self, req: ParsedRequest, user: str | None) -> str:
        body = req.body
        if body is None or body.tag != _E + "Subscribe":
            raise Fault.schema_validation("The Subscribe body is missing. ")
        delivery = body.find(_E + "Delivery")
        mode = delivery.get("Mode") if delivery is not None else None
        if mode != DELIVERY_MODE_PULL:
            raise _eventing_fault(
                "e:DeliveryModeRequestedUnavailable",
                "The requested delivery mode is not supported. ",
                CODE_EVENTING_DELIVERY_MODE_UNAVAILABLE,
                f"This event source delivers in pull mode only, not {mode or 'push'}. ",
            )
        assert delivery is not None
        heartbeat = self._heartbeat(delivery)
        self._check_retry(delivery)
        expires = self._expires(body.findtext(_E + "Expires"))
        options = req.options
        log = self.log
        selections = self._selections(
            body, ignore_channel_error=_flag(options, "IgnoreChannelError")
        )
        content = options.get("ContentFormat", "Raw") or "Raw"
        if content not in ("Raw", "RenderedText"):
            raise Fault(
                "w:InvalidOptions",
                "An option is not valid. ",
                wsman_code=_ERROR_INVALID_PARAMETER,
                message=f"ContentFormat {content} is not Raw or RenderedText. ",
            )
        read_existing = _flag(options, "ReadExistingEvents")
        now = time.monotonic()
        positions = {
            s.channel: (0 if read_existing else log.channels[s.channel].count(now))
            for s in selections
        }
        self._apply_bookmark(body.find(_W + "Bookmark"), positions)
        identifier = new_uuid()
        context = f"uuid:{new_uuid()}"
        expires_at = now + expires if expires is not None else None
        sub = ServerSubscription(
            identifier=identifier,
            context=context,
            user=user,
            selections=selections,
            positions=positions,
            heartbeat=heartbeat,
            expires_at=expires_at,
            send_bookmarks=body.find(_W + "SendBookmarks") is not None,
            rendered=content == "RenderedText",
            cdata=_flag(options, "CDATA"),
            name=options.get("SubscriptionName") or None,
        )
        self._subscriptions[identifier] = sub
        self._by_context[context] = sub
        self.host.contexts[context] = EnumerationState(
            [], 0, expires_at if expires_at is not None else float("inf"), self
        )
        granted = f"<e:Expires>PT{expires:.3f}S</e:Expires>" if expires is not None else ""
        return (
            "<e:SubscribeResponse><e:SubscriptionManager>"
            f"<a:Address>{text(self.host.url or 'http://localhost/wsman')}</a:Address>"
            f"<a:ReferenceParameters><w:ResourceURI>{URI_EVENTLOG}</w:ResourceURI>"
            f"<e:Identifier>{identifier}</e:Identifier></a:ReferenceParameters>"
            f"</e:SubscriptionManager>{granted}"
            f"<n:EnumerationContext>{context}</n:EnumerationContext></e:SubscribeResponse>"
        )

    def _heartbeat(self, delivery: etree._Element) -> float | None:
        raw = delivery.findtext(_W + "Heartbeats")
        if raw is None:
            return None
        try:
            value = parse_duration(raw)
        except ValueError:
            value = -1.0
        if value < self._settings.min_heartbeat:
            raise Fault(
                "w:UnsupportedFeature",
                "The requested heartbeat interval is not supported. ",
                detail="Heartbeats",
                wsman_code=CODE_EVENTING_INVALID_HEARTBEAT,
                message=f"The heartbeat interval {raw.strip()} is too short or invalid. ",
            )
        return value

    @staticmethod
    def _check_retry(delivery: etree._Element) -> None:
        retry = delivery.find(_W + "ConnectionRetry")
        if retry is None:
            return
        try:
            total = int((retry.get("Total") or "0").strip())
            interval = parse_duration(retry.text or "PT0S")
        except ValueError:
            total, interval = -1, -1.0
        if total < 0 or (total == 0) != (interval == 0):
            raise Fault(
                "w:InternalError",
                "The WS-Management service cannot process the request. ",
                code="s:Receiver",
                wsman_code=_ERROR_INVALID_PARAMETER,
                message="ConnectionRetry and its Total must both be zero or both non-zero. ",
            )

    def _expires(self, raw: str | None) -> float | None:
        if raw is None:
            return None
        value = raw.strip()
        seconds: float | None
        if value.startswith("P"):
            try:
                seconds = parse_duration(value)
            except ValueError:
                seconds = None
        else:
            try:
                when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                seconds = None
            else:
                if when.tzinfo is None:
                    when = when.replace(tzinfo=dt.UTC)
                seconds = (when - dt.datetime.now(dt.UTC)).total_seconds()
        if seconds is None or seconds <= 0:
            raise _eventing_fault(
                "e:InvalidExpirationTime",
                "The expiration time is not valid. ",
                CODE_EVENTING_INVALID_EXPIRATION_TIME,
                f"The Expires value {value} is not a positive duration or a future time. ",
            )
        cap = self._settings.max_expires
        return min(seconds, cap) if cap is not None else seconds

    def _selections(self, body: etree._Element, *, ignore_channel_error: bool) -> list[Selection]:
        filt = body.find(_W + "Filter")
        if filt is None:
            raise _source_unable(
                CODE_EVT_INVALID_QUERY, "An event subscription needs a QueryList filter. "
            )
        dialect = filt.get("Dialect", DIALECT_EVENT_QUERY)
        if dialect != DIALECT_EVENT_QUERY:
            raise _eventing_fault(
                "e:FilteringRequestedUnavailable",
                "The requested filtering dialect is not supported. ",
                CODE_EVENTING_FILTERING_UNAVAILABLE,
                f"The filter dialect {dialect} is not supported; use {DIALECT_EVENT_QUERY}. ",
            )
        elements = [el for el in filt if isinstance(el.tag, str)]
        if len(elements) != 1:
            raise _source_unable(
                CODE_EVT_INVALID_QUERY, "The filter must hold exactly one QueryList. "
            )
        try:
            entries = parse_query_list(elements[0])
        except QueryError as exc:
            raise _source_unable(
                CODE_EVT_INVALID_QUERY, f"The specified query is invalid: {exc}. "
            ) from None
        by_channel: dict[str, Selection] = {}
        for kind, path, predicate in entries:
            channel = self.log.channel(path)
            if channel is None:
                if ignore_channel_error:
                    continue
                raise _source_unable(
                    CODE_EVT_CHANNEL_NOT_FOUND,
                    f"The specified channel could not be found: {path}. ",
                )
            selection = by_channel.setdefault(channel.name, Selection(channel.name))
            (selection.selects if kind == "Select" else selection.suppresses).append(predicate)
        selections = [s for s in by_channel.values() if s.selects]
        if not selections:
            raise _source_unable(CODE_EVT_CHANNEL_NOT_FOUND, "No channel of the query exists. ")
        return selections

    def _apply_bookmark(self, mark: etree._Element | None, positions: dict[str, int]) -> None:
        if mark is None:
            return
        content = [el for el in mark if isinstance(el.tag, str)]
        if not content:
            if (mark.text or "").strip() == BOOKMARK_EARLIEST:
                for name in positions:
                    positions[name] = 0
                return
            raise _invalid_bookmark("The bookmark is neither a BookmarkList nor the earliest URI. ")
        root = content[0]
        if etree.QName(root).localname != "BookmarkList":
            raise _invalid_bookmark("The bookmark is not a BookmarkList. ")
        now = time.monotonic()
        for el in root:
            if not isinstance(el.tag, str) or etree.QName(el).localname != "Bookmark":
                continue
            channel = self.log.channel(el.get("Channel") or "")
            record = (el.get("RecordId") or "").strip()
            # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
            if channel is None or not (record.isascii() and record.isdigit()):
                raise _invalid_bookmark(
                    f"The bookmark names an unknown position: {el.get('Channel')} "
                    f"{el.get('RecordId')}. "
                )
            if int(record) > channel.count(now):
                raise _invalid_bookmark(
                    f"The bookmark is ahead of the {channel.name} log ({record}). "
                )
            if channel.name in positions:
                positions[channel.name] = int(record)

    # -- Renew, Unsubscribe ---------------------------------------------------------------------

    def _by_identifier(self, req: ParsedRequest) -> ServerSubscription:
        sub = self.subscriptions.get(req.identifier or "")
        if sub is None:
            raise _closed()
        return sub

    def renew(self, req: ParsedRequest) -> str:
        sub = self._by_identifier(req)
        if not self._settings.renew:
            # MS-WSMV 3.1.4.1.30.4: Windows SHOULD NOT support Renew.
            raise _eventing_fault(
                "e:UnableToRenew",
                "The subscription cannot be renewed. ",
                CODE_EVENTING_UNABLE_TO_RENEW,
            )
        body = req.body
        raw = body.findtext(_E + "Expires") if body is not None else None
        expires = self._expires(raw)
        state = self.host.contexts.get(sub.context)
        now = time.monotonic()
        sub.expires_at = now + expires if expires is not None else None
        if state is not None:
            state.expires = sub.expires_at if sub.expires_at is not None else float("inf")
        sub.renewals += 1
        granted = f"<e:Expires>PT{expires:.3f}S</e:Expires>" if expires is not None else ""
        return f"<e:RenewResponse>{granted}</e:RenewResponse>"

    def unsubscribe(self, req: ParsedRequest) -> None:
        sub = self._by_identifier(req)
        self._forget(sub)
        self.unsubscribed.append(sub.identifier)
        self._notify()

    # -- Pull ---------------------------------------------------------------------------------

    def pull(
        self, req: ParsedRequest, context: str, state: EnumerationState
    ) -> Reply | Awaitable[Reply]:
        sub = self._by_context.get(context)
        if sub is None:
            raise Fault.invalid_enumeration_context()
        return self._pull(req, sub)

    async def _pull(self, req: ParsedRequest, sub: ServerSubscription) -> Reply:
        assert req.body is not None
        max_elements = max(1, parse_int(req.body.findtext(_N + "MaxElements"), 1))
        raw_wait = req.body.findtext(_N + "MaxTime")
        wait = _DEFAULT_WAIT
        if raw_wait is not None:
            try:
                wait = parse_duration(raw_wait)
            except ValueError:
                raise Fault.schema_validation(
                    f"MaxTime {raw_wait.strip()} is not a duration. "
                ) from None
        if req.operation_timeout is not None:
            wait = min(wait, req.operation_timeout)
        budget = (req.max_envelope_size or DEFAULT_MAX_ENVELOPE) - _ENVELOPE_ROOM
        async with sub.lock:
            sub.pulls += 1
            deadline = time.monotonic() + wait
            while True:
                now = time.monotonic()
                if sub.identifier not in self._subscriptions or (
                    sub.expires_at is not None and now >= sub.expires_at
                ):
                    self._forget(sub)
                    raise Fault.invalid_enumeration_context()
                if sub.ended is not None:
                    return self._end_reply(sub)
                events = self._take(sub, max_elements, budget, now)
                if events:
                    sub.last_activity = now
                    return self._events_reply(sub, events)
                heartbeat_due = (
                    sub.last_activity + sub.heartbeat if sub.heartbeat is not None else None
                )
                if heartbeat_due is not None and now >= heartbeat_due:
                    sub.last_activity = now
                    sub.heartbeats_sent += 1
                    return Reply(
                        ACTION_HEARTBEAT,
                        f"<n:PullResponse><n:EnumerationContext>{sub.context}"
                        "</n:EnumerationContext></n:PullResponse>",
                        ENVELOPE_ENUMERATION,
                        headers=self._bookmark_header(sub),
                    )
                if now >= deadline:
                    sub.last_activity = now
                    raise Fault.timed_out()
                until = deadline
                for candidate in (heartbeat_due, sub.expires_at, self._next_arrival(sub, now)):
                    if candidate is not None:
                        until = min(until, candidate)
                await self._wait_change(until - now)

    def _next_arrival(self, sub: ServerSubscription, now: float) -> float | None:
        times = [
            t
            for s in sub.selections
            if (t := self.log.channels[s.channel].next_arrival(now)) is not None
        ]
        return min(times) if times else None

    def _take(
        self, sub: ServerSubscription, max_elements: int, budget: int, now: float
    ) -> list[tuple[EventFields, str]]:
        """Up to ``max_elements`` matching events, the channels in turn."""
        log = self.log
        counts = {s.channel: log.channels[s.channel].count(now) for s in sub.selections}
        taken: list[tuple[EventFields, str]] = []
        active = list(sub.selections)
        while active and len(taken) < max_elements:
            still: list[Selection] = []
            for selection in active:
                if len(taken) >= max_elements:
                    break
                found = self._next_match(sub, selection, counts[selection.channel])
                if found is None:
                    continue
                xml = self._wrap(
                    sub, render_event(found, self.host.hostname, rendered=sub.rendered)
                )
                size = len(xml.encode()) if not xml.isascii() else len(xml)
                if size > budget:
                    if not taken:
                        raise Fault.encoding_limit()
                    return taken
                budget -= size
                sub.positions[selection.channel] = found.record_id
                sub.current = selection.channel
                taken.append((found, xml))
                still.append(selection)
            active = still
        sub.delivered += len(taken)
        return taken

    def _next_match(
        self, sub: ServerSubscription, selection: Selection, count: int
    ) -> EventFields | None:
        record = sub.positions[selection.channel]
        while record < count:
            record += 1
            fields = self.log.event(selection.channel, record)
            if selection.matches(fields):
                return fields
            # Skipped events still move the position (a bookmark covers them).
            sub.positions[selection.channel] = record
        return None

    @staticmethod
    def _wrap(sub: ServerSubscription, event_xml: str) -> str:
        if sub.cdata:
            # MS-WSMV 3.1.4.1.30.1 "CDATA": the event passed as-is, unparsed.
            return f'<w:Event Action="{ACTION_EVENT}"><![CDATA[{event_xml}]]></w:Event>'
        return f'<w:Event Action="{ACTION_EVENT}">{event_xml}</w:Event>'

    def _bookmark_header(self, sub: ServerSubscription) -> str:
        if not sub.send_bookmarks:
            return ""
        marks = "".join(
            f'<Bookmark Channel="{attr(channel)}" RecordId="{record}"'
            + (' IsCurrent="true"/>' if channel == sub.current else "/>")
            for channel, record in sub.positions.items()
        )
        return f"<w:Bookmark><BookmarkList>{marks}</BookmarkList></w:Bookmark>"

    def _events_reply(
        self, sub: ServerSubscription, events: list[tuple[EventFields, str]]
    ) -> Reply:
        items = "".join(xml for _, xml in events)
        return Reply(
            ACTION_PULL_RESPONSE,
            f"<n:PullResponse><n:EnumerationContext>{sub.context}</n:EnumerationContext>"
            f"<n:Items>{items}</n:Items></n:PullResponse>",
            ENVELOPE_ENUMERATION,
            activity=True,
            headers=self._bookmark_header(sub),
        )

    def _end_reply(self, sub: ServerSubscription) -> Reply:
        assert sub.ended is not None
        status, reason = sub.ended
        self._forget(sub)
        return Reply(
            ACTION_SUBSCRIPTION_END,
            "<e:SubscriptionEnd><e:SubscriptionManager>"
            f"<a:Address>{text(self.host.url or 'http://localhost/wsman')}</a:Address>"
            f"<a:ReferenceParameters><w:ResourceURI>{URI_EVENTLOG}</w:ResourceURI>"
            f"<e:Identifier>{sub.identifier}</e:Identifier></a:ReferenceParameters>"
            f"</e:SubscriptionManager><e:Status>e:{text(status)}</e:Status>"
            f'<e:Reason xml:lang="en-US">{text(reason)}</e:Reason></e:SubscriptionEnd>',
            ENVELOPE_EVENTING,
        )
