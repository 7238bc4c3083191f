"""The scenario grid: what a full run and a smoke run measure."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CONTENDERS", "FULL", "SMOKE", "Plan"]

#: contender name -> module under benchmarks.contenders
CONTENDERS: dict[str, str] = {
    "aiowsman": "aiowsman_client",
    "raw": "raw",
    "pypsrp": "pypsrp_peer",
}


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
    #: per-worker time limit, seconds
    worker_timeout: float = 900.0
    scenarios: tuple[str, ...] = (
        "single",
        "fanout",
        "enumerate",
        "encrypted",
        "events",
        "subscriptions",
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
    worker_timeout=60.0,
)
