"""The peer: pypsrp's WS-Man layer (``pypsrp.wsman.WSMan``), synchronous, on requests.

Used through its public ``WSMan.get`` / ``enumerate`` / ``pull`` calls (and,
for PowerShell remoting, its ``RunspacePool``/``PowerShell``), with a
``ThreadPoolExecutor`` for fan-out, as a pypsrp user would. pypsrp has no
Identify call, so Identify goes through the same ``WSMan`` object's HTTP
transport (``wsman.transport.send``) with a fixed Identify envelope, and the
answer is parsed with ElementTree as pypsrp does for everything else.
Nothing of pypsrp's is copied here; it is installed from PyPI (``bench`` extra).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from pypsrp.client import Client
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.shell import Process, SignalCode, WinRS
from pypsrp.wsman import SelectorSet, WSMan

from benchmarks._common import Target, split_endpoint
from benchmarks.contenders import check_count, thread_hosts

ENUM = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
WSMAN_NS = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
WSMID = "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"
SOAP = "http://www.w3.org/2003/05/soap-envelope"

IDENTIFY_BODY = (
    f'<s:Envelope xmlns:s="{SOAP}" xmlns:wsmid="{WSMID}">'
    "<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>"
).encode()


class _Pypsrp:
    def __init__(self, scenario: str, target: Target, params: dict[str, Any]) -> None:
        self.scenario = scenario
        self.target = target
        self.params = params
        self.wsman: WSMan | None = None
        self.client: Any = None
        self.pool: Any = None

    def _connect(self, endpoint: str) -> WSMan:
        host, port, path, tls = split_endpoint(endpoint)
        kwargs: dict[str, Any] = {}
        if tls:
            kwargs["cert_validation"] = self.target.ca_file or True
        if self.target.auth == "basic":
            auth, encryption = "basic", "never"
        else:
            auth = self.target.auth
            encryption = "always" if self.target.encrypt else "never"
        return WSMan(
            host,
            port=port,
            path=path,
            username=self.target.username,
            password=self.target.password,
            ssl=tls,
            auth=auth,
            encryption=encryption,
            no_proxy=True,
            operation_timeout=60,
            read_timeout=120,
            **kwargs,
        )

    def _selectors(self) -> SelectorSet | None:
        if not self.target.get_selectors:
            return None
        sel = SelectorSet()
        for name, value in self.target.get_selectors.items():
            sel.add_option(name, value)
        return sel

    @staticmethod
    def identify(wsman: WSMan) -> None:
        root = ET.fromstring(wsman.transport.send(IDENTIFY_BODY))
        if root.find(f"{{{SOAP}}}Body/{{{WSMID}}}IdentifyResponse") is None:
            raise RuntimeError("not an IdentifyResponse")

    def get(self, wsman: WSMan) -> None:
        body = wsman.get(self.target.get_uri, selector_set=self._selectors())
        if len(body) == 0 or len(body[0]) == 0:
            raise RuntimeError("empty Get response")

    def enumerate(self, wsman: WSMan, batch: int) -> int:
        uri = self.target.enum_uri
        req = ET.Element(f"{{{ENUM}}}Enumerate")
        ET.SubElement(req, f"{{{WSMAN_NS}}}OptimizeEnumeration")
        ET.SubElement(req, f"{{{WSMAN_NS}}}MaxElements").text = str(batch)
        body = wsman.enumerate(uri, resource=req)
        response = body.find(f"{{{ENUM}}}EnumerateResponse")
        count = 0
        while response is not None:
            items = response.find(f"{{{WSMAN_NS}}}Items")
            if items is None:
                items = response.find(f"{{{ENUM}}}Items")
            if items is not None:
                count += len(items)
            ctx = response.find(f"{{{ENUM}}}EnumerationContext")
            done = (
                response.find(f"{{{WSMAN_NS}}}EndOfSequence") is not None
                or response.find(f"{{{ENUM}}}EndOfSequence") is not None
            )
            if done or ctx is None or not ctx.text:
                break
            pull = ET.Element(f"{{{ENUM}}}Pull")
            ET.SubElement(pull, f"{{{ENUM}}}EnumerationContext").text = ctx.text
            ET.SubElement(pull, f"{{{ENUM}}}MaxElements").text = str(batch)
            body = wsman.pull(uri, resource=pull)
            response = body.find(f"{{{ENUM}}}PullResponse")
        return count

    def _client(self, endpoint: str) -> Client:
        host, port, path, tls = split_endpoint(endpoint)
        return Client(
            host,
            port=port,
            path=path,
            username=self.target.username,
            password=self.target.password,
            ssl=tls,
            auth="basic",
            encryption="never",
            no_proxy=True,
        )

    def setup(self) -> None:
        self.wsman = self._connect(self.target.endpoints[0])
        for _ in range(20 if self.scenario == "single" else 2):
            self.identify(self.wsman)
            self.get(self.wsman)
        if self.scenario.startswith("command"):
            self.client = self._client(self.target.endpoints[0])
            _check(*self.client.execute_cmd("hostname"))
        if self.scenario in ("psrp_commands", "psrp_objects"):
            self.pool = RunspacePool(self.wsman)
            self.pool.open()
            _check_output(_invoke(self.pool, "1"), [1])

    def run(self) -> dict[str, Any]:
        assert self.wsman is not None
        if self.scenario == "single":
            count = int(self.params["count"])
            if self.params["op"] == "identify":
                for _ in range(count):
                    self.identify(self.wsman)
            else:
                for _ in range(count):
                    self.get(self.wsman)
            return {"ops": count, "errors": 0}
        if self.scenario == "enumerate":
            repeat = int(self.params.get("repeat", 1))
            count = 0
            for _ in range(repeat):
                count += self.enumerate(self.wsman, int(self.params["batch"]))
            check_count("pypsrp enumerate", count, self.target.enum_items * repeat)
            return {"items": count, "ops": 1, "errors": 0}
        if self.scenario == "fanout":
            return self._fanout()
        if self.scenario == "commands":
            return self._commands()
        if self.scenario == "command_fanout":
            return self._command_fanout()
        if self.scenario == "command_stream":
            return self._command_stream()
        if self.scenario == "psrp_commands":
            return self._psrp_commands()
        if self.scenario == "psrp_objects":
            return self._psrp_objects()
        if self.scenario == "psrp_fanout":
            return self._psrp_fanout()
        raise ValueError(f"pypsrp: unknown scenario {self.scenario}")

    def _psrp_commands(self) -> dict[str, Any]:
        """Pipelines one after another in one RunspacePool, as a pypsrp user
        writes them (``PowerShell(pool).invoke()``: Command and Receive; pypsrp
        sends no Terminate unless ``close()`` is called)."""
        count = int(self.params["count"])
        for _ in range(count):
            _check_output(_invoke(self.pool, "1"), [1])
        return {"commands": count, "ops": 2 * count, "errors": 0}

    def _psrp_objects(self) -> dict[str, Any]:
        count = int(self.params["objects"])
        objects = _invoke(self.pool, f"aiowsman-objects {count}")
        check_count("pypsrp psrp objects", len(objects), count)
        _check_output([objects[-1].extended_properties["Index"]], [count - 1])
        return {"objects": len(objects), "ops": 1, "errors": 0}

    def _psrp_fanout(self) -> dict[str, Any]:
        hosts = self.target.endpoints[: int(self.params["hosts"])]

        def one(url: str) -> None:
            with self._connect(url) as wsman, RunspacePool(wsman) as pool:
                (name,) = _invoke(pool, "hostname")
                if not str(name).startswith("HOST"):
                    raise RuntimeError(f"hostname gave {name!r}")

        return thread_hosts(hosts, int(self.params["concurrency"]), one, ops_per_host=5)

    def _commands(self) -> dict[str, Any]:
        count = int(self.params["count"])
        if self.params["mode"] == "cycle":
            # Client.execute_cmd: a WinRS shell per call (create, command,
            # receive, signal, delete), as pypsrp users run a command.
            for _ in range(count):
                _check(*self.client.execute_cmd("hostname"))
            return {"commands": count, "ops": 5 * count, "errors": 0}
        assert self.wsman is not None
        with WinRS(self.wsman) as shell:
            for _ in range(count):
                process = Process(shell, "hostname")
                process.invoke()
                process.signal(SignalCode.TERMINATE)
                _check(process.stdout.decode(), "", process.rc or 0)
        return {"commands": count, "ops": 3 * count, "errors": 0}

    def _command_fanout(self) -> dict[str, Any]:
        hosts = self.target.endpoints[: int(self.params["hosts"])]

        def one(url: str) -> None:
            _check(*self._client(url).execute_cmd("hostname"))

        return thread_hosts(hosts, int(self.params["concurrency"]), one, ops_per_host=5)

    def _command_stream(self) -> dict[str, Any]:
        total = int(self.params["bytes"])
        assert self.wsman is not None
        with WinRS(self.wsman) as shell:
            process = Process(shell, f"aiowsman-bytes {total}")
            process.invoke()  # pypsrp keeps the whole output in memory
            process.signal(SignalCode.TERMINATE)
        check_count("pypsrp stream", len(process.stdout), total)
        return {"bytes": len(process.stdout), "ops": 1, "errors": 0}

    def _fanout(self) -> dict[str, Any]:
        hosts = self.target.endpoints[: int(self.params["hosts"])]

        def one(url: str) -> None:
            wsman = self._connect(url)
            try:
                self.identify(wsman)
                self.get(wsman)
            finally:
                wsman.close()

        return thread_hosts(hosts, int(self.params["concurrency"]), one, ops_per_host=2)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        if self.wsman is not None:
            self.wsman.close()


def _invoke(pool: Any, script: str) -> list[Any]:
    ps = PowerShell(pool)
    ps.add_script(script)
    return list(ps.invoke())


def _check_output(output: list[Any], expected: list[Any]) -> None:
    if list(output) != expected:
        raise RuntimeError(f"PowerShell gave {output!r}, not {expected!r}")


def _check(stdout: str, stderr: str, rc: int) -> None:
    if rc != 0 or not stdout.startswith("HOST"):
        raise RuntimeError(f"hostname gave {rc} {stdout!r} {stderr!r}")


def create(scenario: str, target: Target, params: dict[str, Any]) -> _Pypsrp:
    return _Pypsrp(scenario, target, params)
