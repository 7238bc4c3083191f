"""``aiowsman subscribe``: collect events from many hosts, print them as they arrive.

A verb that is its own program (it runs until ``--count``, ``--duration``,
Ctrl-C or SIGTERM): it subscribes to every host with
:func:`aiowsman.collect_events` and writes one line per event (JSON lines,
or text). With ``--bookmarks FILE`` it starts each host after the bookmark
saved there and saves the bookmarks back -- every ``--save-every`` seconds
and on exit, after the output is flushed, atomically (a temporary file
renamed over the old one) -- so a restart continues where the last run's
output ends: no event lost, none written twice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
from collections.abc import Mapping
from typing import Any, TextIO

from aiowsman.cli._values import UsageError
from aiowsman.protocol.events import Event

__all__ = ["add_subscribe_arguments", "load_bookmarks", "run_subscribe", "save_bookmarks"]

#: Failures reported on stderr one by one before they are only counted.
_SHOWN = 20
_BOOKMARKS_VERSION = 1


def add_subscribe_arguments(parser: argparse.ArgumentParser) -> None:
    """The verb's options: the shared host and auth groups, then its own."""
    from aiowsman.cli._main import host_and_auth_options

    host_and_auth_options(parser)
    events = parser.add_argument_group("events")
    events.add_argument(
        "--query", default="*",
        help="an event XPath (with --channel), e.g. '*[System[(Level<=3)]]', or a <QueryList> "
        "document (default '*': every event)",
    )  # fmt: skip
    events.add_argument("--channel", default="System", help="the log an XPath reads (System)")
    events.add_argument(
        "--read-existing", action="store_true",
        help="also the events already in the log (hosts without a saved bookmark)",
    )  # fmt: skip
    events.add_argument(
        "--bookmarks", metavar="FILE",
        help="resume each host after the bookmark saved here; save them back (atomically)",
    )  # fmt: skip
    events.add_argument(
        "--save-every", type=float, default=5.0, metavar="S",
        help="seconds between bookmark saves (5); also saved on exit",
    )  # fmt: skip
    events.add_argument("--heartbeat", type=float, metavar="S", help="heartbeat interval, seconds")
    events.add_argument(
        "--expires", type=float, metavar="S",
        help="subscription lifetime, renewed before it ends (default: none)",
    )  # fmt: skip
    events.add_argument(
        "--rendered", action="store_true", help="ask for the message text (RenderedText)"
    )
    events.add_argument(
        "--max-time", type=float, default=20.0, metavar="S",
        help="seconds one Pull may wait for events (20)",
    )  # fmt: skip
    events.add_argument("--batch-items", type=int, help="events per Pull at most (50)")
    events.add_argument(
        "--queue-size", type=int, default=1000, help="events waiting to be written, at most (1000)"
    )
    events.add_argument("--timeout", type=float, default=30.0, help="seconds per operation (30)")
    stop = parser.add_argument_group("stopping (default: run until Ctrl-C or SIGTERM)")
    stop.add_argument("--count", type=int, metavar="N", help="stop after N events")
    stop.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    out = parser.add_argument_group("output")
    out.add_argument(
        "--format", choices=("jsonl", "text"), default="jsonl",
        help="jsonl: one JSON record per event (default); text: one readable line per event",
    )  # fmt: skip
    out.add_argument("--xml", action="store_true", help="include each event's XML (jsonl)")
    out.add_argument(
        "-o", "--output", metavar="FILE", help="append events to FILE (default stdout)"
    )
    out.add_argument("-q", "--quiet", action="store_true", help="no failures, no summary")


def _check(args: argparse.Namespace) -> None:
    for name in ("save_every", "max_time", "timeout", "queue_size", "batch_items", "count"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be positive, not {value}")
    for name in ("heartbeat", "expires", "duration"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise UsageError(f"--{name} must be positive, not {value}")


# -- bookmarks file ------------------------------------------------------------------------


def load_bookmarks(path: str) -> dict[str, str]:
    """The host -> bookmark XML saved in ``path`` (empty if there is no file yet).

    Raises:
        UsageError: the file is not a bookmarks file.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UsageError(f"--bookmarks {path!r}: not a bookmarks file ({exc})") from None
    marks = doc.get("bookmarks") if isinstance(doc, dict) else None
    if not isinstance(marks, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in marks.items()
    ):
        raise UsageError(f"--bookmarks {path!r}: not a bookmarks file")
    return dict(marks)


def save_bookmarks(path: str, bookmarks: Mapping[str, str]) -> None:
    """Write ``bookmarks`` to ``path`` atomically: a reader (or a crash) sees the
    old file or the new one, never half of one."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".bookmarks-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"version": _BOOKMARKS_VERSION, "bookmarks": dict(bookmarks)}, fh, indent=1)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# -- output --------------------------------------------------------------------------------


def _record(event: Event, with_xml: bool) -> str:
    data = event.to_dict()
    if not with_xml:
        data.pop("xml", None)
    return json.dumps(data, ensure_ascii=False)


def _line(event: Event) -> str:
    when = event.time_created.isoformat() if event.time_created else "-"
    text = f"{event.host} {event.channel}#{event.record_id} {when} {event.level_name} "
    text += f"{event.event_id} {event.provider}"
    if event.message:
        text += ": " + " ".join(event.message.split())
    return text


class _Failures:
    """Host failures on stderr: the first few in full, then only counted."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.shown = 0
        self.hidden = 0

    def __call__(self, host: str, exc: BaseException, will_retry: bool) -> None:
        if self.quiet:
            return
        if self.shown >= _SHOWN:
            self.hidden += 1
            return
        self.shown += 1
        then = "reconnecting from its bookmark" if will_retry else "giving up on this host"
        message = " ".join(str(exc).split())
        print(f"aiowsman: {host}: {message} ({then})", file=sys.stderr)


# -- the run -------------------------------------------------------------------------------


def run_subscribe(args: argparse.Namespace) -> int:
    """Run ``aiowsman subscribe``; returns the exit status."""
    from aiowsman.cli._main import _HostSource, _session_options

    _check(args)
    hosts = list(_HostSource(args))
    if not hosts:
        raise UsageError("the host list was empty")
    options = _session_options(args)
    saved = load_bookmarks(args.bookmarks) if args.bookmarks else {}
    with contextlib.ExitStack() as files:
        out: TextIO = sys.stdout
        if args.output and args.output != "-":
            try:
                out = files.enter_context(open(args.output, "a", encoding="utf-8"))
            except OSError as exc:
                raise UsageError(f"cannot write {args.output!r}: {exc.strerror}") from None
        return asyncio.run(_collect(args, hosts, options, saved, out))


async def _collect(
    args: argparse.Namespace,
    hosts: list[str],
    options: dict[str, Any],
    saved: dict[str, str],
    out: TextIO,
) -> int:
    from aiowsman.cli._main import EXIT_ALL_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED
    from aiowsman.collector import collect_events

    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    # SIGTERM (a service manager stopping us) ends the run like --duration:
    # everything is unsubscribed and the bookmarks are saved.
    terminated = False

    def terminate() -> None:
        nonlocal terminated
        terminated = True
        task.cancel()

    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, terminate)
    failures = _Failures(args.quiet)
    stream = collect_events(
        hosts,
        query=args.query,
        channel=args.channel,
        bookmarks={h: m for h, m in saved.items() if h in set(hosts)},
        read_existing=args.read_existing,
        heartbeat=args.heartbeat,
        expires=args.expires,
        content_format="RenderedText" if args.rendered else None,
        max_time=args.max_time,
        queue_size=args.queue_size,
        on_error=failures,
        **options,
    )
    written = 0

    def checkpoint() -> None:
        # Bookmarks only ever name events already written out.
        out.flush()
        if args.bookmarks:
            marks = dict(saved)
            marks.update({h: str(m) for h, m in stream.bookmarks.items()})
            save_bookmarks(args.bookmarks, marks)

    last_save = loop.time()
    try:
        async with asyncio.timeout(args.duration), stream:
            async for event in stream:
                out.write(
                    (_record(event, args.xml) if args.format == "jsonl" else _line(event)) + "\n"
                )
                written += 1
                if args.count is not None and written >= args.count:
                    break
                if loop.time() - last_save >= args.save_every:
                    checkpoint()
                    last_save = loop.time()
    except TimeoutError:
        pass  # --duration
    except asyncio.CancelledError:
        if not terminated:
            raise  # Ctrl-C: asyncio.run raises KeyboardInterrupt after this
    finally:
        checkpoint()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGTERM)
    failed = stream.failed
    if not args.quiet:
        if failures.hidden:
            print(f"aiowsman: ... and {failures.hidden} more failures", file=sys.stderr)
        text = f"{written} events from {len(hosts)} hosts"
        if failed:
            text += f"; {len(failed)} given up: {', '.join(failed[:5])}"
            text += "..." if len(failed) > 5 else ""
        print(text, file=sys.stderr)
    if terminated:
        return EXIT_INTERRUPTED
    if failed:
        return EXIT_ALL_FAILED if len(failed) == len(hosts) else EXIT_SOME_FAILED
    return EXIT_OK
