"""``WSMan``: the scripting API's factory object, for porting scripts.

The WinRM Scripting API starts from ``WSMan`` (``IWSMan`` / ``IWSManEx``)::

    Set wsman = CreateObject("WSMan.Automation")
    Set options = wsman.CreateConnectionOptions
    options.UserName = "user" : options.Password = "pass"
    Set session = wsman.CreateSession("https://host", _
        wsman.SessionFlagUseBasic Or wsman.SessionFlagCredUsernamePassword, options)

The same in aiowsman::

    wsman = WSMan()
    options = wsman.create_connection_options()
    options.username, options.password = "user", "pass"
    async with wsman.create_session(
        "https://host", WSMan.SessionFlagUseBasic | WSMan.SessionFlagCredUsernamePassword,
        options,
    ) as session:
        ...

Flag values are those of ``__WSManSessionFlags`` and ``_WSManEnumFlags``
(wsmandisp.h). They map onto :class:`~aiowsman.session.AsyncSession`'s
arguments; :func:`enumeration_arguments` maps the enumeration flags onto
``session.enumerate()`` keywords.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Final

from aiowsman.errors import ConfigurationError
from aiowsman.protocol.envelope import AssociationFilter
from aiowsman.protocol.locator import ResourceLocator
from aiowsman.session import AsyncSession

__all__ = ["ConnectionOptions", "WSMan", "enumeration_arguments", "session_arguments"]

# __WSManSessionFlags (wsmandisp.h)
SESSION_FLAG_UTF8: Final = 0x1
SESSION_FLAG_CRED_USERNAME_PASSWORD: Final = 0x1000
SESSION_FLAG_SKIP_CA_CHECK: Final = 0x2000
SESSION_FLAG_SKIP_CN_CHECK: Final = 0x4000
SESSION_FLAG_USE_NO_AUTHENTICATION: Final = 0x8000
SESSION_FLAG_USE_DIGEST: Final = 0x10000
SESSION_FLAG_USE_NEGOTIATE: Final = 0x20000
SESSION_FLAG_USE_BASIC: Final = 0x40000
SESSION_FLAG_USE_KERBEROS: Final = 0x80000
SESSION_FLAG_NO_ENCRYPTION: Final = 0x100000
SESSION_FLAG_USE_CLIENT_CERTIFICATE: Final = 0x200000
SESSION_FLAG_ENABLE_SPN_SERVER_PORT: Final = 0x400000
SESSION_FLAG_UTF16: Final = 0x800000
SESSION_FLAG_USE_CREDSSP: Final = 0x1000000
SESSION_FLAG_SKIP_REVOCATION_CHECK: Final = 0x2000000
SESSION_FLAG_ALLOW_NEGOTIATE_IMPLICIT_CREDENTIALS: Final = 0x4000000
SESSION_FLAG_USE_SSL: Final = 0x8000000

# _WSManEnumFlags (wsmandisp.h)
ENUM_FLAG_NON_XML_TEXT: Final = 0x1
ENUM_FLAG_RETURN_OBJECT: Final = 0x0
ENUM_FLAG_RETURN_EPR: Final = 0x2
ENUM_FLAG_RETURN_OBJECT_AND_EPR: Final = 0x4
ENUM_FLAG_HIERARCHY_DEEP: Final = 0x0
ENUM_FLAG_HIERARCHY_SHALLOW: Final = 0x20
ENUM_FLAG_HIERARCHY_DEEP_BASE_PROPS_ONLY: Final = 0x40
ENUM_FLAG_ASSOCIATED_INSTANCE: Final = 0x0
ENUM_FLAG_ASSOCIATION_INSTANCE: Final = 0x80

_AUTH_FLAGS: Final = {
    SESSION_FLAG_USE_NO_AUTHENTICATION: "none",
    SESSION_FLAG_USE_NEGOTIATE: "negotiate",
    SESSION_FLAG_USE_BASIC: "basic",
    SESSION_FLAG_USE_KERBEROS: "kerberos",
    SESSION_FLAG_USE_CLIENT_CERTIFICATE: "certificate",
    SESSION_FLAG_USE_CREDSSP: "credssp",
}

_KNOWN_SESSION_FLAGS: Final = (
    SESSION_FLAG_UTF8
    | SESSION_FLAG_CRED_USERNAME_PASSWORD
    | SESSION_FLAG_SKIP_CA_CHECK
    | SESSION_FLAG_SKIP_CN_CHECK
    | SESSION_FLAG_USE_DIGEST
    | SESSION_FLAG_NO_ENCRYPTION
    | SESSION_FLAG_ENABLE_SPN_SERVER_PORT
    | SESSION_FLAG_UTF16
    | SESSION_FLAG_SKIP_REVOCATION_CHECK
    | SESSION_FLAG_ALLOW_NEGOTIATE_IMPLICIT_CREDENTIALS
    | SESSION_FLAG_USE_SSL
    | sum(_AUTH_FLAGS)
)


@dataclass
class ConnectionOptions:
    """The scripting API's ``ConnectionOptions`` (``IWSManConnectionOptionsEx2``).

    Attributes:
        username: ``UserName``.
        password: ``Password`` (write-only in the WinRM Scripting API; never shown in the repr).
        certificate_thumbprint: ``CertificateThumbprint``; Windows looks it up
            in its certificate store, which does not exist here -- give
            ``cert=`` files to :class:`AsyncSession` instead.
        proxy: the proxy URL set by :meth:`set_proxy`.
    """

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    certificate_thumbprint: str | None = None
    proxy: str | None = None

    def set_proxy(self, proxy: str | None) -> None:
        """Use an HTTP proxy (``SetProxy``, with the URL instead of access-type codes)."""
        self.proxy = proxy


def session_arguments(flags: int = 0, options: ConnectionOptions | None = None) -> dict[str, Any]:
    """Translate ``CreateSession`` flags and options into AsyncSession keywords.

    Args:
        flags: an OR of ``WSMan.SessionFlag*`` values.
        options: credentials and proxy.

    Returns:
        Keyword arguments for :class:`AsyncSession`.

    Raises:
        aiowsman.errors.ConfigurationError: unknown flags, several
            authentication flags, Digest (WinRM has no Digest service), or a
            certificate thumbprint.
    """
    if flags & ~_KNOWN_SESSION_FLAGS:
        raise ConfigurationError(f"unknown session flags 0x{flags & ~_KNOWN_SESSION_FLAGS:X}")
    if flags & SESSION_FLAG_USE_DIGEST:
        raise ConfigurationError("Digest authentication is not supported by WinRM services")
    schemes = [name for bit, name in _AUTH_FLAGS.items() if flags & bit]
    if len(schemes) > 1:
        raise ConfigurationError(f"more than one authentication flag: {', '.join(schemes)}")
    kwargs: dict[str, Any] = {}
    if schemes:
        kwargs["auth"] = schemes[0]
    if flags & SESSION_FLAG_SKIP_CA_CHECK:
        kwargs["skip_ca_check"] = True
    if flags & SESSION_FLAG_SKIP_CN_CHECK:
        kwargs["skip_cn_check"] = True
    if flags & SESSION_FLAG_NO_ENCRYPTION:
        # WinRM pairs NoEncryption with the client's AllowUnencrypted setting:
        # together they permit clear-text SOAP (and Basic) over HTTP.
        kwargs["encrypt"] = False
        kwargs["allow_unencrypted"] = True
    if flags & SESSION_FLAG_USE_SSL:
        kwargs["use_tls"] = True
    if options is not None:
        if options.certificate_thumbprint:
            raise ConfigurationError(
                "certificate thumbprints name a Windows certificate store entry; "
                "pass cert=(certfile, keyfile) to AsyncSession"
            )
        if options.username is not None:
            kwargs["username"] = options.username
            kwargs["password"] = options.password if options.password is not None else ""
        if options.proxy:
            kwargs["proxy"] = options.proxy
    return kwargs


def enumeration_arguments(
    flags: int = 0, association: AssociationFilter | None = None
) -> dict[str, Any]:
    """Translate ``Session.Enumerate`` flags into ``session.enumerate()`` keywords.

    Args:
        flags: an OR of ``WSMan.EnumerationFlag*`` values.
        association: the association filter of an association enumeration;
            ``EnumerationFlagAssociationInstance`` /
            ``EnumerationFlagAssociatedInstance`` choose its ``instances``.

    Returns:
        Keyword arguments for :meth:`AsyncSession.enumerate`.

    Raises:
        aiowsman.errors.ConfigurationError: conflicting or unknown flags, or
            ``EnumerationFlagAssociationInstance`` without ``association``.
    """
    known = (
        ENUM_FLAG_NON_XML_TEXT
        | ENUM_FLAG_RETURN_EPR
        | ENUM_FLAG_RETURN_OBJECT_AND_EPR
        | ENUM_FLAG_HIERARCHY_SHALLOW
        | ENUM_FLAG_HIERARCHY_DEEP_BASE_PROPS_ONLY
        | ENUM_FLAG_ASSOCIATION_INSTANCE
    )
    if flags & ~known:
        raise ConfigurationError(f"unknown enumeration flags 0x{flags & ~known:X}")
    kwargs: dict[str, Any] = {}
    if flags & ENUM_FLAG_RETURN_EPR and flags & ENUM_FLAG_RETURN_OBJECT_AND_EPR:
        raise ConfigurationError("ReturnEPR and ReturnObjectAndEPR exclude each other")
    if flags & ENUM_FLAG_RETURN_EPR:
        kwargs["mode"] = "epr"
    elif flags & ENUM_FLAG_RETURN_OBJECT_AND_EPR:
        kwargs["mode"] = "object_and_epr"
    if flags & ENUM_FLAG_HIERARCHY_SHALLOW and flags & ENUM_FLAG_HIERARCHY_DEEP_BASE_PROPS_ONLY:
        raise ConfigurationError(
            "HierarchyShallow and HierarchyDeepBasePropsOnly exclude each other"
        )
    if flags & ENUM_FLAG_HIERARCHY_SHALLOW:
        kwargs["polymorphism"] = "shallow"
    elif flags & ENUM_FLAG_HIERARCHY_DEEP_BASE_PROPS_ONLY:
        kwargs["polymorphism"] = "deep_base_props_only"
    if association is not None:
        # The WinRM Scripting API's flag picks DSP0227 8.2's AssociationInstances (0x80) or
        # AssociatedInstances (0x0) for the filter's source object.
        kwargs["association"] = replace(
            association, instances=bool(flags & ENUM_FLAG_ASSOCIATION_INSTANCE)
        )
    elif flags & ENUM_FLAG_ASSOCIATION_INSTANCE:
        raise ConfigurationError(
            "EnumerationFlagAssociationInstance needs an association filter: "
            "pass association=AssociationFilter(...)"
        )
    return kwargs


class WSMan:
    """The scripting API's ``WSMan`` object: sessions, options, locators, flags.

    The flag constants keep the WinRM Scripting API's names (``WSMan.SessionFlagUseBasic``,
    ``WSMan.EnumerationFlagReturnEPR`` ...) as class attributes holding the
    documented values, rather than methods returning them.
    """

    SessionFlagUTF8: Final = SESSION_FLAG_UTF8
    SessionFlagCredUsernamePassword: Final = SESSION_FLAG_CRED_USERNAME_PASSWORD
    SessionFlagSkipCACheck: Final = SESSION_FLAG_SKIP_CA_CHECK
    SessionFlagSkipCNCheck: Final = SESSION_FLAG_SKIP_CN_CHECK
    SessionFlagUseNoAuthentication: Final = SESSION_FLAG_USE_NO_AUTHENTICATION
    SessionFlagUseDigest: Final = SESSION_FLAG_USE_DIGEST
    SessionFlagUseNegotiate: Final = SESSION_FLAG_USE_NEGOTIATE
    SessionFlagUseBasic: Final = SESSION_FLAG_USE_BASIC
    SessionFlagUseKerberos: Final = SESSION_FLAG_USE_KERBEROS
    SessionFlagNoEncryption: Final = SESSION_FLAG_NO_ENCRYPTION
    SessionFlagUseClientCertificate: Final = SESSION_FLAG_USE_CLIENT_CERTIFICATE
    SessionFlagEnableSPNServerPort: Final = SESSION_FLAG_ENABLE_SPN_SERVER_PORT
    SessionFlagUTF16: Final = SESSION_FLAG_UTF16
    SessionFlagUseCredSsp: Final = SESSION_FLAG_USE_CREDSSP
    SessionFlagSkipRevocationCheck: Final = SESSION_FLAG_SKIP_REVOCATION_CHECK
    SessionFlagAllowNegotiateImplicitCredentials: Final = (
        SESSION_FLAG_ALLOW_NEGOTIATE_IMPLICIT_CREDENTIALS
    )
    SessionFlagUseSsl: Final = SESSION_FLAG_USE_SSL

    EnumerationFlagNonXmlText: Final = ENUM_FLAG_NON_XML_TEXT
    EnumerationFlagReturnObject: Final = ENUM_FLAG_RETURN_OBJECT
    EnumerationFlagReturnEPR: Final = ENUM_FLAG_RETURN_EPR
    EnumerationFlagReturnObjectAndEPR: Final = ENUM_FLAG_RETURN_OBJECT_AND_EPR
    EnumerationFlagHierarchyDeep: Final = ENUM_FLAG_HIERARCHY_DEEP
    EnumerationFlagHierarchyShallow: Final = ENUM_FLAG_HIERARCHY_SHALLOW
    EnumerationFlagHierarchyDeepBasePropsOnly: Final = ENUM_FLAG_HIERARCHY_DEEP_BASE_PROPS_ONLY
    EnumerationFlagAssociatedInstance: Final = ENUM_FLAG_ASSOCIATED_INSTANCE
    EnumerationFlagAssociationInstance: Final = ENUM_FLAG_ASSOCIATION_INSTANCE

    def create_session(
        self,
        connection: str | None = None,
        flags: int = 0,
        options: ConnectionOptions | None = None,
        **session_options: Any,
    ) -> AsyncSession:
        """``CreateSession``: an :class:`AsyncSession` (use it with ``async with``).

        Args:
            connection: endpoint (``host``, ``host:port``, URL); None or ""
                means the local computer (``localhost``).
            flags: an OR of ``SessionFlag*`` values.
            options: credentials and proxy.
            **session_options: further :class:`AsyncSession` keywords
                (``timeout``, ``verify``, ``client_session`` ...).

        Raises:
            aiowsman.errors.ConfigurationError: bad flags or options.
        """
        kwargs = session_arguments(flags, options)
        kwargs.update(session_options)
        return AsyncSession(connection or "localhost", **kwargs)

    def create_connection_options(self) -> ConnectionOptions:
        """``CreateConnectionOptions``: an empty :class:`ConnectionOptions`."""
        return ConnectionOptions()

    def create_resource_locator(self, uri: str = "") -> ResourceLocator:
        """``CreateResourceLocator``: a :class:`ResourceLocator` for ``uri`` (or an alias)."""
        return ResourceLocator(uri)
