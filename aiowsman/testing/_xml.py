"""String-level XML helpers of the test server.

The server renders responses with string templates rather than lxml trees:
it must answer thousands of simulated hosts cheaply (issue 2 item 11), and
the shapes it imitates (Windows WinRM) are fixed. Requests are parsed with
lxml (see :mod:`aiowsman.testing._request`).
"""

from __future__ import annotations

import os
from typing import Final

from aiowsman.protocol.namespaces import (
    NS_ADDRESSING,
    NS_ENUMERATION,
    NS_EVENTING,
    NS_SOAP,
    NS_TRANSFER,
    NS_WINRS,
    NS_WSMAN,
    NS_WSMAN_MSFT,
)

__all__ = [
    "ENVELOPE_ENUMERATION",
    "ENVELOPE_EVENTING",
    "ENVELOPE_FAULT",
    "ENVELOPE_SHELL",
    "ENVELOPE_TRANSFER",
    "attr",
    "new_uuid",
    "text",
]

_TEXT_TABLE: Final = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ATTR_TABLE: Final = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})


def text(value: str) -> str:
    """Escape ``value`` for use as element content."""
    if "&" in value or "<" in value or ">" in value:
        return value.translate(_TEXT_TABLE)
    return value


def attr(value: str) -> str:
    """Escape ``value`` for use inside a double-quoted attribute."""
    return value.translate(_ATTR_TABLE)


def new_uuid() -> str:
    """A fresh upper-case GUID (a random RFC 4122 version 4 UUID), the way
    Windows writes MessageID values."""
    # Two per response: formatted from 16 random bytes directly, about three
    # times cheaper than str(uuid.uuid4()).upper().
    h = os.urandom(16).hex().upper()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


#: RFC 4122 variant bits (10xx) forced onto the first hex digit of the fourth group.
_VARIANT: Final = {d: "89AB"[int(d, 16) & 3] for d in "0123456789ABCDEF"}


def _open(*prefixes: tuple[str, str]) -> str:
    decls = " ".join(f'xmlns:{p}="{ns}"' for p, ns in prefixes)
    return f'<s:Envelope xml:lang="en-US" {decls}>'


# Windows declares a different set of prefixes per response family on the
# Envelope element (see the corpus: pypsrp-get-response-config.xml,
# pypsrp-enumerate-response-*.xml, pypsrp-fault-*.xml); `p` is always the
# Microsoft WS-Man namespace there and is re-bound on instance elements.
ENVELOPE_TRANSFER: Final = _open(
    ("s", NS_SOAP),
    ("a", NS_ADDRESSING),
    ("x", NS_TRANSFER),
    ("w", NS_WSMAN),
    ("p", NS_WSMAN_MSFT),
)
ENVELOPE_ENUMERATION: Final = _open(
    ("s", NS_SOAP),
    ("a", NS_ADDRESSING),
    ("n", NS_ENUMERATION),
    ("w", NS_WSMAN),
    ("p", NS_WSMAN_MSFT),
)
ENVELOPE_EVENTING: Final = _open(
    ("s", NS_SOAP),
    ("a", NS_ADDRESSING),
    ("e", NS_EVENTING),
    ("n", NS_ENUMERATION),
    ("w", NS_WSMAN),
    ("p", NS_WSMAN_MSFT),
)
ENVELOPE_FAULT: Final = _open(
    ("s", NS_SOAP),
    ("a", NS_ADDRESSING),
    ("x", NS_TRANSFER),
    ("e", NS_EVENTING),
    ("n", NS_ENUMERATION),
    ("w", NS_WSMAN),
    ("p", NS_WSMAN_MSFT),
)
#: Remote shell answers (corpus pypsrp-shell-*-response-*.xml) declare rsp too.
ENVELOPE_SHELL: Final = _open(
    ("s", NS_SOAP),
    ("a", NS_ADDRESSING),
    ("x", NS_TRANSFER),
    ("w", NS_WSMAN),
    ("rsp", NS_WINRS),
    ("p", NS_WSMAN_MSFT),
)
