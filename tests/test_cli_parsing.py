"""Command-line parsing: winrm.cmd values, host lists, usage errors."""

from __future__ import annotations

import io

import pytest

from aiowsman.cli import EXIT_USAGE, main
from aiowsman.cli._hosts import iter_hosts
from aiowsman.cli._values import UsageError, parse_hash_literal, parse_pairs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('@{TrustedHosts="a,b"}', {"TrustedHosts": "a,b"}),
        ('@{A="1";B="x;y"}', {"A": "1", "B": "x;y"}),
        ("@{A=1; B='two words'}", {"A": "1", "B": "two words"}),
        ("@{}", {}),
        ('{Name="v"}', {"Name": "v"}),
    ],
)
def test_hash_literal_values(text: str, expected: dict[str, str]) -> None:
    assert parse_hash_literal(text) == expected


@pytest.mark.parametrize("text", ["@{A=1", "A=1", '@{A="1}', "@{=1}", "@{novalue}"])
def test_malformed_hash_literal_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError):
        parse_hash_literal(text)


def test_pairs_keep_equals_signs_in_values() -> None:
    assert parse_pairs(["Filter=a=b", 'Q="x"']) == {"Filter": "a=b", "Q": "x"}


def test_plain_host_list_skips_blanks_and_comments() -> None:
    text = "# fleet\nhost1\n\n  host2  \n# old\nhost3:5986\n"
    assert list(iter_hosts(io.StringIO(text))) == ["host1", "host2", "host3:5986"]


def test_csv_host_list_reads_the_host_column() -> None:
    text = "site,Host,owner\nlab,h1,ann\nprod,h2,bob\n"
    assert list(iter_hosts(io.StringIO(text))) == ["h1", "h2"]


def test_csv_without_host_column_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no 'host' column"):
        list(iter_hosts(io.StringIO("a,b\n1,2\n")))


def test_host_list_is_read_lazily() -> None:
    class Endless(io.TextIOBase):
        def __init__(self) -> None:
            self.lines = 0

        def readline(self, size: int | None = -1) -> str:
            self.lines += 1
            return f"host{self.lines}\n"

        def __next__(self) -> str:
            return self.readline()

    stream = Endless()
    hosts = iter_hosts(stream)  # type: ignore[arg-type]
    assert [next(hosts) for _ in range(3)] == ["host1", "host2", "host3"]
    assert stream.lines == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["identify"], "no hosts"),
        (["get", "-r", "h"], "resource"),
        (["identify", "-r", "h", "--concurrency", "0"], "--concurrency"),
        (["identify", "-r", "h", "--timeout", "-1"], "--timeout"),
        (["identify", "-r", "h", "--format", "yaml"], "invalid choice"),
        (["set", "winrm/config", "-r", "h"], "give the values"),
        (["set", "winrm/config", "@{oops", "-r", "h"], "bad value set"),
        (["get", "x", "--selector", "novalue", "-r", "h"], "bad selector"),
        (["identify", "--hosts", "/nonexistent/hosts.txt"], "no such file"),
        (["identify", "-r", "h", "--ca-file", "/nonexistent/ca.pem"], "no such file"),
        (["demo", "--hosts", "0"], "--hosts"),
    ],
)
def test_bad_arguments_exit_2_with_a_one_line_error(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == EXIT_USAGE
    captured = capsys.readouterr()
    assert message in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    assert captured.out == ""


def test_no_password_and_no_terminal_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AIOWSMAN_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["identify", "-r", "127.0.0.1:1", "-u", "admin", "--auth", "basic"]) == EXIT_USAGE
    assert "AIOWSMAN_PASSWORD" in capsys.readouterr().err
