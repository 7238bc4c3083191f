"""``winrm/config``: the WinRM service configuration, every container Get and Put.

WinRM exposes its configuration as one resource per container:
``winrm/config`` (the whole tree), ``winrm/config/client``,
``winrm/config/client/auth``, ``winrm/config/service``, ``winrm/config/winrs``
... (``winrm get winrm/config/client``; ``winrm set winrm/config/client
@{TrustedHosts="*"}``). The rules emulated here:

* the resource URI names a container by path, case-insensitively
  (``.../config/Client/Auth``); an unknown path is ``DestinationUnreachable``;
* a Get answers that container, its element named for it (``Client``) in the
  container's own namespace (its resource URI);
* a Put carries the container's element with the settings to change as
  children (nested containers may be nested); setting names match
  case-insensitively and keep their canonical spelling; a name the container
  does not have is a schema-validation fault, and nothing is changed; the
  answer is the container after the change, which later Gets see.

The tree and its defaults are those of a real host's ``winrm get
winrm/config`` (corpus ``pypsrp-get-response-config.xml``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from lxml import etree

from aiowsman.protocol.namespaces import NS_WINRM_CONFIG, URI_WSMAN
from aiowsman.testing._faults import Fault
from aiowsman.testing._request import ParsedRequest
from aiowsman.testing._xml import text
from aiowsman.testing.families.base import Host, ResourceFamily

__all__ = ["URI_CONFIG", "ConfigFamily", "ConfigTree"]

URI_CONFIG: Final = f"{URI_WSMAN}/config"

#: A container: setting -> default text, or sub-container name -> container.
Container = dict[str, "str | Container"]

_TREE: Final[Container] = {
    "MaxEnvelopeSizekb": "500",
    "MaxTimeoutms": "60000",
    "MaxBatchItems": "32000",
    "MaxProviderRequests": "4294967295",
    "Client": {
        "NetworkDelayms": "5000",
        "URLPrefix": "wsman",
        "AllowUnencrypted": "false",
        "Auth": {
            "Basic": "true",
            "Digest": "true",
            "Kerberos": "true",
            "Negotiate": "true",
            "Certificate": "true",
            "CredSSP": "false",
        },
        "DefaultPorts": {"HTTP": "5985", "HTTPS": "5986"},
        "TrustedHosts": "",
    },
    "Service": {
        "RootSDDL": "O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;IU)S:P(AU;FA;GA;;;WD)(AU;SA;GXGW;;;WD)",
        "MaxConcurrentOperations": "4294967295",
        "MaxConcurrentOperationsPerUser": "1500",
        "EnumerationTimeoutms": "240000",
        "MaxConnections": "300",
        "MaxPacketRetrievalTimeSeconds": "120",
        "AllowUnencrypted": "true",
        "Auth": {
            "Basic": "true",
            "Kerberos": "true",
            "Negotiate": "true",
            "Certificate": "false",
            "CredSSP": "true",
            "CbtHardeningLevel": "Relaxed",
        },
        "DefaultPorts": {"HTTP": "5985", "HTTPS": "5986"},
        "IPv4Filter": "*",
        "IPv6Filter": "*",
        "EnableCompatibilityHttpListener": "false",
        "EnableCompatibilityHttpsListener": "false",
        "CertificateThumbprint": "",
        "AllowRemoteAccess": "true",
    },
    "Winrs": {
        "AllowRemoteShellAccess": "true",
        "IdleTimeout": "7200000",
        "MaxConcurrentUsers": "2147483647",
        "MaxShellRunTime": "2147483647",
        "MaxProcessesPerShell": "2147483647",
        "MaxMemoryPerShellMB": "2147483647",
        "MaxShellsPerUser": "2147483647",
    },
}

Path = tuple[str, ...]


def _find(container: Container, name: str) -> str | None:
    """The canonical spelling of ``name`` in ``container`` (case-insensitive)."""
    low = name.lower()
    return next((key for key in container if key.lower() == low), None)


class ConfigTree:
    """One host's configuration: the defaults, live values and what was Put.

    Args:
        live: settings computed from the host's behaviour at each read,
            by path (``("Service", "MaxConcurrentOperationsPerUser")``);
            a Put overrides them.
    """

    def __init__(self, live: Mapping[Path, Callable[[], str]] | None = None) -> None:
        self.live = dict(live or {})
        self.overrides: dict[Path, str] = {}

    def _container(self, uri: str) -> tuple[Path, Container]:
        rest = uri[len(NS_WINRM_CONFIG) :].strip("/")
        path: list[str] = []
        node: Container = _TREE
        for part in filter(None, rest.split("/")):
            key = _find(node, part)
            sub = node.get(key) if key is not None else None
            if key is None or not isinstance(sub, dict):
                raise Fault.destination_unreachable(uri)
            path.append(key)
            node = sub
        return tuple(path), node

    def value(self, path: Path) -> str:
        """The current text of the setting at ``path``."""
        if path in self.overrides:
            return self.overrides[path]
        if path in self.live:
            return self.live[path]()
        node: str | Container = _TREE
        for part in path:
            assert isinstance(node, dict)
            node = node[part]
        assert isinstance(node, str)
        return node

    def _render(self, path: Path, node: Container) -> str:
        parts = []
        for key, sub in node.items():
            inner = (
                self._render((*path, key), sub)
                if isinstance(sub, dict)
                else text(self.value((*path, key)))
            )
            parts.append(f"<cfg:{key}>{inner}</cfg:{key}>")
        return "".join(parts)

    def get(self, uri: str) -> str:
        """The container ``uri`` names, as the body of a GetResponse."""
        path, node = self._container(uri)
        name = path[-1] if path else "Config"
        namespace = uri if path else NS_WINRM_CONFIG
        return f'<cfg:{name} xmlns:cfg="{text(namespace)}">{self._render(path, node)}</cfg:{name}>'

    def put(self, uri: str, body: etree._Element | None) -> str:
        """Apply a Put's body to the container ``uri`` names; returns the container.

        Raises:
            Fault: a body that is not this container, or names a setting it lacks.
        """
        path, node = self._container(uri)
        name = path[-1] if path else "Config"
        if body is None or etree.QName(body).localname.lower() != name.lower():
            raise Fault.schema_validation(f"The request body must contain a {name} element. ")
        changes: dict[Path, str] = {}
        self._collect(body, path, node, changes)
        self.overrides.update(changes)  # all or nothing
        return self.get(uri)

    def _collect(
        self, element: etree._Element, path: Path, node: Container, changes: dict[Path, str]
    ) -> None:
        for child in element:
            if not isinstance(child.tag, str):
                continue
            local = etree.QName(child).localname
            key = _find(node, local)
            if key is None:
                raise Fault.schema_validation(
                    f"The {path[-1] if path else 'Config'} configuration has no setting "
                    f"named {local}. "
                )
            sub = node[key]
            if isinstance(sub, dict):
                self._collect(child, (*path, key), sub, changes)
            else:
                changes[(*path, key)] = (child.text or "").strip()


class ConfigFamily(ResourceFamily):
    """``winrm/config`` and its containers, on one host.

    Attributes:
        tree: the host's configuration (``tree.overrides``: settings changed
            by Put, by path; tests may set them too).
    """

    name = "config"
    resource_uris = (URI_CONFIG,)

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.tree = ConfigTree(
            {
                ("Service", "MaxConcurrentOperationsPerUser"): lambda: str(
                    host.behaviour.max_concurrent_operations or 1500
                ),
                ("Service", "EnumerationTimeoutms"): lambda: str(
                    int(host.behaviour.enumeration_timeout * 1000)
                ),
            }
        )

    def serves(self, uri: str) -> bool:
        low, root = uri.lower(), URI_CONFIG.lower()
        return low == root or low.startswith(root + "/")

    def get(self, req: ParsedRequest) -> str:
        return self.tree.get(req.resource_uri or "")

    def put(self, req: ParsedRequest) -> str:
        return self.tree.put(req.resource_uri or "", req.body)
