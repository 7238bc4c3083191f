"""aiowsman itself: ``AsyncSession`` for one host; for many, three ways a user writes it.

Written against the public API only (``docs/api.md``, ``docs/internals.md``):
what a user would write. Basic over plain HTTP needs the explicit opt-in
``allow_unencrypted=True`` (WinRM's own AllowUnencrypted), which the other
contenders get for free.

PowerShell remoting (``psrp_*``) is ``session.runspace_pool()`` and
``fanout.invoke_command``.

The fan-out comes in three contenders (``params["contender"]``):

* ``aiowsman``: the runner, ``aiowsman.fanout.run``, as the CLI runs it.
* ``aiowsman-sessions``: one ``async with AsyncSession(host)`` per host under
  an ``asyncio.Semaphore``, all hosts gathered at once -- the shape of the raw
  floor's loop, and the code an async service embedding the library writes.
* ``aiowsman-mp``: the runner on every core, ``fanout.run(..., processes=N)``;
  its worker processes start inside the timed part (a user pays for them too).
"""

from __future__ import annotations

import asyncio
import importlib
from dataclasses import dataclass
from typing import Any

import aiowsman
from aiowsman import fanout

try:
    from aiowsman import ResourceLocator
except ImportError:  # not re-exported (yet): take it from where it lives
    from aiowsman.protocol.locator import ResourceLocator
from benchmarks._common import Target
from benchmarks.contenders import AsyncWorkload, check_count


def _session_options(target: Target) -> dict[str, Any]:
    options: dict[str, Any] = {
        "username": target.username,
        "password": target.password,
        "auth": target.auth,
    }
    if target.auth == "basic" and not target.endpoints[0].startswith("https"):
        options["allow_unencrypted"] = True
    if target.auth != "basic" and not target.encrypt:
        options["allow_unencrypted"] = True
    if target.ca_file:
        options["verify"] = target.ca_file
    return options


@dataclass(frozen=True)
class IdentifyAndGet:
    """The fan-out operation: Identify, then Get one instance. Picklable, for worker processes."""

    locator: Any

    async def __call__(self, session: Any) -> None:
        await session.identify()
        await session.get(self.locator)


class _Aiowsman(AsyncWorkload):
    def __init__(self, scenario: str, target: Target, params: dict[str, Any]) -> None:
        super().__init__()
        self.scenario = scenario
        self.target = target
        self.params = params
        self.variant = str(params.get("contender", "aiowsman"))
        #: read by the benchmark worker: sample the RSS of the whole process tree
        self.spawns_processes = scenario == "fanout" and self.variant == "aiowsman-mp"
        self.options = _session_options(target)
        self.locator = ResourceLocator(target.get_uri, dict(target.get_selectors))
        self.session: Any = None
        self.pool: Any = None

    async def asetup(self) -> None:
        self.session = aiowsman.AsyncSession(self.target.endpoints[0], **self.options)
        await self.session.__aenter__()
        for _ in range(20 if self.scenario == "single" else 2):
            await self.session.identify()
            await self.session.get(self.locator)
        if self.scenario.startswith("command"):
            await self.session.run_cmd("hostname")
        if self.scenario == "psrp_fanout":
            # Imported outside the timed part, as the peer's modules are.
            importlib.import_module("aiowsman.psrp")
        if self.scenario in ("psrp_commands", "psrp_objects"):
            # One pool per worker, opened and warmed outside the timed part.
            self.pool = await self.session.runspace_pool().open()
            _check_output(await self.pool.powershell().add_script("1").invoke(), [1])

    async def arun(self) -> dict[str, Any]:
        if self.scenario == "single":
            session = self.session
            count = int(self.params["count"])
            if self.params["op"] == "identify":
                for _ in range(count):
                    await session.identify()
            else:
                locator = self.locator
                for _ in range(count):
                    await session.get(locator)
            return {"ops": count, "errors": 0}
        if self.scenario == "enumerate":
            self.session.batch_items = int(self.params["batch"])
            repeat = int(self.params.get("repeat", 1))
            count = 0
            for _ in range(repeat):
                async for _item in self.session.enumerate(self.target.enum_uri):
                    count += 1
            check_count("aiowsman enumerate", count, self.target.enum_items * repeat)
            return {"items": count, "ops": 1, "errors": 0}
        if self.scenario == "fanout":
            return await self._fanout()
        if self.scenario == "events":
            return await self._events()
        if self.scenario == "subscriptions":
            return await self._subscriptions()
        if self.scenario == "commands":
            return await self._commands()
        if self.scenario == "command_fanout":
            return await self._command_fanout()
        if self.scenario == "command_stream":
            return await self._command_stream()
        if self.scenario == "psrp_commands":
            return await self._psrp_commands()
        if self.scenario == "psrp_objects":
            return await self._psrp_objects()
        if self.scenario == "psrp_fanout":
            return await self._psrp_fanout()
        raise ValueError(f"aiowsman: unknown scenario {self.scenario}")

    async def _psrp_commands(self) -> dict[str, Any]:
        """Pipelines one after another in one runspace pool (each: Command,
        Receive, and the Terminate aiowsman sends when a pipeline ends)."""
        count = int(self.params["count"])
        pool = self.pool
        for _ in range(count):
            _check_output(await pool.powershell().add_script("1").invoke(), [1])
        return {"commands": count, "ops": 3 * count, "errors": 0}

    async def _psrp_objects(self) -> dict[str, Any]:
        """One pipeline writing N objects, read to the end (deserialized)."""
        count = int(self.params["objects"])
        objects = await self.pool.powershell().add_script(f"aiowsman-objects {count}").invoke()
        check_count("aiowsman psrp objects", len(objects), count)
        _check_output([objects[-1].Index], [count - 1])
        return {"objects": len(objects), "ops": 1, "errors": 0}

    async def _psrp_fanout(self) -> dict[str, Any]:
        """Invoke-Command on N hosts: the runner, a pool per host for one script."""
        hosts = self.target.endpoints[: int(self.params["hosts"])]
        ok = errors = 0
        sample = ""
        async with fanout.invoke_command(
            hosts,
            "hostname",
            concurrency=int(self.params["concurrency"]),
            retries=0,
            deadline=120.0,
            gc_threshold=10_000,
            **self.options,
        ) as results:
            async for result in results:
                if result.ok and str(result.value.output[0]).startswith("HOST"):
                    ok += 1
                else:
                    errors += 1
                    if not sample:
                        sample = f"{result.host}: {result.error or result.value!r}"
        return {"hosts": ok, "ops": 6 * ok, "errors": errors, "error_sample": sample}

    async def _events(self) -> dict[str, Any]:
        """Read ``events`` events: the backlog of one host through one
        subscription, or of many hosts through one collected stream."""
        hosts = self.target.endpoints[: int(self.params["hosts"])]
        expected = int(self.params["events"])
        batch = int(self.params["batch"])
        count = 0
        if len(hosts) == 1:
            async with self.session.subscribe(
                query="*", channel="System", read_existing=True, batch_items=batch
            ) as sub:
                async for _event in sub:
                    count += 1
                    if count == expected:
                        break
                pulls = sub.pulls
        else:
            async with aiowsman.collect_events(
                hosts,
                query="*",
                channel="System",
                read_existing=True,
                batch_items=batch,
                **self.options,
            ) as stream:
                async for _event in stream:
                    count += 1
                    if count == expected:
                        break
            pulls = 0
        check_count("aiowsman events", count, expected)
        return {"events": count, "ops": pulls, "errors": 0}

    async def _subscriptions(self) -> dict[str, Any]:
        """Hold one idle subscription per host (a Pull waiting on each): what
        memory a subscription costs, sampled at its peak from outside."""
        hosts = self.target.endpoints[: int(self.params["hosts"])]
        hold = float(self.params.get("hold", 1.0))
        async with aiowsman.collect_events(
            hosts, query="*", channel="System", max_time=30.0, **self.options
        ) as stream:
            waiter = asyncio.ensure_future(anext(stream, None))
            while sum(s.state == "subscribed" for s in stream.status.values()) < len(hosts):
                if waiter.done():
                    break  # an event or the end: the host list is not idle
                await asyncio.sleep(0.05)
            await asyncio.sleep(hold)  # every Pull is now waiting on its host
            subscribed = sum(s.state == "subscribed" for s in stream.status.values())
            failed = [(h, s.last_error) for h, s in stream.status.items() if s.state == "failed"]
            waiter.cancel()
        sample = f"{failed[0][0]}: {failed[0][1]!r}" if failed else ""
        return {
            "subscriptions": subscribed,
            "ops": subscribed,
            "errors": len(hosts) - subscribed,
            "error_sample": sample,
        }

    async def _commands(self) -> dict[str, Any]:
        count = int(self.params["count"])
        session = self.session
        if self.params["mode"] == "cycle":
            for _ in range(count):
                result = await session.run_cmd("hostname")
                _check(result)
            return {"commands": count, "ops": 5 * count, "errors": 0}
        async with session.shell() as shell:
            for _ in range(count):
                _check(await shell.run("hostname"))
        return {"commands": count, "ops": 3 * count, "errors": 0}

    async def _command_fanout(self) -> dict[str, Any]:
        hosts = self.target.endpoints[: int(self.params["hosts"])]
        ok = errors = 0
        sample = ""
        async with fanout.run_commands(
            hosts,
            "hostname",
            concurrency=int(self.params["concurrency"]),
            retries=0,
            deadline=120.0,
            gc_threshold=10_000,
            **self.options,
        ) as results:
            async for result in results:
                if result.ok and result.value.exit_code == 0:
                    ok += 1
                else:
                    errors += 1
                    if not sample:
                        sample = f"{result.host}: {result.error or result.value!r}"
        return {"hosts": ok, "ops": 5 * ok, "errors": errors, "error_sample": sample}

    async def _command_stream(self) -> dict[str, Any]:
        total = int(self.params["bytes"])
        received = 0
        async with self.session.shell() as shell:
            process = await shell.start("aiowsman-bytes", str(total))
            async for chunk in process.stdout:
                received += len(chunk)
            await process.wait()
        check_count("aiowsman stream", received, total)
        return {"bytes": received, "ops": 1, "errors": 0}

    async def _fanout(self) -> dict[str, Any]:
        if self.variant == "aiowsman-sessions":
            return await self._sessions()
        hosts = self.target.endpoints[: int(self.params["hosts"])]
        processes = self.params.get("processes", "auto") if self.variant == "aiowsman-mp" else None
        ok = 0
        errors = 0
        sample = ""
        # No retries: the other contenders do not retry either.
        async with fanout.run(
            hosts,
            IdentifyAndGet(self.locator),
            concurrency=int(self.params["concurrency"]),
            retries=0,
            deadline=120.0,
            # As the aiowsman CLI runs it: the runner raises the collector's
            # first threshold for the run (fanout.run's gc_threshold).
            gc_threshold=10_000,
            processes=processes,
            **self.options,
        ) as results:
            async for result in results:
                if result.ok:
                    ok += 1
                else:
                    errors += 1
                    if not sample:
                        sample = f"{result.host}: {result.error!r}"
        return {"hosts": ok, "ops": 2 * ok, "errors": errors, "error_sample": sample}

    async def _sessions(self) -> dict[str, Any]:
        """One ``async with AsyncSession(host)`` per host under a semaphore, as raw's loop."""
        hosts = self.target.endpoints[: int(self.params["hosts"])]
        sem = asyncio.Semaphore(int(self.params["concurrency"]))
        locator = self.locator
        options = self.options
        errors: list[str] = []
        ok = 0

        async def one(url: str) -> None:
            nonlocal ok
            async with sem:
                try:
                    async with aiowsman.AsyncSession(url, **options) as session:
                        await session.identify()
                        await session.get(locator)
                    ok += 1
                except Exception as exc:
                    errors.append(f"{url}: {exc!r}")

        await asyncio.gather(*(one(url) for url in hosts))
        return {
            "hosts": ok,
            "ops": 2 * ok,
            "errors": len(errors),
            "error_sample": errors[0] if errors else "",
        }

    async def aclose(self) -> None:
        if self.pool is not None:
            await self.pool.aclose()
        if self.session is not None:
            await self.session.__aexit__(None, None, None)


def _check_output(output: list[Any], expected: list[Any]) -> None:
    if list(output) != expected:
        raise RuntimeError(f"PowerShell gave {output!r}, not {expected!r}")


def _check(result: Any) -> None:
    if result.exit_code != 0 or not result.stdout.startswith(b"HOST"):
        raise RuntimeError(f"hostname gave {result!r}")


def create(scenario: str, target: Target, params: dict[str, Any]) -> _Aiowsman:
    return _Aiowsman(scenario, target, params)
