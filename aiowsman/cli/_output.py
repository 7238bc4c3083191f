"""Result writers of the CLI: text, table, jsonl, json, csv, xml, pretty.

Every writer streams: a record is written (and flushed) as soon as it
arrives -- a host's result, or one enumerated item -- so
``aiowsman ... --format jsonl | jq`` shows hosts as they finish, a killed
run leaves every finished record in the file, and memory stays flat however
many items a host returns. ``table`` holds its first rows only, to size its
columns (:data:`TableWriter.SIZING_ROWS`).

Two kinds of record:

* a host's result (:meth:`Writer.write`): the value of a Get, Put, Invoke...,
  or why the host failed;
* an enumerated item (:meth:`Writer.write_item`), with its host: an
  enumeration is written one record per item, not one per host.
"""

from __future__ import annotations

import abc
import copy
import csv
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

from aiowsman.fanout import HostResult, jsonable

__all__ = ["FORMATS", "HUMAN_FORMATS", "Writer", "make_writer", "select"]

FORMATS = ("text", "table", "jsonl", "json", "csv", "xml", "pretty")
#: Formats for people (the default for one host); the others are for programs.
HUMAN_FORMATS = ("text", "table")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _name_of(value: Any) -> str:
    """The heading of a value: an item's class, a dataclass's name, or nothing."""
    name = getattr(value, "name", None)
    if isinstance(name, str) and hasattr(value, "xml"):
        return name  # an Item: its element's local name (the class)
    if hasattr(value, "__dataclass_fields__"):
        return type(value).__name__
    return ""


def select(value: Any, properties: Sequence[str]) -> Any:
    """``value`` as plain data, with only ``properties`` when given.

    Property names match case-insensitively (as WMI and CIM do) and come out
    in the order asked, spelled as the server spelled them; a property the
    value lacks is None, so every record has the same keys.
    """
    data = jsonable(value)
    if not properties or not isinstance(data, dict):
        return data
    by_lower = {k.lower(): k for k in data}
    out: dict[str, Any] = {}
    for prop in properties:
        key = by_lower.get(prop.lower())
        out[key if key is not None else prop] = data.get(key) if key is not None else None
    return out


class Writer(abc.ABC):
    """Base writer: ``write`` each host result / ``write_item`` each item, then ``close``.

    Args:
        out: where to write.
        properties: only these properties of each value (``--property``).
        show_host: name the host in records for people (off for one host).
    """

    def __init__(
        self, out: TextIO, *, properties: Sequence[str] = (), show_host: bool = True
    ) -> None:
        self.out = out
        self.properties = list(properties)
        self.show_host = show_host

    @abc.abstractmethod
    def write(self, result: HostResult[Any]) -> None:
        """Write one host's result."""

    @abc.abstractmethod
    def write_item(self, host: str, item: Any) -> None:
        """Write one enumerated item of ``host``."""

    def close(self) -> None:
        self.out.flush()

    def host_record(self, result: HostResult[Any]) -> dict[str, Any]:
        record = result.to_dict()
        if result.ok:
            record["value"] = select(result.value, self.properties)
        return record

    def item_record(self, host: str, item: Any) -> dict[str, Any]:
        return {"host": host, "ok": True, "value": select(item, self.properties)}


class JSONLinesWriter(Writer):
    """One JSON object per line: a host's record, or one item with its host."""

    def write(self, result: HostResult[Any]) -> None:
        self.out.write(_json(self.host_record(result)) + "\n")
        self.out.flush()

    def write_item(self, host: str, item: Any) -> None:
        self.out.write(_json(self.item_record(host, item)) + "\n")
        self.out.flush()


class JSONWriter(Writer):
    """The same records as one JSON array (still written as they come)."""

    def __init__(self, out: TextIO, **kwargs: Any) -> None:
        super().__init__(out, **kwargs)
        self.count = 0
        out.write("[")

    def _record(self, record: dict[str, Any]) -> None:
        self.out.write((",\n " if self.count else "\n ") + _json(record))
        self.out.flush()
        self.count += 1

    def write(self, result: HostResult[Any]) -> None:
        self._record(self.host_record(result))

    def write_item(self, host: str, item: Any) -> None:
        self._record(self.item_record(host, item))

    def close(self) -> None:
        self.out.write("\n]\n" if self.count else "]\n")
        super().close()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings become dotted columns; lists become JSON text."""
    flat: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, sub in value.items():
            name = f"{prefix}{key}"
            if isinstance(sub, dict):
                flat.update(_flatten(sub, name + "."))
            elif isinstance(sub, list):
                flat[name] = _json(sub)
            else:
                flat[name] = sub
    else:
        flat[prefix.rstrip(".") or "value"] = _json(value) if isinstance(value, list) else value
    return flat


class CSVWriter(Writer):
    """One row per host -- or per item, for enumerations.

    The columns are fixed by the first row that has a value (CSV cannot grow
    columns while streaming; ``--property`` fixes them up front); keys first
    seen later are dropped.
    """

    BASE = ("host", "ok", "error_class", "error", "elapsed", "attempts")

    def __init__(self, out: TextIO, **kwargs: Any) -> None:
        super().__init__(out, **kwargs)
        self.writer: csv.DictWriter[str] | None = None
        self.pending: list[dict[str, Any]] = []
        if self.properties:
            self._start(list(self.BASE) + self.properties)

    def _start(self, columns: list[str]) -> None:
        self.writer = csv.DictWriter(self.out, columns, extrasaction="ignore")
        self.writer.writeheader()
        self.writer.writerows(self.pending)
        self.pending.clear()

    def _row(self, base: dict[str, Any], value: Any) -> None:
        row = {**base, **_flatten(select(value, self.properties))}
        if self.writer is None:
            self._start(list(self.BASE) + [k for k in row if k not in self.BASE])
        assert self.writer is not None
        self.writer.writerow(row)
        self.out.flush()

    def write(self, result: HostResult[Any]) -> None:
        base = {
            "host": result.host,
            "ok": str(result.ok).lower(),
            "error_class": result.error_class or "",
            "error": result.message or "",
            "elapsed": f"{result.elapsed:.3f}",
            "attempts": result.attempts,
        }
        if not result.ok:
            if self.writer is None:
                # Wait for a row that shows the value columns (bounded: only
                # failures are held, and only until the first success).
                self.pending.append(base)
            else:
                self.writer.writerow(base)
                self.out.flush()
            return
        for item in _rows(result.value):
            self._row(base, item)

    def write_item(self, host: str, item: Any) -> None:
        self._row({"host": host, "ok": "true"}, item)

    def close(self) -> None:
        if self.writer is None:
            self._start(list(self.BASE))
        super().close()


_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>\s*")


class XMLWriter(Writer):
    """``<Results>`` with each record's raw XML, as the server sent it.

    ``pretty`` indents each instance (winrm.cmd's ``-format:pretty``).
    """

    def __init__(self, out: TextIO, *, pretty: bool = False, **kwargs: Any) -> None:
        super().__init__(out, **kwargs)
        self.pretty = pretty
        out.write('<?xml version="1.0" encoding="utf-8"?>\n<Results>\n')

    def _result(self, host: str, ok: bool, body: str) -> None:
        attrs = f"host={quoteattr(host)} ok={quoteattr(str(ok).lower())}"
        if self.pretty:
            self.out.write(f"<Result {attrs}>\n{body}</Result>\n")
        else:
            self.out.write(f"<Result {attrs}>{body}</Result>\n")
        self.out.flush()

    def write(self, result: HostResult[Any]) -> None:
        if not result.ok:
            self._result(
                result.host,
                False,
                f"<Error class={quoteattr(result.error_class or '')}>"
                f"{escape(result.message or '')}</Error>",
            )
            return
        value = result.value
        parts = value if isinstance(value, list) else [value]
        self._result(result.host, True, "".join(self._fragment(p) for p in parts))

    def write_item(self, host: str, item: Any) -> None:
        self._result(host, True, self._fragment(item))

    def _fragment(self, part: Any) -> str:
        element = getattr(part, "element", None)  # an Item: the element as received
        if self.pretty and isinstance(element, etree._Element):
            mine = copy.deepcopy(element)
            etree.indent(mine, space="  ")
            return etree.tostring(mine, encoding="unicode", with_tail=False) + "\n"
        raw = getattr(part, "xml", None)
        if isinstance(raw, bytes):
            part = raw
        if isinstance(part, bytes):
            part = part.decode("utf-8", "replace")
        if isinstance(part, str) and part.lstrip().startswith("<"):
            return _XML_DECL.sub("", part)
        text = f"<Value>{escape(_json(jsonable(part)))}</Value>"
        return text + "\n" if self.pretty else text

    def close(self) -> None:
        self.out.write("</Results>\n")
        super().close()


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _camel(name: str) -> str:
    """``product_vendor`` -> ``ProductVendor``: the wire name of a dataclass field."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def _text_lines(data: Mapping[str, Any], indent: str, camel: bool = False) -> list[str]:
    """winrm.cmd's text layout: ``Name = value``; arrays repeat the name;
    embedded instances are an indented block under their name; empty arrays
    and blocks say nothing."""
    lines: list[str] = []
    for name, value in data.items():
        key = _camel(name) if camel else name
        values = value if isinstance(value, list) else [value]
        for one in values:
            if isinstance(one, dict):
                if one:
                    lines.append(f"{indent}{key}")
                    lines += _text_lines(one, indent + "    ", camel)
            else:
                lines.append(f"{indent}{key} = {_scalar(one)}")
    return lines


class TextWriter(Writer):
    """For people, as winrm.cmd's ``-format:text``: a heading, then ``Name = value``.

    Failures are not repeated here: the command line reports them on stderr.
    """

    def __init__(self, out: TextIO, **kwargs: Any) -> None:
        super().__init__(out, **kwargs)
        self.blocks = 0

    def _block(self, host: str, value: Any) -> None:
        data = select(value, self.properties)
        heading = _name_of(value)
        lines = [f"[{host}]"] if self.show_host else []
        if isinstance(data, dict):
            if heading:
                lines.append(heading)
            camel = hasattr(value, "__dataclass_fields__")  # e.g. IdentifyResponse
            lines += _text_lines(data, "    " if heading else "", camel)
        else:
            lines.append(_scalar(data))
        self.out.write(("\n" if self.blocks else "") + "\n".join(lines) + "\n")
        self.out.flush()
        self.blocks += 1

    def write(self, result: HostResult[Any]) -> None:
        if not result.ok:
            return
        value = result.value
        for part in value if isinstance(value, list) else [value]:
            if _is_command_result(part):
                self._command(result.host, part)
            elif _is_invoke_result(part):
                self._invoke(result.host, part)
            else:
                self._block(result.host, part)

    def write_item(self, host: str, item: Any) -> None:
        from aiowsman.cli._ops import CommandExit, OutputLine

        if isinstance(item, OutputLine):
            # A remote command's line as it arrived: stdout here, stderr on
            # stderr, each named by its host when there are several.
            where = self.out if item.stream == "stdout" else sys.stderr
            where.write(f"{host}: {item.line}\n" if self.show_host else item.line + "\n")
            where.flush()
        elif isinstance(item, CommandExit):
            if self.show_host:
                self.out.write(f"{host}: exit code {item.exit_code}\n")
                self.out.flush()
            elif item.exit_code != 0:
                print(f"exit code {item.exit_code}", file=sys.stderr)
        else:
            self._block(host, item)

    def _invoke(self, host: str, result: Any) -> None:
        """A PowerShell remoting result: each output object (a value on a
        line, an object as ``Name = value`` lines); errors and warnings on
        stderr, as a console shows them."""
        lines = [f"[{host}]"] if self.show_host else []
        for value in result.output:
            data = select(value, self.properties)
            if isinstance(data, dict):
                lines += ([""] if lines else []) + _text_lines(data, "")
            else:
                lines.append(_scalar(data))
        if lines:
            self.out.write(("\n" if self.blocks else "") + "\n".join(lines) + "\n")
            self.out.flush()
            self.blocks += 1
        where = f"[{host}] " if self.show_host else ""
        notes = [f"WARNING: {w}" for w in result.streams.warning]
        notes += [e.text or e.message for e in result.streams.error]
        for note in notes:
            sys.stderr.write("".join(f"{where}{line}\n" for line in note.splitlines()))

    def _command(self, host: str, result: Any) -> None:
        """A remote command's result, as winrs shows it: its output as written
        (stderr on stderr); with several hosts, each under its name."""
        out, err = result.stdout_text, result.stderr_text
        if self.show_host:
            heading = f"[{host}] exit code {result.exit_code}"
            self.out.write(("\n" if self.blocks else "") + heading + "\n" + out)
            if err:
                sys.stderr.write("".join(f"[{host}] {line}\n" for line in err.splitlines()))
        else:
            self.out.write(out)
            if err:
                sys.stderr.write(err if err.endswith("\n") else err + "\n")
            if result.exit_code != 0:
                print(f"exit code {result.exit_code}", file=sys.stderr)
        self.out.flush()
        self.blocks += 1


class TableWriter(Writer):
    """A fixed-width table for people: one row per host, or per item.

    Columns: the ``--property`` names, else the first :data:`DEFAULT_COLUMNS`
    properties of the first value (the rest are announced on stderr by the
    command line). The first :data:`SIZING_ROWS` rows are held to size the
    columns; later rows are cut to those widths, so memory stays flat.
    """

    SIZING_ROWS = 50
    DEFAULT_COLUMNS = 8
    MAX_WIDTH = 48

    def __init__(self, out: TextIO, **kwargs: Any) -> None:
        super().__init__(out, **kwargs)
        self.columns: list[str] | None = None
        self.hidden = 0  # properties not shown (no --property)
        self.held: list[list[str]] = []
        self.widths: list[int] | None = None

    def _row(self, host: str, data: Any) -> None:
        if not isinstance(data, dict):
            data = {"value": data}
        if self.columns is None:
            if self.properties:
                self.columns = list(data)  # select() kept the server's spelling
            else:
                names = [k for k, v in data.items() if not isinstance(v, dict | list)]
                self.columns = names[: self.DEFAULT_COLUMNS]
                self.hidden = len(data) - len(self.columns)
        by_lower = {k.lower(): v for k, v in data.items()}
        cells = [_cell(by_lower.get(c.lower())) for c in self.columns]
        self._add(([host] if self.show_host else []) + cells)

    def _add(self, cells: list[str]) -> None:
        if self.widths is None:
            self.held.append(cells)
            if len(self.held) >= self.SIZING_ROWS:
                self._flush_held()
            return
        self._print(cells)

    def _header(self) -> list[str]:
        return (["host"] if self.show_host else []) + (self.columns or self.properties or ["value"])

    def _flush_held(self) -> None:
        header = self._header()
        rows = [header, *self.held]
        self.widths = [
            min(self.MAX_WIDTH, max(len(r[i]) if i < len(r) else 0 for r in rows))
            for i in range(len(header))
        ]
        self._print(header)
        self._print(["-" * w for w in self.widths])
        for row in self.held:
            self._print(row)
        self.held.clear()

    def _print(self, cells: list[str]) -> None:
        assert self.widths is not None
        shown = []
        for i, width in enumerate(self.widths):
            cell = cells[i] if i < len(cells) else ""
            if len(cell) > width:
                cell = cell[: width - 1] + "…"
            shown.append(cell.ljust(width))
        self.out.write("  ".join(shown).rstrip() + "\n")
        self.out.flush()

    def write(self, result: HostResult[Any]) -> None:
        if not result.ok:
            # A failed host is a row too, its reason under the first column.
            self._add(
                ([result.host] if self.show_host else [])
                + [f"! {result.error_class}: {result.message}"]
            )
            return
        for part in _rows(result.value):
            self._row(result.host, select(part, self.properties))

    def write_item(self, host: str, item: Any) -> None:
        self._row(host, select(item, self.properties))

    def close(self) -> None:
        if self.widths is None and self.held:
            self._flush_held()
        super().close()


def _is_invoke_result(value: Any) -> bool:
    """A PowerShell remoting result (aiowsman.psrp.InvokeResult; psrpcore may
    not be installed, so it is not imported to be checked)."""
    return type(value).__name__ == "InvokeResult" and type(value).__module__ == "aiowsman.psrp"


def _rows(value: Any) -> list[Any]:
    """The rows of a host's value in a table or CSV: each item of a list,
    each output object of a PowerShell remoting result."""
    rows: list[Any] = []
    for part in value if isinstance(value, list) else [value]:
        rows.extend(part.output if _is_invoke_result(part) else [part])
    return rows


def _is_command_result(value: Any) -> bool:
    """A remote command's result (aiowsman.shell.CommandResult and subclasses)."""
    from aiowsman.shell import CommandResult

    return isinstance(value, CommandResult)


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_scalar(v) for v in value)
    return " ".join(_scalar(value).split())


def make_writer(
    fmt: str, out: TextIO, *, properties: Sequence[str] = (), show_host: bool = True
) -> Writer:
    """The writer for ``fmt`` (one of :data:`FORMATS`)."""
    writers: dict[str, Callable[..., Writer]] = {
        "text": TextWriter,
        "table": TableWriter,
        "json": JSONWriter,
        "jsonl": JSONLinesWriter,
        "csv": CSVWriter,
        "xml": XMLWriter,
        "pretty": lambda o, **kw: XMLWriter(o, pretty=True, **kw),
    }
    return writers[fmt](out, properties=properties, show_host=show_host)
