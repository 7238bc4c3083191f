"""Host lists: plain lines or CSV with a ``host`` column, streamed.

A host file may hold a million lines; it is read line by line as the runner
asks for hosts, never loaded whole.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import TextIO

from aiowsman.cli._values import UsageError

__all__ = ["count_hosts", "iter_hosts"]


def _csv_host_column(header: str) -> int | None:
    """Index of the ``host`` column if ``header`` is a CSV header line, else None."""
    if "," not in header and ";" not in header and "\t" not in header:
        return None
    dialect = csv.Sniffer().sniff(header, delimiters=",;\t")
    names = [n.strip().lower() for n in next(csv.reader([header], dialect))]
    for wanted in ("host", "hostname", "address", "endpoint"):
        if wanted in names:
            return names.index(wanted)
    raise UsageError(f"host file looks like CSV but has no 'host' column (columns: {names})")


def iter_hosts(stream: TextIO) -> Iterator[str]:
    """Yield the hosts of ``stream``.

    Plain format: one host per line; blank lines and ``#`` comments skipped.
    CSV format (the first line has a delimiter and a ``host`` column): the
    values of that column.

    Raises:
        UsageError: a CSV without a ``host`` column.
    """
    first = ""
    for line in stream:
        if line.strip() and not line.lstrip().startswith("#"):
            first = line
            break
    if not first:
        return
    column = _csv_host_column(first.strip())
    if column is None:
        yield first.strip()
        for line in stream:
            host = line.strip()
            if host and not host.startswith("#"):
                yield host
        return
    dialect = csv.Sniffer().sniff(first, delimiters=",;\t")
    for row in csv.reader(stream, dialect):
        if len(row) > column and row[column].strip() and not row[0].startswith("#"):
            yield row[column].strip()


def count_hosts(path: str) -> int | None:
    """Count the hosts of a regular file in one streaming pass (for the progress bar)."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return sum(1 for _ in iter_hosts(fh))
    except (OSError, UnicodeDecodeError):
        return None


def hosts_from_text(text: str) -> list[str]:
    """Hosts of an in-memory text (tests, small lists)."""
    return list(iter_hosts(io.StringIO(text)))
