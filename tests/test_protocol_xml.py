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
from aiowsman.protocol import xml as safe_xml
from aiowsman.protocol.xml import detect_encoding

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


@pytest.mark.parametrize("data", [b"<a>", b"<?xml version='1.0'?>\n<a>\n<b></a>"])
def test_a_malformed_body_is_reported_as_malformed_xml_on_one_line(data: bytes) -> None:
    # What went wrong, in words a log line keeps whole (libxml2's own
    # messages may span lines).
    with pytest.raises(ProtocolError) as info:
        parse_xml(data)
    assert info.value.message.startswith("malformed XML: ")
    assert "\n" not in info.value.message


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


# -- which encoding: the byte-order mark, else the first bytes (XML 1.0 Appendix F) -------

UTF8_NAMES = ["utf-8", "UTF-8", "utf8", "utf_8", "us-ascii", "ascii", "ASCII"]
UTF16_NAMES = ["utf-16", "UTF-16", "utf16", "utf-16le", "utf-16be", "utf-16-le", "UTF_16_BE"]


@pytest.mark.parametrize("name", UTF8_NAMES)
def test_every_name_of_utf8_is_accepted_as_charset_and_as_declaration(name: str) -> None:
    assert parse_xml(b"<r>ok</r>", content_type=f"text/xml; charset={name}").text == "ok"
    declared = f'<?xml version="1.0" encoding="{name}"?><r>ok</r>'.encode()
    assert parse_xml(declared).text == "ok"


@pytest.mark.parametrize("name", UTF16_NAMES)
def test_every_name_of_utf16_is_accepted_as_charset_and_as_declaration(name: str) -> None:
    body = "<r>caf\u00e9</r>".encode("utf-16-le")
    assert parse_xml(body, content_type=f"text/xml; charset={name}").text == "caf\u00e9"
    declared = f'<?xml version="1.0" encoding="{name}"?><r>caf\u00e9</r>'
    assert parse_xml(declared.encode("utf-16")).text == "caf\u00e9"


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x00\xfe\xff" + "<r/>".encode("utf-32-be"),
        b"\xff\xfe\x00\x00" + "<r/>".encode("utf-32-le"),
        b"\x00\x00\xff\xfe<\x00\x00\x00",  # the 2143 order's mark
        b"\xfe\xff\x00\x00\x00<\x00\x00",  # the 3412 order's mark
        "<r/>".encode("utf-32-be"),
        "<r/>".encode("utf-32-le"),
        b"\x00\x00<\x00r\x00\x00\x00",  # 2143, no mark
        b"\x00<\x00\x00\x00r\x00\x00",  # 3412, no mark
    ],
    ids=["bom-1234", "bom-4321", "bom-2143", "bom-3412", "1234", "4321", "2143", "3412"],
)
def test_ucs4_in_any_byte_order_is_refused_as_such(data: bytes) -> None:
    with pytest.raises(ProtocolError, match=r"UTF-32/UCS-4; WS-Management messages are UTF-8"):
        parse_xml(data)


def test_ebcdic_is_refused_as_such() -> None:
    with pytest.raises(ProtocolError, match="EBCDIC"):
        parse_xml('<?xml version="1.0"?><r/>'.encode("cp500"))


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (codecs.BOM_UTF8 + b"\x00", "utf-8"),  # the mark decides, whatever follows
        (b"\x00<", "utf-16-be"),  # two bytes are enough
        (b"<\x00", "utf-16-le"),
        (b"<", "utf-8"),
    ],
)
def test_the_mark_else_the_first_two_bytes_decide_the_encoding(data: bytes, encoding: str) -> None:
    assert detect_encoding(data) == encoding


@pytest.mark.parametrize("data", [b"\x00\x00<r", b"<r\x00>", b"<rr\x00"])
def test_a_nul_in_no_utf16_position_is_an_unrecognised_encoding(data: bytes) -> None:
    with pytest.raises(ProtocolError, match="unrecognised encoding"):
        detect_encoding(data)


@pytest.mark.parametrize("bom", [codecs.BOM_UTF8, b""], ids=["bom", "no-bom"])
def test_a_utf8_document_declaring_utf16_is_refused(bom: bytes) -> None:
    data = bom + b'<?xml version="1.0" encoding="UTF-16"?><r/>'
    with pytest.raises(ProtocolError, match="declares encoding 'UTF-16' but is UTF-8"):
        parse_xml(data)


def _declaration_ending_at(end: int, name: str) -> str:
    """An XML declaration naming ``name`` whose closing quote is character ``end`` - 1."""
    head = '<?xml version="1.0"'
    tail = f' encoding="{name}"'
    return head + " " * (end - len(head) - len(tail)) + tail + "?>"


@pytest.mark.parametrize(
    ("encode", "wrong"), [("utf-8", "UTF-16"), ("utf-16-le", "UTF-8")], ids=["utf-8", "utf-16"]
)
def test_the_declaration_is_read_from_the_first_256_characters(encode: str, wrong: str) -> None:
    # A bound on the work per document: a declaration within them naming the
    # wrong encoding is refused; past them it is left to the parser, whose
    # encoding is forced (so it reads the bytes as checked anyway).
    within = _declaration_ending_at(256, wrong) + "<r>ok</r>"
    with pytest.raises(ProtocolError, match="declares encoding"):
        parse_xml(within.encode(encode))
    beyond = _declaration_ending_at(257, wrong) + "<r>ok</r>"
    assert parse_xml(beyond.encode(encode)).text == "ok"


# -- the prolog scan, and the last check behind it ----------------------------------------


@pytest.mark.parametrize(
    "prolog",
    [b'<?xml version="1.0"?>', b"<!-- <r-->", b"<?pi?>"],
    ids=["declaration-then-doctype", "comment-ending-like-a-root", "pi-then-doctype"],
)
def test_a_doctype_right_after_a_prolog_item_is_refused_before_parsing(prolog: bytes) -> None:
    # An external subset only: no "<!" inside it that a scan resuming too
    # late could still find; the broken body shows whether the parser ran.
    with pytest.raises(ProtocolError) as info:
        parse_xml(prolog + b'<!DOCTYPE r SYSTEM "x.dtd"><r></broken>')
    assert type(info.value) is UnsafeXMLError


def test_a_doctype_that_reached_the_parser_is_still_refused() -> None:
    # Belt and braces behind the prolog scan: the parsed document's own
    # DOCTYPE is checked too.
    with pytest.raises(UnsafeXMLError):
        safe_xml._fromstring(b"<!DOCTYPE r><r/>")


@pytest.mark.parametrize("name", [" utf-8", "utf-8 ", "\tUTF-16"])
def test_an_encoding_name_with_whitespace_in_its_declaration_is_refused(name: str) -> None:
    # XML 1.0 4.3.3 EncName holds no whitespace: such a declaration is not
    # XML (libxml2 refuses it too: "Invalid XML encoding name").
    with pytest.raises(ProtocolError, match="declares encoding"):
        parse_xml(f'<?xml version="1.0" encoding="{name}"?><r/>'.encode())
