"""Build the native benchmark server (``native_server/wsman_bench_server.c``) on first use.

The binary is compiled with the system C compiler (``$CC``, else ``cc``)
into ``benchmarks/native_server/build/`` (ignored by git), named after a
hash of the source and the compiler flags, so an edited source is rebuilt
and an unchanged one is reused. ``python -m benchmarks native-server --build``
builds it ahead of time (``.ci/run`` does); ``python -m benchmarks
native-server -- --hosts 10`` runs it in the foreground.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["SOURCE", "NativeBuildError", "binary"]

SOURCE = Path(__file__).resolve().parent / "native_server" / "wsman_bench_server.c"
BUILD_DIR = SOURCE.parent / "build"
CFLAGS = ("-O2", "-std=c11", "-Wall", "-Wextra")


class NativeBuildError(RuntimeError):
    """No C compiler, or the source did not compile (the compiler's output is in the text)."""


def _compiler() -> str:
    cc = os.environ.get("CC", "cc")
    found = shutil.which(cc)
    if found is None:
        raise NativeBuildError(
            f"no C compiler ({cc!r} not found): install gcc (Debian: apt-get install gcc) "
            "or run the benchmarks with --server python"
        )
    return found


def binary() -> Path:
    """Path of the compiled server, compiling it first if needed.

    Raises:
        NativeBuildError: no compiler, or compilation failed.
    """
    source = SOURCE.read_bytes()
    cc = _compiler()
    digest = hashlib.sha256(source + " ".join((cc, *CFLAGS)).encode()).hexdigest()[:12]
    target = BUILD_DIR / f"wsman-bench-server-{digest}"
    if target.exists():
        return target
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    # Compile to a temporary name and rename: two builds racing (two suites on
    # one machine) never run a half-written binary.
    fd, tmp = tempfile.mkstemp(prefix=".build-", dir=BUILD_DIR)
    os.close(fd)
    try:
        proc = subprocess.run(
            [cc, *CFLAGS, "-o", tmp, str(SOURCE)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if proc.returncode != 0:
            raise NativeBuildError(f"{cc} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def main(argv: list[str]) -> int:
    """``native-server [--build] [-- SERVER ARGS]``: build, then run with the given arguments."""
    build_only = "--build" in argv
    args = argv[argv.index("--") + 1 :] if "--" in argv else []
    try:
        path = binary()
    except NativeBuildError as exc:
        print(f"native server: {exc}", file=sys.stderr)
        return 2
    print(path, file=sys.stderr)
    if build_only:
        return 0
    return subprocess.call([str(path), *args])
