"""The CLI verbs as picklable operations for the fan-out runner.

Each verb is a small frozen dataclass with ``async __call__(session)``, so the
same object runs in-process and, pickled, on Dask workers (``--dask``).
Values returned are :class:`~aiowsman.protocol.items.Item` objects (picklable
via their XML), lists of them, or plain data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiowsman.protocol.locator import ResourceLocator
from aiowsman.session import AsyncSession

__all__ = [
    "CreateOp",
    "DeleteOp",
    "EnumerateOp",
    "GetOp",
    "IdentifyOp",
    "InvokeOp",
    "PutOp",
]


def _locator(resource: str, selectors: Mapping[str, str]) -> ResourceLocator:
    return ResourceLocator(resource, selectors=dict(selectors))


@dataclass(frozen=True)
class IdentifyOp:
    """``identify``: the service's protocol version, vendor and product version."""

    idempotent = True

    async def __call__(self, session: AsyncSession) -> Any:
        return await session.identify()


@dataclass(frozen=True)
class GetOp:
    """``get RESOURCE``: one instance."""

    resource: str
    selectors: Mapping[str, str] = field(default_factory=dict)
    idempotent = True

    async def __call__(self, session: AsyncSession) -> Any:
        return await session.get(_locator(self.resource, self.selectors))


@dataclass(frozen=True)
class PutOp:
    """``set``/``put RESOURCE @{k=v}``: update the given properties."""

    resource: str
    values: Mapping[str, str]
    selectors: Mapping[str, str] = field(default_factory=dict)
    idempotent = True  # a Put of the same values twice ends in the same state

    async def __call__(self, session: AsyncSession) -> Any:
        return await session.put(_locator(self.resource, self.selectors), dict(self.values))


@dataclass(frozen=True)
class CreateOp:
    """``create RESOURCE @{k=v}``: a new instance; returns its reference."""

    resource: str
    values: Mapping[str, str]
    selectors: Mapping[str, str] = field(default_factory=dict)
    idempotent = False

    async def __call__(self, session: AsyncSession) -> Any:
        return await session.create(_locator(self.resource, self.selectors), dict(self.values))


@dataclass(frozen=True)
class DeleteOp:
    """``delete RESOURCE``."""

    resource: str
    selectors: Mapping[str, str] = field(default_factory=dict)
    idempotent = False  # a second Delete faults (the instance is gone)

    async def __call__(self, session: AsyncSession) -> Any:
        await session.delete(_locator(self.resource, self.selectors))
        return {"deleted": True}


@dataclass(frozen=True)
class InvokeOp:
    """``invoke METHOD RESOURCE @{k=v}``: the method's output instance."""

    method: str
    resource: str
    values: Mapping[str, str] = field(default_factory=dict)
    selectors: Mapping[str, str] = field(default_factory=dict)
    idempotent = False

    async def __call__(self, session: AsyncSession) -> Any:
        return await session.invoke(
            self.method, _locator(self.resource, self.selectors), dict(self.values)
        )


@dataclass(frozen=True)
class EnumerateOp:
    """``enumerate RESOURCE [--filter F --dialect D]``: every instance (or their count)."""

    resource: str
    selectors: Mapping[str, str] = field(default_factory=dict)
    filter: str | Mapping[str, str] | None = None
    dialect: str | None = None
    count_only: bool = False
    idempotent = True

    async def __call__(self, session: AsyncSession) -> Any:
        enumerator = session.enumerate(
            _locator(self.resource, self.selectors), filter=self.filter, dialect=self.dialect
        )
        if self.count_only:
            count = 0
            async for _ in enumerator:
                count += 1
            return {"count": count}
        # to_list() is bounded (a service that never ends cannot grow one
        # host's result without limit in a fan-out) and releases on failure.
        return await enumerator.to_list()
