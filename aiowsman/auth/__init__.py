"""Authentication schemes, and the registry that resolves them by name.

``AsyncSession(auth="basic")`` looks the name up here. Basic and none are
built in; the other schemes (``ntlm``, ``negotiate``, ``kerberos``,
``credssp``, ``certificate``) register themselves from their own modules,
which are imported on first use so that their optional dependencies load only
when asked for. A scheme whose module is missing or fails to import is
reported as a :class:`~aiowsman.errors.ConfigurationError`.

Blocking steps (GSSAPI talking to a KDC) run in one bounded, process-wide
thread pool (:func:`set_offload_workers`, default
:data:`DEFAULT_OFFLOAD_WORKERS` threads), never on the event loop.

To add a scheme::

    from aiowsman.auth import register_auth
    register_auth("mine", lambda *, username, password, **options: MyAuth(...))
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from aiowsman.auth._executor import (
    DEFAULT_OFFLOAD_WORKERS,
    offload_workers,
    run_offload,
    set_offload_workers,
)
from aiowsman.auth.base import Auth, AuthContext, FlowStep, HttpRequest, HttpResponse, Offload
from aiowsman.auth.basic import BasicAuth, NoAuth
from aiowsman.errors import ConfigurationError

__all__ = [
    "DEFAULT_OFFLOAD_WORKERS",
    "Auth",
    "AuthContext",
    "AuthFactory",
    "BasicAuth",
    "FlowStep",
    "HttpRequest",
    "HttpResponse",
    "NoAuth",
    "Offload",
    "available_schemes",
    "offload_workers",
    "register_auth",
    "resolve_auth",
    "run_offload",
    "set_offload_workers",
]

#: ``factory(username=..., password=..., **options) -> Auth``.
AuthFactory = Callable[..., Auth]


def _basic(*, username: str | None, password: str | None, **options: Any) -> Auth:
    if username is None or password is None:
        raise ConfigurationError("auth='basic' needs username and password")
    if options:
        raise ConfigurationError(f"auth='basic' takes no options: {sorted(options)}")
    return BasicAuth.shared(username, password)


def _none(*, username: str | None, password: str | None, **options: Any) -> Auth:
    if options:
        raise ConfigurationError(f"auth='none' takes no options: {sorted(options)}")
    return NoAuth()


_registry: dict[str, AuthFactory] = {"basic": _basic, "none": _none}

#: Modules that register the named schemes when imported.
_providers: Mapping[str, str] = {
    "ntlm": "aiowsman.auth.spnego",
    "negotiate": "aiowsman.auth.spnego",
    "kerberos": "aiowsman.auth.spnego",
    "credssp": "aiowsman.auth.credssp",
    "certificate": "aiowsman.auth.certificate",
}


def register_auth(name: str, factory: AuthFactory) -> None:
    """Make ``auth=name`` resolve to ``factory(username=, password=, **options)``.

    Args:
        name: scheme name, case-insensitive.
        factory: builds the :class:`Auth`; raises ConfigurationError on bad options.
    """
    _registry[name.lower()] = factory


def available_schemes() -> list[str]:
    """Names that resolve now (importing provider modules that are present)."""
    names = set(_registry)
    for name, module in _providers.items():
        if name in names:
            continue
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        if name in _registry:
            names.add(name)
    return sorted(names)


def resolve_auth(
    auth: str | Auth | None,
    *,
    username: str | None = None,
    password: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> Auth:
    """Turn ``auth=`` as given to a session into an :class:`Auth`.

    Args:
        auth: an :class:`Auth` (used as is), a scheme name, or None: then
            ``negotiate`` when a user name is given (as WinRM does), else ``none``.
        username: the account, for schemes that take one.
        password: its password.
        options: scheme-specific settings passed to the factory.

    Returns:
        The resolved scheme.

    Raises:
        aiowsman.errors.ConfigurationError: unknown name, scheme not available
            (its module or dependencies missing), or bad options.
    """
    if not isinstance(auth, str) and isinstance(auth, Auth):  # (str first: Auth is an ABC)
        if username is not None or password is not None:
            raise ConfigurationError("pass credentials to the Auth object, not to the session")
        return auth
    if auth is None:
        auth = "negotiate" if username is not None else "none"
    name = auth.lower()
    factory = _registry.get(name)
    if factory is None and name in _providers:
        try:
            importlib.import_module(_providers[name])
        except ImportError as exc:
            raise ConfigurationError(
                f"authentication scheme {name!r} is not available ({type(exc).__name__})"
            ) from None
        factory = _registry.get(name)
    if factory is None:
        known = ", ".join(sorted(set(_registry) | set(_providers)))
        raise ConfigurationError(f"unknown or unavailable auth scheme {auth!r} (known: {known})")
    return factory(username=username, password=password, **dict(options or {}))
