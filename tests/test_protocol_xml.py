"""The hardened parser: hostile XML refused unparsed, size bounded, UTF-8/UTF-16 decoded."""

from __future__ import annotations

import base64
import codecs
import os
import threading
import time
from pathlib import Path

import pytest

from aiowsman.errors import ProtocolError, ResponseTooLargeError, UnsafeXMLError
from aiowsman.protocol import parse_envelope, parse_get, parse_xml

CORPUS = Path(__file__).parent / "corpus"
GET_RESPONSE = (CORPUS / "pypsrp-get-response-config.xml").read_bytes()

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<lolz>&lol4;</lolz>"""


def xxe(path: Path) -> bytes:
    return (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://'
        + str(path).encode()
        + b'">]><r>&x;</r>'
    )


def test_billion_laughs_is_refused_unparsed() -> None:
    with pytest.raises(UnsafeXMLError):
        parse_xml(BILLION_LAUGHS)


def test_external_entity_is_refused_and_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    with pytest.raises(UnsafeXMLError) as info:
        parse_xml(xxe(secret))
    assert "TOP-SECRET" not in str(info.value)


def test_entity_declaration_outside_a_doctype_is_refused_as_malformed() -> None:
    with pytest.raises(ProtocolError):
        parse_xml(b'<r><!ENTITY % p SYSTEM "http://127.0.0.1:1/x.dtd"></r>')


def test_doctype_after_comments_and_declaration_is_refused() -> None:
    data = (
        b'<?xml version="1.0"?>\n<!-- <root> --><?pi x?>\n<!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>'
    )
    with pytest.raises(UnsafeXMLError):
        parse_xml(data)


def test_lowercase_doctype_is_refused() -> None:
    with pytest.raises(UnsafeXMLError):
        parse_xml(b'<!doctype r SYSTEM "file:///etc/passwd"><r/>')


def test_comments_and_cdata_in_the_document_are_fine() -> None:
    root = parse_xml(b"<!-- hi --><r><![CDATA[<!DOCTYPE not-a-decl>]]><!-- c --></r>")
    assert root.text == "<!DOCTYPE not-a-decl>"


def test_doctype_inside_envelope_bytes_is_refused() -> None:
    hostile = GET_RESPONSE.replace(
        b"<s:Envelope", b'<!DOCTYPE s:Envelope SYSTEM "x.dtd"><s:Envelope', 1
    )
    with pytest.raises(UnsafeXMLError):
        parse_envelope(hostile)


def test_doctype_in_utf16_body_is_refused() -> None:
    data = codecs.BOM_UTF16_LE + BILLION_LAUGHS.decode().encode("utf-16-le")
    with pytest.raises(UnsafeXMLError):
        parse_xml(data)


def test_doctype_in_utf16_without_bom_is_refused() -> None:
    data = BILLION_LAUGHS.decode().encode("utf-16-be")
    with pytest.raises(UnsafeXMLError):
        parse_xml(data, content_type="application/soap+xml;charset=UTF-16")


def test_unsafe_xml_error_is_a_protocol_error() -> None:
    assert issubclass(UnsafeXMLError, ProtocolError)


def test_response_over_the_cap_is_refused() -> None:
    with pytest.raises(ResponseTooLargeError):
        parse_envelope(GET_RESPONSE, max_size=len(GET_RESPONSE) - 1)


def test_response_at_the_cap_is_accepted() -> None:
    env = parse_envelope(GET_RESPONSE, max_size=len(GET_RESPONSE))
    assert parse_get(env).name == "Config"


@pytest.mark.parametrize(
    "data",
    [b"", b"<a>", b"not xml", b"<a></b>", b"<s:Envelope xmlns:s='x'><unclosed"],
    ids=["empty", "unclosed", "text", "mismatched", "truncated"],
)
def test_malformed_xml_is_a_protocol_error(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_xml(data)


def test_well_formed_non_envelope_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="not a SOAP"):
        parse_envelope(b"<html><body>Bad gateway</body></html>")


def test_envelope_without_body_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="no Body"):
        parse_envelope(b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"/>')


def _as_utf16(data: bytes, codec: str, bom: bytes) -> bytes:
    text = data.decode("utf-8")
    return bom + text.encode(codec)


@pytest.mark.parametrize(
    ("codec", "bom", "content_type"),
    [
        ("utf-16-le", codecs.BOM_UTF16_LE, None),
        ("utf-16-be", codecs.BOM_UTF16_BE, None),
        ("utf-16-le", codecs.BOM_UTF16_LE, "application/soap+xml;charset=UTF-16"),
        ("utf-16-le", b"", "application/soap+xml;charset=UTF-16"),
        ("utf-16-be", b"", "application/soap+xml; charset=utf-16"),
        ("utf-16-le", b"", 'application/soap+xml; charset="utf-16le"'),
    ],
    ids=["le-bom", "be-bom", "le-bom-charset", "le-charset", "be-charset", "le-quoted"],
)
def test_utf16_bodies_decode(codec: str, bom: bytes, content_type: str | None) -> None:
    data = _as_utf16(GET_RESPONSE, codec, bom)
    env = parse_envelope(data, content_type)
    assert parse_get(env)["MaxEnvelopeSizekb"] == "150"


def test_utf16_with_its_own_declaration_decodes() -> None:
    text = '<?xml version="1.0" encoding="utf-16"?><r><v>caf\u00e9 \u2013 \u65e5\u672c</v></r>'
    root = parse_xml(text.encode("utf-16-le"), content_type="text/xml; charset=utf-16")
    assert root.findtext("v") == "caf\u00e9 \u2013 \u65e5\u672c"


def test_utf8_bom_is_accepted() -> None:
    root = parse_xml(codecs.BOM_UTF8 + "<r>\u2013</r>".encode())
    assert root.text == "\u2013"


def test_non_ascii_utf8_is_decoded() -> None:
    # The corpus' Win32_Service-like descriptions carry U+2013.
    assert parse_xml("<r>a \u2013 b</r>".encode()).text == "a \u2013 b"


def test_unsupported_charset_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="charset"):
        parse_xml(b"  <r/>", content_type="text/xml; charset=ebcdic-cp-us")


def test_invalid_utf16_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        parse_xml(codecs.BOM_UTF16_LE + b"<\x00r\x00\x00\xd8>\x00")


# -- the prolog scan refuses a DOCTYPE before anything is parsed ----------------------

#: Each prolog shape is followed by a DOCTYPE and a body the parser would reject as
#: malformed: only a scan that refuses before parsing can answer UnsafeXMLError.
HOSTILE_TAIL = b'<!DOCTYPE r [<!ENTITY e "x">]><r>&e;<?later?><!-- later --></broken>'


@pytest.mark.parametrize(
    "prolog",
    [
        b"",
        b"\n  ",
        b'<?xml version="1.0"?>',
        b"<?pi a>b?>",
        b"<?a?><?b?>",
        b"<??>",
        b"<!-- <!DOCTYPE decoy> -->",
        b"<!---->",
        b'<?xml version="1.0"?>\n<!-- c --><?pi x?>\n',
    ],
    ids=[
        "bare",
        "space",
        "decl",
        "pi-with-gt",
        "two-pis",
        "empty-pi",
        "comment",
        "empty-comment",
        "mixed",
    ],
)
def test_doctype_after_any_prolog_is_refused_before_parsing(prolog: bytes) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_xml(prolog + HOSTILE_TAIL)
    assert type(info.value) is UnsafeXMLError


@pytest.mark.parametrize("bom", [codecs.BOM_UTF16_LE, b""])
def test_doctype_in_utf16_is_refused_before_parsing(bom: bytes) -> None:
    data = bom + (b'<?xml version="1.0"?>' + HOSTILE_TAIL).decode().encode("utf-16-le")
    with pytest.raises(ProtocolError) as info:
        parse_xml(data, content_type="application/soap+xml;charset=UTF-16")
    assert type(info.value) is UnsafeXMLError


def test_unterminated_prolog_is_malformed_not_unsafe() -> None:
    for data in (b"<?xml version='1.0'", b"<!-- never closed <r/>"):
        with pytest.raises(ProtocolError) as info:
            parse_xml(data)
        assert type(info.value) is ProtocolError


def test_utf16_with_a_bom_and_its_own_declaration_decodes() -> None:
    text = '<?xml version="1.0" encoding="utf-16"?><r>caf\u00e9</r>'
    for codec, bom in (("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE)):
        assert parse_xml(bom + text.encode(codec)).text == "caf\u00e9"


def test_comments_inside_values_are_dropped_in_every_thread() -> None:
    results: list[str | None] = []

    def parse() -> None:
        results.append(parse_xml(b"<v>4<!-- c -->2</v>").text)

    parse()
    worker = threading.Thread(target=parse)  # a thread that never parsed before
    worker.start()
    worker.join(10)
    assert results == ["42", "42"]


def test_processing_instructions_inside_values_are_dropped() -> None:
    assert parse_xml(b"<v>4<?pi x?>2</v>").text == "42"


def test_nesting_deeper_than_libxml2_default_limit_is_refused() -> None:
    # huge_tree stays off: libxml2 then refuses documents nested over 256 deep.
    deep = b"<a>" * 300 + b"</a>" * 300
    with pytest.raises(ProtocolError):
        parse_xml(deep)
    assert parse_xml(b"<a>" * 200 + b"</a>" * 200).tag == "a"


def _utf7(text: str) -> bytes:
    # UTF-7 with every "<", ">", "!", '"', "[", "]", "&", ";" and "%" encoded:
    # invisible to the prolog scan, decoded by libxml2.
    out = []
    for ch in text:
        encoded = base64.b64encode(ch.encode("utf-16-be")).decode().rstrip("=")
        out.append(f"+{encoded}-" if ch in '<>!"[]&;%' else ch)
    return b'<?xml version="1.0" encoding="UTF-7"?>' + "".join(out).encode("ascii")


@pytest.mark.parametrize(
    "doctype",
    ['<!DOCTYPE r [<!ENTITY e SYSTEM "{path}">]><r>&e;</r>', '<!DOCTYPE r SYSTEM "{path}"><r/>'],
    ids=["external-entity", "external-dtd"],
)
def test_a_hidden_doctype_never_makes_the_parser_open_a_file(tmp_path: Path, doctype: str) -> None:
    # The file is a FIFO: if the parser opened it (to expand an entity or
    # load a DTD), a writer could open it too. The document is refused either
    # way; what is checked is that nothing was read on the way.
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    opened = threading.Event()
    done = threading.Event()

    def writer() -> None:
        while not done.is_set():
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: nobody is reading
                time.sleep(0.005)
                continue
            opened.set()
            os.write(fd, b"x")
            os.close(fd)
            return

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        with pytest.raises(ProtocolError):
            parse_xml(_utf7(doctype.format(path=fifo.as_uri())))
    finally:
        done.set()
        thread.join(5)
    assert not opened.is_set()
