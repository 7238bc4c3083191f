"""The scenario grid: what a full run and a smoke run measure."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CONTENDERS", "FULL", "SCENARIOS", "SCENARIO_CONTENDERS", "SMOKE", "Plan"]

#: contender name -> module under benchmarks.contenders. The module gets the
#: contender name too (``params["contender"]``): the three aiowsman contenders
#: are three ways of using the library.
CONTENDERS: dict[str, str] = {
    # the runner: aiowsman.fanout.run (as the CLI runs it); AsyncSession for one host
    "aiowsman": "aiowsman_client",
    # one `async with AsyncSession(host)` per host under an asyncio.Semaphore:
    # the code an async service embedding the library writes first
    "aiowsman-sessions": "aiowsman_client",
    # the runner on every core: fanout.run(..., processes=N)
    "aiowsman-mp": "aiowsman_client",
    "raw": "raw",
    "pypsrp": "pypsrp_peer",
    "pywinrm": "pywinrm_peer",
}
SCENARIOS = (
    "single",
    "fanout",
    "multicore",
    "enumerate",
    "encrypted",
    "events",
    "subscriptions",
    "commands",
    "command_fanout",
    "command_stream",
    "psrp_commands",
    "psrp_objects",
    "psrp_fanout",
)

#: Who takes part in which scenario (``--contenders`` narrows it further).
SCENARIO_CONTENDERS: dict[str, tuple[str, ...]] = {
    "single": ("aiowsman", "raw", "pypsrp"),
    "fanout": ("aiowsman", "aiowsman-sessions", "raw", "pypsrp"),
    # the multi-core runner against the single-process floor and runner
    "multicore": ("aiowsman-mp", "aiowsman", "raw"),
    "enumerate": ("aiowsman", "raw", "pypsrp"),
    "encrypted": ("aiowsman", "raw", "pypsrp"),
    # Only aiowsman subscribes to events (pypsrp and pywinrm have no
    # WS-Eventing; the raw floor would need a subscription state machine).
    "events": ("aiowsman",),
    "subscriptions": ("aiowsman",),
    # Remote commands (WinRS): pywinrm takes part here only (no Get/Enumerate).
    "commands": ("aiowsman", "raw", "pypsrp", "pywinrm"),
    "command_fanout": ("aiowsman", "raw", "pypsrp", "pywinrm"),
    "command_stream": ("aiowsman", "raw", "pypsrp", "pywinrm"),
    # PowerShell remoting: aiowsman.psrp against pypsrp's RunspacePool/PowerShell
    # (pywinrm has no PSRP; the raw floor would need a PSRP implementation).
    "psrp_commands": ("aiowsman", "pypsrp"),
    "psrp_objects": ("aiowsman", "pypsrp"),
    "psrp_fanout": ("aiowsman", "pypsrp"),
}


@dataclass(frozen=True)
class Plan:
    """One run's grid. Every case is measured ``reps`` times, contenders alternating."""

    name: str
    reps: int
    #: single host, sequential: operations and how many of each per measurement
    single_ops: tuple[str, ...] = ("identify", "get")
    single_count: int = 3000
    #: fan-out: host counts x concurrency levels, plus extra (hosts, concurrency)
    #: cases, and the per-request latency (s)
    fanout_hosts: tuple[int, ...] = (1000, 5000)
    fanout_concurrency: tuple[int, ...] = (100, 500, 2000)
    fanout_extra: tuple[tuple[int, int], ...] = ((2000, 200),)
    fanout_latency: float = 0.05
    #: multi-core fan-out: (hosts, concurrency) cases; worker processes of the
    #: aiowsman-mp contender (0: "auto", one per usable CPU)
    multicore_cases: tuple[tuple[int, int], ...] = ((20_000, 2000), (20_000, 500))
    multicore_processes: int = 0
    #: enumerate: instance counts and BatchItems (MaxElements)
    enum_items: tuple[int, ...] = (20_000, 200_000)
    enum_batch: tuple[int, ...] = (100, 1000)
    #: encrypted: operations per measurement, and the transports compared
    encrypted_count: int = 1000
    encrypted_modes: tuple[str, ...] = ("basic-http", "basic-https", "ntlm-http-encrypted")
    #: events (aiowsman only: no other contender subscribes): one host's
    #: backlog read through one subscription, then many hosts' backlogs
    #: through one collected stream; BatchItems of each Pull
    events_single: int = 100_000
    events_hosts: tuple[int, ...] = (1000,)
    events_per_host: int = 100
    events_batch: tuple[int, ...] = (100, 1000)
    #: subscriptions: idle subscriptions held at once (memory per subscription)
    subscription_hosts: tuple[int, ...] = (1000,)
    #: remote commands: sequential cycles (a shell per command) / commands in one shell
    command_count: int = 300
    command_modes: tuple[str, ...] = ("cycle", "reused")
    #: "run hostname on N hosts": host counts, concurrency, latency per request (s)
    command_fanout_hosts: tuple[int, ...] = (500,)
    command_fanout_concurrency: tuple[int, ...] = (100,)
    command_fanout_latency: float = 0.05
    #: stream one command's output of these sizes (bytes): is memory flat?
    command_stream_bytes: tuple[int, ...] = (10 * 2**20, 100 * 2**20)
    #: PowerShell remoting: sequential pipelines in one runspace pool per measurement
    psrp_count: int = 300
    #: objects one pipeline writes (``aiowsman-objects N``), per measurement
    psrp_objects: tuple[int, ...] = (10_000,)
    #: "Invoke-Command on N hosts": host counts, concurrency, latency per request (s)
    psrp_fanout_hosts: tuple[int, ...] = (200,)
    psrp_fanout_concurrency: tuple[int, ...] = (50,)
    psrp_fanout_latency: float = 0.05
    #: per-worker time limit, seconds
    worker_timeout: float = 900.0
    scenarios: tuple[str, ...] = SCENARIOS
    #: the WS-Man server: "native" (the C responder) or "python" (aiowsman.testing)
    server: str = "native"

    def fanout_cases(self) -> list[tuple[int, int]]:
        """(hosts, concurrency) of every fan-out case, in measuring order."""
        cases = [(h, c) for h in self.fanout_hosts for c in self.fanout_concurrency]
        return cases + [case for case in self.fanout_extra if case not in cases]


FULL = Plan(name="full", reps=3)

#: A tiny grid for CI: proves every scenario and contender runs end to end.
#: It asserts nothing about speed.
SMOKE = Plan(
    name="smoke",
    reps=1,
    single_count=50,
    fanout_hosts=(40,),
    fanout_concurrency=(10,),
    fanout_extra=(),
    multicore_cases=((60, 10),),
    enum_items=(500,),
    enum_batch=(100,),
    encrypted_count=20,
    events_single=500,
    events_hosts=(10,),
    events_per_host=20,
    events_batch=(100,),
    subscription_hosts=(10,),
    command_count=10,
    command_fanout_hosts=(20,),
    command_fanout_concurrency=(10,),
    command_stream_bytes=(256 * 2**10, 2560 * 2**10),
    psrp_count=10,
    psrp_objects=(200,),
    psrp_fanout_hosts=(6,),
    psrp_fanout_concurrency=(3,),
    worker_timeout=60.0,
)
