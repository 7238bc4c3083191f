"""Result writers of the CLI: json, jsonl, csv, xml, table.

All but ``table`` stream: a record is written (and flushed) as soon as the
host's result arrives, so ``aiowsman ... --format jsonl | jq`` shows hosts as
they finish and a killed run leaves every finished host in the file.
"""

from __future__ import annotations

import abc
import csv
import json
import re
from collections.abc import Callable
from typing import Any, TextIO
from xml.sax.saxutils import escape, quoteattr

from aiowsman.fanout import HostResult, jsonable

__all__ = ["FORMATS", "Writer", "make_writer"]

FORMATS = ("json", "jsonl", "csv", "xml", "table")


class Writer(abc.ABC):
    """Base writer: ``write`` each result, then ``close``."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    @abc.abstractmethod
    def write(self, result: HostResult[Any]) -> None:
        """Write one host's result."""

    def close(self) -> None:
        self.out.flush()


class JSONLinesWriter(Writer):
    def write(self, result: HostResult[Any]) -> None:
        self.out.write(json.dumps(result.to_dict(), ensure_ascii=False, default=str) + "\n")
        self.out.flush()


class JSONWriter(Writer):
    def __init__(self, out: TextIO) -> None:
        super().__init__(out)
        self.count = 0
        out.write("[")

    def write(self, result: HostResult[Any]) -> None:
        sep = ",\n " if self.count else "\n "
        self.out.write(sep + json.dumps(result.to_dict(), ensure_ascii=False, default=str))
        self.out.flush()
        self.count += 1

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
                flat[name] = json.dumps(sub, ensure_ascii=False, default=str)
            else:
                flat[name] = sub
    else:
        flat[prefix.rstrip(".") or "value"] = (
            json.dumps(value, ensure_ascii=False, default=str) if isinstance(value, list) else value
        )
    return flat


class CSVWriter(Writer):
    """One row per host -- or per item, when the value is a list (enumerate).

    The columns are fixed by the first row that has a value (CSV cannot grow
    columns while streaming); keys first seen later are dropped.
    """

    BASE = ("host", "ok", "error_class", "error", "elapsed", "attempts")

    def __init__(self, out: TextIO) -> None:
        super().__init__(out)
        self.writer: csv.DictWriter[str] | None = None
        self.pending: list[dict[str, Any]] = []

    def _rows(self, result: HostResult[Any]) -> list[dict[str, Any]]:
        base = {
            "host": result.host,
            "ok": str(result.ok).lower(),
            "error_class": result.error_class or "",
            "error": result.message or "",
            "elapsed": f"{result.elapsed:.3f}",
            "attempts": result.attempts,
        }
        if not result.ok:
            return [base]
        value = jsonable(result.value)
        items = value if isinstance(value, list) else [value]
        if not items:
            return [base]
        return [{**base, **_flatten(item)} for item in items]

    def write(self, result: HostResult[Any]) -> None:
        rows = self._rows(result)
        if self.writer is None:
            if not result.ok:
                # Wait for a row that shows the value columns (bounded: only
                # failures are held, and only until the first success).
                self.pending.extend(rows)
                return
            columns = list(self.BASE) + [k for k in rows[0] if k not in self.BASE]
            self.writer = csv.DictWriter(self.out, columns, extrasaction="ignore")
            self.writer.writeheader()
            self.writer.writerows(self.pending)
            self.pending.clear()
        self.writer.writerows(rows)
        self.out.flush()

    def close(self) -> None:
        if self.writer is None:
            writer = csv.DictWriter(self.out, list(self.BASE), extrasaction="ignore")
            writer.writeheader()
            writer.writerows(self.pending)
        super().close()


_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>\s*")


class XMLWriter(Writer):
    """``<Results>`` with each host's raw item XML, as the server sent it."""

    def __init__(self, out: TextIO) -> None:
        super().__init__(out)
        out.write('<?xml version="1.0" encoding="utf-8"?>\n<Results>\n')

    def write(self, result: HostResult[Any]) -> None:
        attrs = f"host={quoteattr(result.host)} ok={quoteattr(str(result.ok).lower())}"
        if not result.ok:
            self.out.write(
                f"<Result {attrs}><Error class={quoteattr(result.error_class or '')}>"
                f"{escape(result.message or '')}</Error></Result>\n"
            )
        else:
            value = result.value
            parts = value if isinstance(value, list) else [value]
            body = "".join(self._fragment(p) for p in parts)
            self.out.write(f"<Result {attrs}>{body}</Result>\n")
        self.out.flush()

    @staticmethod
    def _fragment(part: Any) -> str:
        raw = getattr(part, "xml", None)  # an Item: the element as received
        if isinstance(raw, bytes):
            part = raw
        if isinstance(part, bytes):
            part = part.decode("utf-8", "replace")
        if isinstance(part, str) and part.lstrip().startswith("<"):
            return _XML_DECL.sub("", part)
        return f"<Value>{escape(json.dumps(jsonable(part), default=str))}</Value>"

    def close(self) -> None:
        self.out.write("</Results>\n")
        super().close()


class TableWriter(Writer):
    """A table for people: buffered, printed at the end (use jsonl for big runs)."""

    def __init__(self, out: TextIO) -> None:
        super().__init__(out)
        self.rows: list[tuple[str, str, str, str]] = []

    def write(self, result: HostResult[Any]) -> None:
        if result.ok:
            text = json.dumps(jsonable(result.value), ensure_ascii=False, default=str)
            status = "ok"
        else:
            text = result.message or ""
            status = result.error_class or "error"
        if len(text) > 120:
            text = text[:117] + "..."
        self.rows.append((result.host, status, f"{result.elapsed:.2f}s", text))

    def close(self) -> None:
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:  # rich is the optional [cli] extra
            for row in self.rows:
                self.out.write("\t".join(row) + "\n")
            super().close()
            return
        table = Table("host", "status", "elapsed", "value / error")
        for row in self.rows:
            table.add_row(*row)
        Console(file=self.out, width=160).print(table)
        super().close()


def make_writer(fmt: str, out: TextIO) -> Writer:
    """The writer for ``fmt`` (one of :data:`FORMATS`)."""
    writers: dict[str, Callable[[TextIO], Writer]] = {
        "json": JSONWriter,
        "jsonl": JSONLinesWriter,
        "csv": CSVWriter,
        "xml": XMLWriter,
        "table": TableWriter,
    }
    return writers[fmt](out)
