"""The library's logger, and the one place that formats an exchange for it.

Everything logs to the stdlib logger ``aiowsman`` (child loggers per layer).
At DEBUG each WS-Man exchange is one line: operation, action, resource URI,
HTTP status, response size and elapsed time. Headers are never logged, so no
``Authorization`` value, token or password can reach a log line.
"""

from __future__ import annotations

import logging

__all__ = ["log_exchange", "logger", "transport_logger"]

logger = logging.getLogger("aiowsman")
transport_logger = logging.getLogger("aiowsman.transport")


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
