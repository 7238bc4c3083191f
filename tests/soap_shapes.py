"""Comparing a request with a real one of the corpus: what its header says."""

from __future__ import annotations

from typing import Any

from lxml import etree

from aiowsman.protocol import namespaces as ns

NS = {"s": ns.NS_SOAP, "a": ns.NS_ADDRESSING, "w": ns.NS_WSMAN, "rsp": ns.NS_WINRS}


def request_header(root: etree._Element, *, selector_values: bool = True) -> dict[str, Any]:
    """Action, resource URI, selectors and options of a request envelope.

    Option values are booleans or numbers: compared without case (pypsrp
    writes ``False``, Windows' clients ``FALSE``). ``selector_values=False``
    keeps only the selectors' names (ids that differ by nature).
    """
    h = root.find("s:Header", NS)
    assert h is not None
    selectors = {s.get("Name"): s.text for s in h.iterfind("w:SelectorSet/w:Selector", NS)}
    return {
        "action": h.findtext("a:Action", namespaces=NS),
        "uri": h.findtext("w:ResourceURI", namespaces=NS),
        "selectors": selectors if selector_values else sorted(selectors, key=str),
        "options": {
            o.get("Name"): ((o.text or "").lower(), o.get("MustComply", "false").lower())
            for o in h.iterfind("w:OptionSet/w:Option", NS)
        },
    }
