"""winrm.cmd's verbs and switches: translated faithfully, or refused saying what to write.

The rewriting is specified on :func:`normalise_argv` (what each spelling
becomes); the last tests run the command line as a user does, in a
subprocess against the test server, with winrm.cmd's spellings only.
"""

from __future__ import annotations

import pytest

from aiowsman.cli import EXIT_USAGE, main
from aiowsman.cli._main import _value_options, build_parser
from aiowsman.cli._values import UsageError
from aiowsman.cli._verbs import VERBS
from aiowsman.cli._winrm import PASSWORD_REFUSAL, normalise_argv
from aiowsman.testing import WSManTestServer
from tests.cli_run import aiowsman, records

VERB_NAMES = {name for verb in VERBS for name in (verb.name, *verb.aliases)}


def rewrite(*argv: str) -> list[str]:
    return normalise_argv(argv, takes_value=_value_options(build_parser()), verbs=VERB_NAMES)


def test_value_switches_take_a_colon_or_a_following_word() -> None:
    parse = build_parser().parse_args
    colon = parse(rewrite("get", "x", "-r:h1", "-u:admin", "-a:Basic"))
    word = parse(rewrite("get", "x", "-r", "h1", "-u", "admin", "-a", "Basic"))
    for args in (colon, word):
        assert (args.remote, args.username, args.auth) == (["h1"], "admin", "basic")
    assert rewrite("get", "x", "-remote:h1", "-username", "admin") == [
        "get", "x", "--remote", "h1", "--username", "admin",
    ]  # fmt: skip


def test_timeout_is_milliseconds_as_in_winrm_cmd() -> None:
    assert rewrite("id", "-timeout:3000") == ["id", "--timeout", "3"]
    assert rewrite("id", "-timeout", "1500") == ["id", "--timeout", "1.5"]


@pytest.mark.parametrize("value", ["3s", "0", "-5", "1.5"])
def test_a_timeout_that_is_not_whole_positive_milliseconds_is_refused(value: str) -> None:
    with pytest.raises(UsageError, match="milliseconds"):
        rewrite("id", f"-timeout:{value}")


def test_usessl_means_tls_never_a_user_named_sessl() -> None:
    assert rewrite("id", "-r:h", "-usessl") == ["id", "--remote", "h", "--tls"]


def test_options_become_an_option_set() -> None:
    assert rewrite("get", "x", '-options:{a="b";c="d e"}') == [
        "get", "x", "--option", "a=b", "--option", "c=d e",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [("EPR", "epr"), ("Object", "object"), ("objectandepr", "object_and_epr")],
)
def test_return_type_names_the_enumeration_mode(spelling: str, expected: str) -> None:
    assert rewrite("e", "x", f"-returnType:{spelling}") == ["e", "x", "--return-type", expected]


@pytest.mark.parametrize("fmt", ["xml", "pretty", "text", "Pretty"])
def test_winrm_formats_are_formats(fmt: str) -> None:
    assert rewrite("id", f"-format:{fmt}") == ["id", "--format", fmt.lower()]


def test_unencrypted_allows_plain_http_without_message_encryption() -> None:
    assert rewrite("id", "-unencrypted") == [
        "id", "--insecure-allow-unencrypted", "--no-encryption",
    ]  # fmt: skip


def test_flags_and_filters_translate() -> None:
    assert rewrite(
        "e", "x", "-skipCAcheck", "-SKIPCNCHECK", "-shallow", "-basePropertiesOnly",
        "-filter:select * from Win32_Service", "-dialect:WQL", "-fragment:Status/text()",
        "-encoding:UTF-8", "-skipRevocationCheck",
    ) == [
        "e", "x", "--skip-ca-check", "--skip-cn-check", "--shallow", "--base-properties-only",
        "--filter", "select * from Win32_Service", "--dialect", "WQL",
        "--fragment", "Status/text()",
    ]  # fmt: skip


@pytest.mark.parametrize("verb", ["ID", "Get", "E", "enumerate"])
def test_verbs_are_case_insensitive(verb: str) -> None:
    assert rewrite(verb, "-r:h")[0] == verb.lower()


def test_an_option_value_that_looks_like_a_switch_is_left_alone() -> None:
    assert rewrite("e", "x", "--filter", "-weird") == ["e", "x", "--filter", "-weird"]


@pytest.mark.parametrize(
    "argv",
    [
        ["id", "-p:secret"],
        ["id", "-p", "secret"],
        ["id", "-P"],
        ["id", "-password:secret"],
        ["id", "-password", "secret"],
        ["id", "--password=secret"],
    ],
)
def test_every_spelling_of_a_password_gets_the_same_refusal(argv: list[str]) -> None:
    with pytest.raises(UsageError) as caught:
        rewrite(*argv)
    assert str(caught.value) == PASSWORD_REFUSAL


@pytest.mark.parametrize(
    ("arg", "says"),
    [
        ("-o:out.txt", "unknown switch"),
        ("-rhost", "unknown switch"),
        ("-certificate:AB12", "--cert"),
        ("-defaultCreds", "kinit"),
        ("-SPNPort", "not supported"),
        ("-encoding:utf-16", "UTF-8 only"),
        ("-associations", "association"),
        ("-usessl:yes", "takes no value"),
        ("-format:yaml", "xml, pretty and text"),
        ("-returnType:all", "ObjectAndEPR"),
    ],
)
def test_switches_that_cannot_be_honoured_are_refused_saying_what_to_write(
    arg: str, says: str
) -> None:
    with pytest.raises(UsageError, match=says):
        rewrite("get", "x", arg)


@pytest.mark.parametrize("verb", ["quickconfig", "qc", "helpmsg", "configSDDL"])
def test_winrm_verbs_for_the_local_machine_are_refused_with_directions(verb: str) -> None:
    with pytest.raises(UsageError, match=r"docs/|host|--help"):
        rewrite(verb)


def test_refusals_exit_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["get", "x", "-r:h", "-o:out.txt"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "unknown switch '-o:out.txt'" in err


# -- as a user runs them -----------------------------------------------------------------


async def test_a_winrm_cmd_command_line_runs_as_written() -> None:
    async with WSManTestServer(hosts=1) as server:
        code, out, err = await aiowsman(
            "g", "wmicimv2/Win32_Service?Name=WinRM", f"-r:{server.endpoints[0]}",
            "-u:user", "-a:basic", "-unencrypted", "-timeout:30000", "-format:text",
        )  # fmt: skip
    assert code == 0, err
    assert "    Name = WinRM" in out.splitlines()


async def test_return_type_epr_returns_references() -> None:
    async with WSManTestServer(hosts=1) as server:
        code, out, err = await aiowsman(
            "e", "wmicimv2/Win32_Service", f"-r:{server.endpoints[0]}", "-u:user", "-a:basic",
            "-unencrypted", "-returnType:EPR", "--format", "jsonl",
        )  # fmt: skip
    assert code == 0, err
    references = [r["value"] for r in records(out)]
    assert references and all(set(r["selectors"]) == {"Name"} for r in references)
    assert not any("State" in r for r in references)  # references, not instances


def test_options_become_the_option_set_of_the_request() -> None:
    args = build_parser().parse_args(rewrite("get", "x", "-r:h", '-options:{a="b";c="d"}'))
    target = args.verb_entry.operation(args).target
    assert [(o.name, o.value) for o in target.locator().options] == [("a", "b"), ("c", "d")]
