"""The library's logger, and the one place that formats an exchange for it.

Everything logs to the stdlib logger ``aiowsman`` (child loggers per layer).
At DEBUG each WS-Man exchange is one line: operation, action, resource URI,
HTTP status, response size and elapsed time. Headers are never logged, so no
``Authorization`` value, token or password can reach a log line.

Third-party authentication libraries are another matter: pyspnego logs every
NTLM message it sends or receives, base64, at DEBUG (logger ``spnego``) --
and an NTLM AUTHENTICATE message carries a response to the challenge that
can be attacked offline for the password. So importing aiowsman sets those
loggers (:data:`AUTH_LOGGERS`) to INFO, *unless the application already set
their level*: ``logging.basicConfig(level=logging.DEBUG)`` then does not put
tokens in a log; ``logging.getLogger("spnego").setLevel(logging.DEBUG)``, said
explicitly, still does.
"""

from __future__ import annotations

import logging

__all__ = ["AUTH_LOGGERS", "log_exchange", "logger", "transport_logger"]

logger = logging.getLogger("aiowsman")
transport_logger = logging.getLogger("aiowsman.transport")

#: Loggers of authentication libraries that log tokens at DEBUG.
AUTH_LOGGERS = ("spnego",)


def _quiet_auth_loggers() -> None:
    for name in AUTH_LOGGERS:
        third_party = logging.getLogger(name)
        if third_party.level == logging.NOTSET:  # the application has not chosen
            third_party.setLevel(logging.INFO)


_quiet_auth_loggers()


def log_exchange(
    host: str,
    operation: str,
    action: str,
    resource: str | None,
    status: int | str,
    size: int,
    elapsed: float,
) -> None:
    """Log one completed (or failed) exchange at DEBUG."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "[%s] %s action=%s resource=%s status=%s bytes=%d elapsed=%.3fs",
            host,
            operation,
            action or "-",  # Identify carries no wsa:Action (DSP0226 11)
            resource or "-",
            status,
            size,
            elapsed,
        )
