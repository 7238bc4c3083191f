"""The WS-Man server in its own process: the native responder or ``python -m aiowsman.testing``.

The benchmark never runs the server in a client's process: the server's CPU
would be charged to the client. Its CPU is read from outside (psutil) around
each timed part, so a run can say when the server, not the client, was the
limit.

Two servers (``--server native|python``):

* **native** (the default): ``native_server/wsman_bench_server.c``, a small
  epoll responder built with the system C compiler on first use
  (``benchmarks/_native.py``). It costs a few microseconds of CPU per request,
  so the clients, not the server, are what a fan-out measures, and a client
  may use every core but the server's small share. Basic over HTTP only.
* **python**: the project's test server, a full emulator (~250 us of CPU per
  Get, ~500 us per fan-out host). Needed for TLS and NTLM (the ``encrypted``
  scenario always uses it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from benchmarks import _native
from benchmarks._common import Target

__all__ = [
    "FANOUT_GET_URI",
    "GET_SELECTORS",
    "GET_URI",
    "SERVERS",
    "ServerError",
    "TestServer",
    "server_options",
]

ROOT = Path(__file__).resolve().parent.parent

#: The instance every Get scenario reads: a typical ~30-property WMI instance,
#: addressed with a selector (so selector handling is part of the cost).
GET_URI = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service"
GET_SELECTORS = {"Name": "WinRM"}
#: Credentials the benchmark gives the server (``--users``) and uses itself.
USERNAME, PASSWORD = "bench", "bench-pass"
#: The instance the fan-out Gets: a singleton, so no per-host selector is
#: needed, and the cheapest class for the server to build when a host is
#: touched for the first time (Win32_Service makes it build all 200 services).
FANOUT_GET_URI = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_OperatingSystem"
#: Until the server can hold a big synthetic class, enumerate this one, which
#: every simulated host has (the server's documentation: 200 services), and
#: repeat the enumeration to get a measurable amount of work.
FALLBACK_ENUM_URI = GET_URI
FALLBACK_ENUM_ITEMS = 200

#: The server kinds the suite can run (``--server``).
SERVERS = ("native", "python")

_OPTIONS: dict[str, set[str]] = {}


def server_options(module: str) -> set[str]:
    """The command-line options ``python -m MODULE --help`` lists (cached)."""
    if module not in _OPTIONS:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        proc = subprocess.run(
            [sys.executable, "-m", module, "--help"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=120,
        )
        _OPTIONS[module] = {
            word.strip("[],").split("=")[0]
            for word in proc.stdout.split()
            if word.strip("[").startswith("--")
        }
    return _OPTIONS[module]


class ServerError(RuntimeError):
    """The server did not start (its stderr tail is in the text)."""


class TestServer:
    """Start the WS-Man test server in a subprocess and learn its endpoints.

    Args:
        hosts: simulated hosts (one port each).
        latency: per-request latency in seconds, simulated by the server.
        enum_items: instances of a big synthetic class to serve (0: none); needs
            the server option ``--bulk-class N`` (see ``benchmarks/README.md``).
        tls: serve HTTPS (certificates from trustme; the CA is written to a file).
        auth: schemes the server must accept; Basic is the server's default,
            others need its ``--auth`` option.
        prewarm: class names the server builds on every host before it is
            ready (its ``--prewarm`` option, used when the server has it).
        events: ``(backlog, rate)`` of every host's event log (the server's
            ``--event-backlog`` / ``--event-rate``), or None for its defaults.
        kind: ``"native"`` (the C responder) or ``"python"`` (``module``).
        module: the Python server module to run (``aiowsman.testing``).

    Raises:
        ServerError: (from :meth:`start`) the server lacks a needed option,
            exited, or did not become ready in time.
    """

    __test__ = False  # not a pytest class

    def __init__(
        self,
        *,
        hosts: int = 1,
        latency: float = 0.0,
        enum_items: int = 0,
        tls: bool = False,
        auth: tuple[str, ...] = ("basic",),
        prewarm: tuple[str, ...] = (),
        events: tuple[int, float] | None = None,
        kind: str = "python",
        module: str = "aiowsman.testing",
        start_timeout: float = 300.0,
    ) -> None:
        if kind not in SERVERS:
            raise ValueError(f"unknown server kind {kind!r} (one of {', '.join(SERVERS)})")
        self.kind = kind
        self.hosts = hosts
        self.latency = latency
        self.enum_items = enum_items
        self.tls = tls
        self.auth = auth
        self.prewarm = prewarm
        self.events = events
        self.module = module
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}
        self.last_words = ""
        self._tmp = tempfile.TemporaryDirectory(prefix="aiowsman-bench-")
        self._dir = Path(self._tmp.name)
        self._stderr = open(self._dir / "server.stderr", "w+")  # noqa: SIM115

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def endpoints(self) -> list[str]:
        return list(self.info["endpoints"])

    def command(self) -> list[str]:
        """The server's command line; ServerError if it lacks an option this needs."""
        if self.kind == "native":
            return self._native_command()
        options = server_options(self.module)
        cmd = [
            sys.executable,
            "-m",
            self.module,
            "--hosts",
            str(self.hosts),
            "--latency",
            str(self.latency),
            "--ready-file",
            str(self._dir / "ready.json"),
            "--users",
            f"{USERNAME}:{PASSWORD}",
        ]
        wanted: list[tuple[str, list[str]]] = []
        if self.enum_items:
            wanted.append(("--bulk-class", [str(self.enum_items)]))
        if self.tls:
            wanted.append(("--tls", []))
            wanted.append(("--ca-file", [str(self._dir / "ca.pem")]))
        for scheme in self.auth:
            if scheme != "basic":
                wanted.append(("--auth", [scheme]))
        if self.events is not None:
            wanted.append(("--event-backlog", [str(self.events[0])]))
            wanted.append(("--event-rate", [str(self.events[1])]))
        if self.prewarm and "--prewarm" in options:
            # Build these classes on every host before the server says ready,
            # so no measurement pays for a host's first-touch data generation.
            # (An older server without the option simply builds them lazily.)
            cmd += ["--prewarm", ",".join(self.prewarm)]
        missing = [opt for opt, _ in wanted if opt not in options]
        if missing:
            raise ServerError(f"python -m {self.module} has no option {', '.join(missing)}")
        for opt, values in wanted:
            cmd += [opt, *values]
        return cmd

    def _native_command(self) -> list[str]:
        if self.tls or set(self.auth) != {"basic"}:
            raise ServerError(
                "the native server speaks Basic over HTTP only (use --server python for "
                "TLS and NTLM)"
            )
        try:
            path = _native.binary()
        except _native.NativeBuildError as exc:
            raise ServerError(str(exc)) from exc
        # Every host at its own 127.x.y.z on one port: one listening socket
        # however many hosts (ports mode needs a descriptor per host).
        cmd = [
            str(path),
            "--hosts",
            str(self.hosts),
            "--latency",
            str(self.latency),
            "--address-mode",
            "addresses",
            "--ready-file",
            str(self._dir / "ready.json"),
            "--users",
            f"{USERNAME}:{PASSWORD}",
        ]
        if self.enum_items:
            cmd += ["--bulk-class", str(self.enum_items)]
        return cmd

    def start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        ready = self._dir / "ready.json"
        command = self.command()
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            cwd=ROOT,
            env=env,
        )
        # Drain stdout in the background so a chatty server never blocks on a pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"server exited ({self.proc.returncode}): {self._tail()}")
            if ready.exists():  # written atomically by the server
                self.info = json.loads(ready.read_text())
                if self.tls and not self.info.get("ca_file"):
                    self.info["ca_file"] = str(self._dir / "ca.pem")
                return
            time.sleep(0.1)
        self.stop()
        raise ServerError(f"server not ready after {self.start_timeout}s: {self._tail()}")

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for _ in self.proc.stdout:
            pass

    def _tail(self) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read()[-1500:]

    def target(self, **overrides: Any) -> Target:
        """A :class:`Target` describing this server for the workers."""
        info = self.info
        fields: dict[str, Any] = {
            "endpoints": self.endpoints,
            "username": USERNAME,
            "password": PASSWORD,
            "get_uri": GET_URI,
            "get_selectors": dict(GET_SELECTORS),
            "enum_uri": info.get("bulk_uri", "") if self.enum_items else FALLBACK_ENUM_URI,
            "enum_items": self.enum_items or FALLBACK_ENUM_ITEMS,
            "ca_file": info.get("ca_file"),
        }
        fields.update(overrides)
        return Target(**fields)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 30 s); its stderr tail is kept."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self._stderr.closed:
            #: what the server said last (the native one sums up its run when it stops)
            self.last_words = self._tail()
            self._stderr.close()
        self._tmp.cleanup()

    def __enter__(self) -> TestServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
