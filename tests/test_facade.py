"""The WSMan facade: the scripting API's names and flag values, mapped onto AsyncSession."""

from __future__ import annotations

import pytest

from aiowsman import AsyncSession, ConfigurationError, EndpointReference, ResourceLocator, WSMan
from aiowsman.facade import enumeration_arguments, session_arguments
from aiowsman.testing import WSManTestServer

PASSWORD = "Pa55-w0rd-never-logged"  # tests/conftest.py PASSWORD


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SessionFlagUTF8", 1),
        ("SessionFlagCredUsernamePassword", 4096),
        ("SessionFlagSkipCACheck", 8192),
        ("SessionFlagSkipCNCheck", 16384),
        ("SessionFlagUseNoAuthentication", 32768),
        ("SessionFlagUseDigest", 65536),
        ("SessionFlagUseNegotiate", 131072),
        ("SessionFlagUseBasic", 262144),
        ("SessionFlagUseKerberos", 524288),
        ("SessionFlagNoEncryption", 1048576),
        ("SessionFlagUseClientCertificate", 2097152),
        ("SessionFlagEnableSPNServerPort", 4194304),
        ("SessionFlagUTF16", 8388608),
        ("SessionFlagUseCredSsp", 16777216),
        ("SessionFlagSkipRevocationCheck", 33554432),
        ("SessionFlagAllowNegotiateImplicitCredentials", 67108864),
        ("SessionFlagUseSsl", 134217728),
        ("EnumerationFlagNonXmlText", 1),
        ("EnumerationFlagReturnObject", 0),
        ("EnumerationFlagReturnEPR", 2),
        ("EnumerationFlagReturnObjectAndEPR", 4),
        ("EnumerationFlagHierarchyDeep", 0),
        ("EnumerationFlagHierarchyShallow", 32),
        ("EnumerationFlagHierarchyDeepBasePropsOnly", 64),
        ("EnumerationFlagAssociatedInstance", 0),
        ("EnumerationFlagAssociationInstance", 128),
    ],
)
def test_flag_constants_have_the_documented_values(name: str, value: int) -> None:
    assert getattr(WSMan, name) == value


def test_use_basic_with_credentials_maps_to_basic_auth() -> None:
    options = WSMan().create_connection_options()
    options.username, options.password = "alice", PASSWORD
    kwargs = session_arguments(
        WSMan.SessionFlagUseBasic | WSMan.SessionFlagCredUsernamePassword, options
    )
    assert kwargs == {"auth": "basic", "username": "alice", "password": PASSWORD}


def test_tls_flags_map_to_skip_checks_and_https() -> None:
    session = WSMan().create_session(
        "server1",
        WSMan.SessionFlagUseSsl
        | WSMan.SessionFlagSkipCACheck
        | WSMan.SessionFlagSkipCNCheck
        | WSMan.SessionFlagUseNoAuthentication,
    )
    assert session.endpoint.url == "https://server1:5986/wsman"
    assert session.auth.scheme == "none"


def test_no_encryption_allows_basic_over_http() -> None:
    kwargs = session_arguments(WSMan.SessionFlagNoEncryption)
    assert kwargs == {"encrypt": False, "allow_unencrypted": True}


def test_several_authentication_flags_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        session_arguments(WSMan.SessionFlagUseBasic | WSMan.SessionFlagUseKerberos)


def test_digest_is_refused_as_winrm_has_no_digest_service() -> None:
    with pytest.raises(ConfigurationError):
        session_arguments(WSMan.SessionFlagUseDigest)


def test_unknown_flag_bits_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        session_arguments(1 << 30)


def test_connection_options_repr_hides_the_password() -> None:
    options = WSMan().create_connection_options()
    options.username, options.password = "alice", PASSWORD
    assert PASSWORD not in repr(options)


def test_proxy_from_connection_options_reaches_the_session() -> None:
    options = WSMan().create_connection_options()
    options.set_proxy("http://127.0.0.1:3128")
    assert session_arguments(0, options)["proxy"] == "http://127.0.0.1:3128"


def test_no_connection_means_the_local_computer() -> None:
    session = WSMan().create_session()
    assert session.endpoint.url == "http://localhost:5985/wsman"


def test_create_resource_locator_expands_aliases() -> None:
    locator = WSMan().create_resource_locator("wmicimv2/Win32_Service")
    assert isinstance(locator, ResourceLocator)
    assert locator.resource_uri == (
        "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service"
    )


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (0, {}),
        (WSMan.EnumerationFlagReturnEPR, {"mode": "epr"}),
        (WSMan.EnumerationFlagReturnObjectAndEPR, {"mode": "object_and_epr"}),
        (WSMan.EnumerationFlagHierarchyShallow, {"polymorphism": "shallow"}),
        (
            WSMan.EnumerationFlagHierarchyDeepBasePropsOnly | WSMan.EnumerationFlagReturnEPR,
            {"mode": "epr", "polymorphism": "deep_base_props_only"},
        ),
    ],
)
def test_enumeration_flags_map_to_enumerate_keywords(flags: int, expected: dict[str, str]) -> None:
    assert enumeration_arguments(flags) == expected


async def test_a_ported_script_runs_against_the_server(
    basic_server: WSManTestServer,
) -> None:
    wsman = WSMan()
    options = wsman.create_connection_options()
    options.username, options.password = "user", PASSWORD
    flags = (
        WSMan.SessionFlagUseBasic
        | WSMan.SessionFlagCredUsernamePassword
        | WSMan.SessionFlagNoEncryption
    )
    async with wsman.create_session(basic_server.endpoints[0], flags, options) as session:
        assert isinstance(session, AsyncSession)
        locator = wsman.create_resource_locator("wmicimv2/Win32_Service")
        refs = await session.enumerate(
            locator, **enumeration_arguments(WSMan.EnumerationFlagReturnEPR)
        ).to_list()
        assert refs and all(isinstance(r, EndpointReference) for r in refs)
