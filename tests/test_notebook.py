"""Notebook ergonomics: DataFrames, HTML reprs, and docs/example.ipynb executed for real."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from aiowsman.errors import AuthenticationError
from aiowsman.fanout import HostResult, Summary
from aiowsman.notebook import ato_dataframe, records, to_dataframe

REPO = Path(__file__).resolve().parents[1]


def ok(host: str, value: Any) -> HostResult[Any]:
    return HostResult(host=host, ok=True, value=value, elapsed=0.1, attempts=1)


def test_host_results_become_one_row_per_host_with_value_columns() -> None:
    rows = records(
        [
            ok("a", {"Name": "A", "Disk": {"Size": 5}}),
            HostResult.failure("b", AuthenticationError("no", host="b"), attempts=1),
        ]
    )
    assert rows[0]["Name"] == "A" and rows[0]["Disk.Size"] == 5 and rows[0]["host"] == "a"
    assert rows[1]["error_class"] == "auth" and "Name" not in rows[1]


def test_enumeration_values_explode_into_one_row_per_item() -> None:
    rows = records([ok("a", [{"Name": "x"}, {"Name": "y"}]), ok("b", [])])
    assert [(r["host"], r.get("Name")) for r in rows] == [("a", "x"), ("a", "y"), ("b", None)]


def test_to_dataframe_of_plain_items() -> None:
    df = to_dataframe([{"Name": "x", "State": "Running"}, {"Name": "y", "State": "Stopped"}])
    assert list(df["Name"]) == ["x", "y"]


def test_to_dataframe_refuses_an_async_iterable_with_a_pointer() -> None:
    async def agen() -> Any:
        yield 1

    with pytest.raises(TypeError, match="ato_dataframe"):
        to_dataframe(agen())


async def test_ato_dataframe_drains_an_async_iterable() -> None:
    async def agen() -> Any:
        for i in range(3):
            yield ok(f"h{i}", {"n": i})

    df = await ato_dataframe(agen())
    assert sorted(df["n"]) == [0, 1, 2]


def test_summary_renders_as_html() -> None:
    s = Summary()
    s.add(ok("a", 1))
    s.add(HostResult.failure("<b>", AuthenticationError("no"), attempts=1))
    html = s._repr_html_()
    assert "1 ok" in html and "1 failed" in html and "auth" in html


def test_example_notebook_runs_top_level_async_code_in_a_real_kernel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    nb = nbformat.read(REPO / "docs" / "example.ipynb", as_version=4)
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
    )
    client.execute()  # raises CellExecutionError on any failing cell

    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    text = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    assert "50 hosts: 48 ok, 2 failed" in text
    assert any("48 ok" in h for h in html)  # the Summary's HTML
    assert any("Win32_Service" in h for h in html)  # an Item's HTML
    assert any("auth" in h and "refused" in h for h in html)  # a failed HostResult's HTML
