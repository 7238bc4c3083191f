"""TLS client contexts built from files are shared by sessions with equal settings."""

from __future__ import annotations

import os
from pathlib import Path

import trustme

from aiowsman.transport import TransportSettings, build_ssl_context


def test_sessions_with_the_same_ca_file_share_one_context(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca_file))
    first = build_ssl_context(TransportSettings(verify=str(ca_file)))
    second = build_ssl_context(TransportSettings(verify=str(ca_file)))
    assert first is second


def test_a_replaced_ca_file_is_loaded_afresh(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca_file))
    first = build_ssl_context(TransportSettings(verify=str(ca_file)))
    trustme.CA().cert_pem.write_to_path(str(ca_file))
    stat = ca_file.stat()
    os.utime(ca_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert build_ssl_context(TransportSettings(verify=str(ca_file))) is not first


def test_different_checks_get_different_contexts(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca_file))
    strict = build_ssl_context(TransportSettings(verify=str(ca_file)))
    lenient = build_ssl_context(TransportSettings(verify=str(ca_file), skip_cn_check=True))
    assert strict is not lenient
    assert not isinstance(lenient, bool) and lenient.check_hostname is False
    assert not isinstance(strict, bool) and strict.check_hostname is True
