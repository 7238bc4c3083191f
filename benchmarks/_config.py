"""The scenario grid: what a full run and a smoke run measure."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["COMMAND_SCENARIOS", "CONTENDERS", "FULL", "ONLY", "SMOKE", "Plan", "takes_part"]

#: contender name -> module under benchmarks.contenders
CONTENDERS: dict[str, str] = {
    "aiowsman": "aiowsman_client",
    "raw": "raw",
    "pypsrp": "pypsrp_peer",
    "pywinrm": "pywinrm_peer",
}
#: The remote-command (WinRS) scenarios.
COMMAND_SCENARIOS: tuple[str, ...] = ("commands", "command_fanout", "command_stream")
#: Contenders that take part in some scenarios only (pywinrm has no Get/Enumerate).
ONLY: dict[str, tuple[str, ...]] = {"pywinrm": COMMAND_SCENARIOS}


def takes_part(contender: str, scenario: str) -> bool:
    """Whether ``contender`` is measured in ``scenario``."""
    return scenario in ONLY.get(contender, (scenario,))


@dataclass(frozen=True)
class Plan:
    """One run's grid. Every case is measured ``reps`` times, contenders alternating."""

    name: str
    reps: int
    #: single host, sequential: operations and how many of each per measurement
    single_ops: tuple[str, ...] = ("identify", "get")
    single_count: int = 3000
    #: fan-out: host counts, concurrency levels, per-request latency (s)
    fanout_hosts: tuple[int, ...] = (1000, 5000)
    fanout_concurrency: tuple[int, ...] = (100, 500, 2000)
    fanout_latency: float = 0.05
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
    #: per-worker time limit, seconds
    worker_timeout: float = 900.0
    scenarios: tuple[str, ...] = (
        "single",
        "fanout",
        "enumerate",
        "encrypted",
        "events",
        "subscriptions",
        "commands",
        "command_fanout",
        "command_stream",
    )


FULL = Plan(name="full", reps=3)

#: A tiny grid for CI: proves every scenario and contender runs end to end.
#: It asserts nothing about speed.
SMOKE = Plan(
    name="smoke",
    reps=1,
    single_count=50,
    fanout_hosts=(40,),
    fanout_concurrency=(10,),
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
    worker_timeout=60.0,
)
