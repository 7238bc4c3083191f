"""Items cost what they are, not what the response around them was.

A hostile (or merely verbose) server can declare thousands of namespaces on
its envelope, or pad a response around a few items. Serialised
(``Item.xml``, pickles for Dask, ``--format xml``, Put of an Item) an item
declares only the namespaces it uses; and an item read from a response that
is mostly padding is copied out of it, so it does not keep the rest alive.
"""

from __future__ import annotations

import io
import pickle

import pytest
from lxml import etree

from aiowsman.cli._output import XMLWriter
from aiowsman.fanout import HostResult
from aiowsman.protocol import envelope as env
from aiowsman.protocol import parse_envelope
from aiowsman.protocol.items import DETACH_SHARE, Item, standalone
from aiowsman.protocol.locator import ResourceLocator
from aiowsman.protocol.response import parse_enumeration, parse_get

NS_S = "http://www.w3.org/2003/05/soap-envelope"
NS_N = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
URI = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service"


def item_xml(i: int) -> str:
    # As Windows writes it: the item declares p, xsi and cim itself, and
    # names cim: only inside xsi:type values.
    return (
        f'<p:Win32_Service xmlns:p="{URI}" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common"'
        f' xsi:type="p:Win32_Service_Type"><p:Name xsi:type="cim:cimString">svc{i}</p:Name>'
        f"<p:State>Running</p:State></p:Win32_Service>"
    )


def pull_response(items: int, unused: int) -> bytes:
    flood = " ".join(f'xmlns:u{i}="urn:unused:{i}"' for i in range(unused))
    body = "".join(item_xml(i) for i in range(items))
    return (
        f'<s:Envelope xmlns:s="{NS_S}" xmlns:n="{NS_N}" xmlns:xsi="{NS_XSI}" {flood}>'
        f"<s:Header/><s:Body><n:PullResponse><n:EnumerationContext>c</n:EnumerationContext>"
        f"<n:Items>{body}</n:Items></n:PullResponse></s:Body></s:Envelope>"
    ).encode()


def items_of(data: bytes) -> list[Item]:
    items = parse_enumeration(parse_envelope(data)).items
    assert all(isinstance(i, Item) for i in items)
    return items  # type: ignore[return-value]


@pytest.mark.parametrize("unused", [0, 10, 2000])
def test_item_xml_size_does_not_grow_with_unused_declarations(unused: int) -> None:
    baseline = sum(len(i.xml) for i in items_of(pull_response(50, 0)))
    assert sum(len(i.xml) for i in items_of(pull_response(50, unused))) == baseline


def test_item_xml_declares_what_it_uses_and_nothing_else() -> None:
    (item,) = items_of(pull_response(1, 100))
    root = etree.fromstring(item.xml)
    assert root.nsmap == {
        "p": URI,
        "cim": "http://schemas.dmtf.org/wbem/wscim/1/common",  # its own, used in xsi:type
        "xsi": NS_XSI,  # inherited from the envelope, used by xsi:type
    }
    assert b"urn:unused" not in item.xml


def test_item_xml_round_trips_to_the_same_values() -> None:
    (item,) = items_of(pull_response(1, 100))
    again = Item(etree.fromstring(item.xml))
    assert again.to_dict() == item.to_dict() == {"Name": "svc0", "State": "Running"}


def test_pickled_items_do_not_grow_with_unused_declarations() -> None:
    small = len(pickle.dumps(items_of(pull_response(20, 0))))
    flooded = len(pickle.dumps(items_of(pull_response(20, 2000))))
    assert flooded == small


def test_put_of_an_item_does_not_carry_the_responses_declarations() -> None:
    opts = env.RequestOptions(to="http://h/wsman")
    locator = ResourceLocator(URI, {"Name": "svc0"})
    plain = env.put_request(opts, locator, items_of(pull_response(1, 0))[0])
    flooded = env.put_request(opts, locator, items_of(pull_response(1, 2000))[0])
    assert len(flooded.body) - len(plain.body) < 64  # the MessageID and nothing else


def test_the_cli_xml_output_does_not_grow_with_unused_declarations() -> None:
    def output(unused: int) -> str:
        out = io.StringIO()
        writer = XMLWriter(out)
        writer.write(HostResult("h", True, value=items_of(pull_response(10, unused))))
        return out.getvalue()

    assert len(output(2000)) == len(output(0))


def test_standalone_keeps_an_items_own_unused_declarations() -> None:
    # What the server wrote on the item itself is the item's: kept.
    root = etree.fromstring(b'<e xmlns:u="urn:u"><i xmlns:own="urn:own"><v>1</v></i></e>')
    copy = standalone(root[0])
    assert copy.nsmap == {"own": "urn:own"}


def padded_get_response(padding: int) -> bytes:
    pad = "<x:Pad xmlns:x='urn:pad'>" + "<x:e/>" * (padding // 6) + "</x:Pad>"
    return (
        f'<s:Envelope xmlns:s="{NS_S}" xmlns:xsi="{NS_XSI}"><s:Header>{pad}</s:Header>'
        f"<s:Body>{item_xml(0)}</s:Body></s:Envelope>"
    ).encode()


def test_an_item_from_a_padded_response_does_not_keep_the_padding_alive() -> None:
    item = parse_get(parse_envelope(padded_get_response(500_000)))
    tree = item.element.getroottree().getroot()
    assert tree is item.element  # its own document: the response can be freed
    assert len(etree.tostring(tree)) < 1000
    assert item["Name"] == "svc0"


def test_items_of_a_padded_batch_are_copied_out_of_it() -> None:
    data = pull_response(3, 0).replace(
        b"<s:Header/>", b"<s:Header>" + b"<e/>" * 40_000 + b"</s:Header>"
    )
    assert len(data) > 3 * DETACH_SHARE
    for item in items_of(data):
        assert item.element.getparent() is None


def test_items_of_an_ordinary_batch_stay_in_place() -> None:
    # The common case costs nothing: no copy.
    data = pull_response(50, 0)
    assert len(data) < 50 * DETACH_SHARE
    for item in items_of(data):
        assert item.element.getparent() is not None


NS_A = "http://schemas.xmlsoap.org/ws/2004/08/addressing"


def instance_and_epr_response(size: int) -> bytes:
    """A batch of one instance and one EPR entry, padded to ``size`` bytes."""
    body = (
        f"<p:Win32_Service xmlns:p='{URI}'><p:Name>svc</p:Name></p:Win32_Service>"
        f"<a:EndpointReference xmlns:a='{NS_A}'><a:Address>urn:anon</a:Address>"
        "</a:EndpointReference>"
    )
    data = pull_response(0, 0).replace(
        b"<n:Items></n:Items>", f"<n:Items>{body}</n:Items>".encode()
    )
    empty, open_, close = b"<s:Header/>", b"<s:Header>", b"</s:Header>"
    padding = b" " * (size - len(data) + len(empty) - len(open_) - len(close))
    return data.replace(empty, open_ + padding + close)


@pytest.mark.parametrize(("extra", "copied"), [(0, False), (1, True)])
def test_a_batch_is_detached_over_the_share_of_each_entry_epr_or_instance(
    extra: int, copied: bool
) -> None:
    data = instance_and_epr_response(2 * DETACH_SHARE + extra)
    assert len(data) == 2 * DETACH_SHARE + extra
    instance, epr = parse_enumeration(parse_envelope(data)).items
    assert isinstance(instance, Item) and not isinstance(epr, Item)
    assert (instance.element.getparent() is None) is copied
