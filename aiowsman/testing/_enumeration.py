"""WS-Enumeration on a simulated host: contexts, batches and their size limits.

Every resource family that can be enumerated (CIM classes, open shells...)
hands its items to :func:`open_enumeration`; the host keeps the contexts in
one registry (``SimulatedHost.contexts``), and a Pull goes to the family that
opened the context (DSP0226 8; the context is the only thing a Pull names).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from lxml import etree

from aiowsman.protocol.namespaces import NS_ENUMERATION, NS_WSMAN
from aiowsman.testing._behaviour import InjectionKind, current_injection
from aiowsman.testing._faults import Fault
from aiowsman.testing._request import ParsedRequest
from aiowsman.testing._xml import new_uuid

if TYPE_CHECKING:
    from aiowsman.testing.families.base import ResourceFamily

__all__ = [
    "DEFAULT_MAX_ENVELOPE",
    "EnumerationState",
    "Items",
    "LazyItems",
    "open_enumeration",
    "pull_batch",
    "take_items",
]

_N = "{" + NS_ENUMERATION + "}"
_W = "{" + NS_WSMAN + "}"

#: Windows' default and ceiling for MaxEnvelopeSize (MaxEnvelopeSizekb 500).
DEFAULT_MAX_ENVELOPE: Final = 512000


class LazyItems:
    """Items rendered when a batch needs them.

    Holds positions (a ``range``, or an int array after filtering), never
    instances or strings: an enumeration context of 200,000 items costs
    nothing until it is pulled.
    """

    __slots__ = ("_item", "_positions")

    def __init__(self, positions: Sequence[int], item: Callable[[int], str]) -> None:
        self._positions = positions
        self._item = item

    def __len__(self) -> int:
        return len(self._positions)

    def iter_from(self, start: int, stop: int) -> Iterator[str]:
        """Render the items ``start`` to ``stop - 1``, one at a time."""
        return map(self._item, self._positions[start:stop])


#: Rendered items (a snapshot taken at Enumerate time), or lazily rendered ones.
Items = list[str] | LazyItems


@dataclass
class EnumerationState:
    """One open enumeration context.

    Attributes:
        items: what the enumeration returns.
        position: the next item to return.
        expires: ``time.monotonic()`` after which the context is gone
            (Windows' EnumerationTimeoutms, renewed by each Pull).
        owner: the family that opened it (a Pull goes to its ``pull``).
    """

    items: Items
    position: int
    expires: float
    owner: ResourceFamily | None = None


def take_items(items: Items, start: int, max_elements: int, max_envelope: int) -> list[str]:
    """The items from ``start`` that fit one response (DSP0226 8 MaxElements,
    6.2 MaxEnvelopeSize); lazy items are rendered only as far as needed.

    Raises:
        Fault: not even one item fits (w:EncodingLimit).
    """
    budget = max_envelope - 1200  # the envelope around the items
    stop = start + max_elements
    taken: list[str] = []
    source = items[start:stop] if isinstance(items, list) else items.iter_from(start, stop)
    for item in source:
        size = len(item) if item.isascii() else len(item.encode())
        if size > budget:
            break
        budget -= size
        taken.append(item)
    if not taken and start < len(items):
        raise Fault.encoding_limit()
    return taken


def open_enumeration(
    contexts: dict[str, EnumerationState],
    owner: ResourceFamily,
    req: ParsedRequest,
    enum: etree._Element,
    items: Items,
    timeout: float,
) -> str:
    """The EnumerateResponse body for ``items``; registers a context unless all
    items were returned at once (optimized enumeration).

    Args:
        contexts: the host's context registry.
        owner: the family the context belongs to.
        req: the Enumerate request.
        enum: its ``wsen:Enumerate`` body element.
        items: the items the enumeration returns.
        timeout: seconds an idle context lives.

    Raises:
        Fault: the first batch cannot hold one item.
    """
    optimize = enum.find(_W + "OptimizeEnumeration") is not None
    now = time.monotonic()
    context = f"uuid:{new_uuid()}"
    if not optimize:
        # DSP0226 8 (optimized enumeration): without OptimizeEnumeration
        # only a context comes back.
        contexts[context] = EnumerationState(items, 0, now + timeout, owner)
        return (
            f"<n:EnumerateResponse><n:EnumerationContext>{context}</n:EnumerationContext>"
            "</n:EnumerateResponse>"
        )
    max_elements = parse_int(enum.findtext(_W + "MaxElements"), 1)
    quirk = _quirk()
    taken = take_items(
        items,
        0,
        max(1, max_elements) + _extra_items(),
        req.max_envelope_size or DEFAULT_MAX_ENVELOPE,
    )
    count = len(taken)
    body = "".join(taken)
    never_ends = quirk in (InjectionKind.ENDLESS_ENUMERATION, InjectionKind.EMPTY_BATCHES)
    if count >= len(items) and not never_ends:
        # Windows: an empty context, the items, w:EndOfSequence (corpus
        # pypsrp-enumerate-response-shells-optimized.xml).
        return (
            "<n:EnumerateResponse><n:EnumerationContext></n:EnumerationContext>"
            f"<w:Items>{body}</w:Items><w:EndOfSequence/></n:EnumerateResponse>"
        )
    contexts[context] = EnumerationState(items, count, now + timeout, owner)
    return (
        f"<n:EnumerateResponse><n:EnumerationContext>{context}</n:EnumerationContext>"
        f"<w:Items>{body}</w:Items></n:EnumerateResponse>"
    )


def pull_batch(
    contexts: dict[str, EnumerationState],
    req: ParsedRequest,
    context: str,
    state: EnumerationState,
    timeout: float,
) -> str:
    """The PullResponse body: the next batch of ``state``'s items; the context
    ends with the last batch (DSP0226 8, EndOfSequence).

    Raises:
        Fault: the batch cannot hold one item.
    """
    assert req.body is not None
    quirk = _quirk()
    if quirk is InjectionKind.EMPTY_BATCHES:
        state.expires = time.monotonic() + timeout
        return (
            f"<n:PullResponse><n:EnumerationContext>{context}</n:EnumerationContext>"
            "<n:Items></n:Items></n:PullResponse>"
        )
    if quirk is InjectionKind.ENDLESS_ENUMERATION and state.position >= len(state.items):
        state.position = 0  # served again from the first: it never ends
    max_elements = parse_int(req.body.findtext(_N + "MaxElements"), 1)
    taken = take_items(
        state.items,
        state.position,
        max(1, max_elements) + _extra_items(),
        req.max_envelope_size or DEFAULT_MAX_ENVELOPE,
    )
    body = "".join(taken)
    state.position += len(taken)
    if state.position >= len(state.items) and quirk is not InjectionKind.ENDLESS_ENUMERATION:
        del contexts[context]
        return f"<n:PullResponse><n:Items>{body}</n:Items><n:EndOfSequence/></n:PullResponse>"
    state.expires = time.monotonic() + timeout
    return (
        f"<n:PullResponse><n:EnumerationContext>{context}</n:EnumerationContext>"
        f"<n:Items>{body}</n:Items></n:PullResponse>"
    )


def _quirk() -> InjectionKind | None:
    """The enumeration quirk injected into the request being served, if any.

    ``ENDLESS_ENUMERATION`` (never EndOfSequence; the items start over),
    ``EMPTY_BATCHES`` (Pulls answer a context and no items) and
    ``OVERSIZE_BATCH`` (``count`` items more than MaxElements; DSP0226 8.2.3,
    8.4 forbid it) misbehave on purpose, for the client's tests.
    """
    injection = current_injection()
    return injection.kind if injection is not None else None


def _extra_items() -> int:
    """Items beyond MaxElements that an ``OVERSIZE_BATCH`` injection adds."""
    injection = current_injection()
    if injection is not None and injection.kind is InjectionKind.OVERSIZE_BATCH:
        return max(1, injection.count)
    return 0


def parse_int(value: str | None, default: int) -> int:
    """``value`` as an int, or ``default`` when absent or not a number."""
    try:
        return int((value or "").strip())
    except ValueError:
        return default
