"""Credential hygiene: a full session per scheme never shows the password.

Every log record (all loggers at DEBUG, the ``aiowsman`` ones included),
every repr and every exception text of a complete session -- logon,
Identify, Get, an enumeration over several Pulls, a Put, and a logon with a
wrong password -- is searched for the password and for the forms it takes on
the wire or in memory: base64 (alone, as UTF-16, and as Basic's
``user:password``) and the NT hash (hex).
"""

from __future__ import annotations

import base64
import logging
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from aiowsman.protocol.locator import ResourceLocator
from aiowsman.testing.spnego_auth import SpnegoServerAuth
from tests.kdc import E2E_PASSWORD, E2E_USER, Realm, auth_stack, kdc

__all__ = ["kdc"]  # the module's KDC fixture, re-exported for pytest

SERVICE = "wmicimv2/Win32_Service"
ENVIRONMENT = "wmicimv2/Win32_Environment"
#: The Kerberos account of this module, with as distinctive a password.
KRB_USER = "hygiene"
#: A wrong password tried during the session: it must not leak either.
WRONG = "Wr0ng-hygiene-Pa55"


def secret_forms(user: str, password: str) -> list[str]:
    """The password as it may appear in text: plain, base64 variants, NT hash hex."""
    forms = [
        password,
        base64.b64encode(password.encode()).decode(),
        base64.b64encode(password.encode("utf-16-le")).decode(),
        base64.b64encode(f"{user}:{password}".encode()).decode(),
        password.encode("utf-16-le").hex(),
    ]
    try:
        from spnego._ntlm_raw.crypto import ntowfv1  # MD4 (hashlib may lack it)
    except ImportError:  # pragma: no cover - pyspnego always ships it
        pass
    else:
        nt_hash = ntowfv1(password)
        forms += [nt_hash.hex(), nt_hash.hex().upper()]
    return forms


@pytest.fixture(scope="module")
def krb_account(kdc: Realm) -> tuple[str, str]:
    principal = f"{KRB_USER}@{kdc.realm.realm}"
    kdc.realm.addprinc(principal, E2E_PASSWORD)
    return principal, E2E_PASSWORD


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)  # root: every library's DEBUG records
    caplog.set_level(logging.DEBUG, logger="aiowsman")
    yield caplog


def texts_of_records(records: list[logging.LogRecord]) -> list[str]:
    out = []
    for record in records:
        out.append(record.getMessage())
        out.append(repr(record.args))
        if record.exc_info:
            out.append("".join(traceback.format_exception(*record.exc_info)))
    return out


@pytest.mark.parametrize(
    ("variant", "tls"),
    [
        ("ntlm", False),
        ("negotiate-ntlm", False),
        ("negotiate-kerberos", False),
        ("kerberos", False),
        ("credssp", False),
        ("credssp-kerberos", True),
        ("basic", True),
    ],
)
async def test_full_session_never_shows_the_password(
    variant: str,
    tls: bool,
    kdc: Realm,
    krb_account: tuple[str, str],
    tls_ca: trustme.CA,
    ca_file: str,
    tmp_path: Path,
    all_logs: pytest.LogCaptureFixture,
) -> None:
    kerberos = "kerberos" in variant
    user = krb_account[0] if kerberos else E2E_USER
    texts: list[str] = []
    async with auth_stack(
        variant, tls=tls, ca=tls_ca, ca_file=ca_file, cert_dir=tmp_path, realm=kdc
    ) as stack:
        credentials: dict[str, Any] = {"username": user, "password": E2E_PASSWORD}
        async with stack.session(**credentials) as session:
            await session.identify()
            await session.get(SERVICE, Name="WinRM")
            assert len(await session.enumerate(SERVICE, batch_items=90).to_list()) == 200
            await session.put(
                ResourceLocator(ENVIRONMENT, Name="OS", UserName="<SYSTEM>"),
                {"VariableValue": "hygiene"},
            )
            texts += [repr(session), str(session), repr(session.auth), str(session.auth)]
            texts.append(repr(session.auth.new_context(url=stack.endpoint, host="127.0.0.1")))
        async with stack.session(username=user, password=WRONG) as bad:
            with pytest.raises(Exception) as info:
                await bad.identify()
            texts += [repr(bad), repr(bad.auth)]
        texts += [str(info.value), repr(info.value)]
        texts.append("".join(traceback.format_exception(info.value)))
        handler = stack.handler
        if isinstance(handler, SpnegoServerAuth):
            assert handler.logons  # the session really logged on with the scheme
    records = all_logs.records
    # The library's DEBUG records were captured (one per exchange, at least).
    assert sum(r.name.startswith("aiowsman") for r in records) >= 5
    texts += texts_of_records(records)
    for form in secret_forms(user, E2E_PASSWORD) + secret_forms(user, WRONG):
        leaks = [text for text in texts if form in text]
        assert not leaks, f"{variant}: a form of the password appears in {leaks[0][:200]!r}"
