"""Walk everything reachable from an object, looking for secrets.

Used by the credential tests: from an exception a caller catches, follow its
``args``, ``__dict__``, ``__cause__``, ``__context__``, ``__notes__``, every
attribute and container element (``gc.get_referents`` plus explicit walks of
mappings, whose C implementations may not report their contents to the
garbage collector), and report every string or bytes object that contains a
secret. Tracebacks and frames are not followed (their locals are the
program's own state, not something the error hands out), nor are modules,
classes, code objects and module globals (reachable from any function).
"""

from __future__ import annotations

import gc
import sys
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: Bound on the objects visited from one root: an error that drags in the
#: event loop (and so every object of the process) fails loudly instead.
MAX_OBJECTS = 200_000

_SKIPPED = (
    types.FrameType,
    types.TracebackType,
    types.CodeType,
    types.ModuleType,
    type,
)


@dataclass(frozen=True)
class Finding:
    """A secret found at ``path`` (attribute names / keys from the root)."""

    path: str
    secret: str
    text: str


def _module_dicts() -> set[int]:
    ids = {id(vars(m)) for m in list(sys.modules.values()) if m is not None}
    ids.add(id(__builtins__) if isinstance(__builtins__, dict) else id(vars(__builtins__)))
    return ids


def _children(obj: object) -> Iterable[tuple[str, object]]:
    if isinstance(obj, BaseException):
        yield ".args", obj.args
        yield ".__cause__", obj.__cause__
        yield ".__context__", obj.__context__
        notes = getattr(obj, "__notes__", None)
        if notes is not None:
            yield ".__notes__", notes
    if isinstance(obj, Mapping) and not isinstance(obj, type):
        try:
            items = list(obj.items())
        except Exception:  # a mapping that cannot be iterated: fall back to gc
            items = []
        for key, value in items:
            yield f"[{key!r}]", value
            yield "<key>", key
    if isinstance(obj, (list, tuple, set, frozenset)):
        for i, value in enumerate(obj):
            yield f"[{i}]", value
    state = getattr(obj, "__dict__", None)
    if isinstance(state, dict):
        for key, value in state.items():
            yield f".{key}", value
    for cls in type(obj).__mro__:
        for slot in getattr(cls, "__slots__", ()) if isinstance(cls, type) else ():
            if isinstance(slot, str) and slot not in ("__dict__", "__weakref__"):
                try:
                    yield f".{slot}", object.__getattribute__(obj, slot)
                except AttributeError:
                    pass
    for ref in gc.get_referents(obj):
        yield "<ref>", ref


def find_secrets(root: object, secrets: Iterable[str | bytes]) -> list[Finding]:
    """Every str/bytes reachable from ``root`` that contains one of ``secrets``.

    Raises:
        AssertionError: more than :data:`MAX_OBJECTS` objects are reachable.
    """
    wanted_text = [s for s in secrets if isinstance(s, str) and s]
    wanted_bytes = [s.encode() for s in wanted_text] + [
        s for s in secrets if isinstance(s, bytes) and s
    ]
    skip_ids = _module_dicts()
    seen: set[int] = set()
    found: list[Finding] = []
    stack: list[tuple[str, object]] = [("<root>", root)]
    while stack:
        path, obj = stack.pop()
        if obj is None or isinstance(obj, (bool, int, float, complex)):
            continue
        if id(obj) in seen or id(obj) in skip_ids or isinstance(obj, _SKIPPED):
            continue
        seen.add(id(obj))
        assert len(seen) <= MAX_OBJECTS, f"more than {MAX_OBJECTS} objects reachable from {path}"
        if isinstance(obj, str):
            for secret in wanted_text:
                if secret in obj:
                    found.append(Finding(path, secret, obj[:200]))
            continue
        if isinstance(obj, (bytes, bytearray, memoryview)):
            data = bytes(obj)
            for secret_b in wanted_bytes:
                if secret_b in data:
                    found.append(Finding(path, repr(secret_b), repr(data[:200])))
            continue
        if isinstance(obj, types.FunctionType):
            # A function's globals are its module's: follow only what it closes over.
            for i, cell in enumerate(obj.__closure__ or ()):
                try:
                    stack.append((f"{path}.<closure {i}>", cell.cell_contents))
                except ValueError:  # an empty cell
                    pass
            continue
        # Pushed in reverse, so named children (attributes, cause, context)
        # are visited before the garbage collector's anonymous referents and
        # a finding's path reads as attribute names where there are some.
        children = list(_children(obj))
        for name, child in reversed(children):
            stack.append((f"{path}{name}" if name != "<ref>" else f"{path}/ref", child))
    return found
