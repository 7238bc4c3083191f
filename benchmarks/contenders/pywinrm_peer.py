"""The other peer: pywinrm (``winrm.Session.run_cmd``), synchronous, on requests.

Only in the remote-command scenarios: pywinrm has no Get or Enumerate.
``Session.run_cmd`` is its one-call command (a shell per call: create,
command, receive, signal, delete); the reused-shell case drives its
``Protocol`` (``open_shell``, ``run_command``, ``get_command_output``,
``cleanup_command``, ``close_shell``) as pywinrm's README shows. A
``ThreadPoolExecutor`` for fan-out. Installed from PyPI (``bench`` extra);
nothing of pywinrm's is copied here.
"""

from __future__ import annotations

from typing import Any

import winrm

from benchmarks._common import Target
from benchmarks.contenders import check_count, thread_hosts


def _check(result: Any) -> None:
    if result.status_code != 0 or not result.std_out.startswith(b"HOST"):
        raise RuntimeError(f"hostname gave {result.status_code} {result.std_out!r}")


class _Pywinrm:
    def __init__(self, scenario: str, target: Target, params: dict[str, Any]) -> None:
        if not scenario.startswith("command"):
            raise ValueError(f"pywinrm: no {scenario} scenario (it has no Get/Enumerate)")
        self.scenario = scenario
        self.target = target
        self.params = params
        self.session: Any = None

    def _session(self, endpoint: str) -> Any:
        return winrm.Session(
            endpoint,
            auth=(self.target.username, self.target.password),
            transport="plaintext",
            server_cert_validation="ignore",
        )

    def setup(self) -> None:
        self.session = self._session(self.target.endpoints[0])
        _check(self.session.run_cmd("hostname"))

    def run(self) -> dict[str, Any]:
        if self.scenario == "commands":
            return self._commands()
        if self.scenario == "command_fanout":
            return self._command_fanout()
        if self.scenario == "command_stream":
            return self._command_stream()
        raise ValueError(f"pywinrm: unknown scenario {self.scenario}")

    def _commands(self) -> dict[str, Any]:
        count = int(self.params["count"])
        if self.params["mode"] == "cycle":
            for _ in range(count):
                _check(self.session.run_cmd("hostname"))
            return {"commands": count, "ops": 5 * count, "errors": 0}
        protocol = self.session.protocol
        shell_id = protocol.open_shell()
        try:
            for _ in range(count):
                command_id = protocol.run_command(shell_id, "hostname")
                out, _err, code = protocol.get_command_output(shell_id, command_id)
                protocol.cleanup_command(shell_id, command_id)
                if code != 0 or not out.startswith(b"HOST"):
                    raise RuntimeError(f"hostname gave {code} {out!r}")
        finally:
            protocol.close_shell(shell_id)
        return {"commands": count, "ops": 3 * count, "errors": 0}

    def _command_fanout(self) -> dict[str, Any]:
        hosts = self.target.endpoints[: int(self.params["hosts"])]

        def one(url: str) -> None:
            _check(self._session(url).run_cmd("hostname"))

        return thread_hosts(hosts, int(self.params["concurrency"]), one, ops_per_host=5)

    def _command_stream(self) -> dict[str, Any]:
        total = int(self.params["bytes"])
        result = self.session.run_cmd(f"aiowsman-bytes {total}")  # buffers the whole output
        check_count("pywinrm stream", len(result.std_out), total)
        return {"bytes": len(result.std_out), "ops": 1, "errors": 0}

    def close(self) -> None:
        return None


def create(scenario: str, target: Target, params: dict[str, Any]) -> _Pywinrm:
    return _Pywinrm(scenario, target, params)
