"""Notebook helpers: results and items as pandas DataFrames.

In Jupyter (IPython's autoawait), the async API works at the top level of a
cell::

    results = [r async for r in run(hosts, op, username=..., password=...)]
    to_dataframe(results)

    async with AsyncSession(host, ...) as s:
        services = [item async for item in s.enumerate("wmicimv2/Win32_Service")]
    to_dataframe(services)

Results, summaries and items render as HTML tables on their own
(``_repr_html_``). pandas is the optional ``[pandas]`` extra.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping
from typing import Any

from aiowsman.fanout import HostResult, jsonable

__all__ = ["ato_dataframe", "records", "to_dataframe"]


def _flatten(prefix: str, value: Any, row: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key, sub in value.items():
            _flatten(f"{prefix}{key}.", sub, row)
    else:
        row[prefix[:-1]] = value


def _item_row(value: Any) -> dict[str, Any]:
    data = jsonable(value)
    row: dict[str, Any] = {}
    if isinstance(data, Mapping):
        for key, sub in data.items():
            if isinstance(sub, Mapping):
                _flatten(f"{key}.", sub, row)
            else:
                row[str(key)] = sub
    else:
        row["value"] = data
    return row


def records(data: Iterable[Any], *, explode: bool = True) -> list[dict[str, Any]]:
    """Flat rows (dicts) for ``data``: host results, items, or mappings.

    Args:
        data: :class:`~aiowsman.fanout.HostResult` objects (one row per host:
            ``host, ok, error_class, error, elapsed, attempts`` and the value's
            properties), or items/mappings/dataclasses (one row each).
        explode: a host result whose value is a list (an enumeration) gives
            one row per element, each with the host columns.

    Returns:
        A list of flat dicts; nested mappings become dotted column names.
    """
    rows: list[dict[str, Any]] = []
    for entry in data:
        if not isinstance(entry, HostResult):
            rows.append(_item_row(entry))
            continue
        base: dict[str, Any] = {
            "host": entry.host,
            "ok": entry.ok,
            "error_class": entry.error_class,
            "error": entry.message,
            "elapsed": entry.elapsed,
            "attempts": entry.attempts,
        }
        value = entry.value
        if not entry.ok:
            rows.append(base)
        elif explode and isinstance(value, list):
            rows.extend({**base, **_item_row(v)} for v in value)
            if not value:
                rows.append(base)
        else:
            rows.append({**base, **_item_row(value)})
    return rows


def to_dataframe(data: Iterable[Any], *, explode: bool = True) -> Any:
    """A ``pandas.DataFrame`` of ``data`` (see :func:`records` for the rows).

    Raises:
        ImportError: pandas is not installed (``pip install aiowsman[pandas]``).
        TypeError: ``data`` is an async iterable: use ``await ato_dataframe(...)``.
    """
    if isinstance(data, AsyncIterable):
        raise TypeError("to_dataframe() got an async iterable; use `await ato_dataframe(...)`")
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - pandas is in the test extra
        raise ImportError("to_dataframe needs pandas: pip install 'aiowsman[pandas]'") from exc
    return pd.DataFrame.from_records(records(data, explode=explode))


async def ato_dataframe(data: AsyncIterable[Any] | Iterable[Any], *, explode: bool = True) -> Any:
    """Drain an async iterable (``run(...)``, ``session.enumerate(...)``) into a DataFrame."""
    if isinstance(data, AsyncIterable):
        return to_dataframe([entry async for entry in data], explode=explode)
    return to_dataframe(data, explode=explode)
