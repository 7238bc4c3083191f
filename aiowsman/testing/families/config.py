"""``winrm/config``: the WinRM service configuration, Get and Put.

Served as Windows returns it (corpus ``pypsrp-get-response-config.xml``);
a Put changes the named leaf settings, which later Gets (and the families
that read a setting) see.
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from aiowsman.protocol.namespaces import NS_WINRM_CONFIG, URI_WSMAN
from aiowsman.testing._faults import Fault
from aiowsman.testing._request import ParsedRequest
from aiowsman.testing.families.base import Host, ResourceFamily

__all__ = ["URI_CONFIG", "ConfigFamily"]

URI_CONFIG: Final = f"{URI_WSMAN}/config"


class ConfigFamily(ResourceFamily):
    """``winrm/config`` of one host.

    Attributes:
        overrides: settings changed by Put (leaf element name -> text);
            tests may set them too.
    """

    name = "config"
    resource_uris = (URI_CONFIG,)

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.overrides: dict[str, str] = {}

    def serves(self, uri: str) -> bool:
        return uri == URI_CONFIG

    def get(self, req: ParsedRequest) -> str:
        return self.config_xml()

    def put(self, req: ParsedRequest) -> str:
        body = req.body
        if body is None:
            raise Fault.schema_validation("The request body must contain a Config element. ")
        for el in body.iter():
            if isinstance(el.tag, str) and len(el) == 0 and el.text is not None:
                self.overrides[etree.QName(el).localname] = el.text.strip()
        return self.config_xml()

    def config_xml(self) -> str:
        """winrm/config as Windows returns it (corpus pypsrp-get-response-config.xml)."""
        behaviour = self.host.behaviour
        c = {
            "MaxEnvelopeSizekb": "500",
            "MaxTimeoutms": "60000",
            "MaxBatchItems": "32000",
            "MaxProviderRequests": "4294967295",
            "MaxConcurrentOperationsPerUser": str(behaviour.max_concurrent_operations or 1500),
            "EnumerationTimeoutms": str(int(behaviour.enumeration_timeout * 1000)),
            "AllowUnencrypted": "true",
            "Basic": "true",
        }
        c.update(self.overrides)
        return (
            f'<cfg:Config xmlns:cfg="{NS_WINRM_CONFIG}">'
            f"<cfg:MaxEnvelopeSizekb>{c['MaxEnvelopeSizekb']}</cfg:MaxEnvelopeSizekb>"
            f"<cfg:MaxTimeoutms>{c['MaxTimeoutms']}</cfg:MaxTimeoutms>"
            f"<cfg:MaxBatchItems>{c['MaxBatchItems']}</cfg:MaxBatchItems>"
            f"<cfg:MaxProviderRequests>{c['MaxProviderRequests']}</cfg:MaxProviderRequests>"
            "<cfg:Client><cfg:NetworkDelayms>5000</cfg:NetworkDelayms>"
            "<cfg:URLPrefix>wsman</cfg:URLPrefix><cfg:AllowUnencrypted>false"
            "</cfg:AllowUnencrypted><cfg:Auth><cfg:Basic>true</cfg:Basic><cfg:Digest>true"
            "</cfg:Digest><cfg:Kerberos>true</cfg:Kerberos><cfg:Negotiate>true</cfg:Negotiate>"
            "<cfg:Certificate>true</cfg:Certificate><cfg:CredSSP>false</cfg:CredSSP>"
            "</cfg:Auth><cfg:DefaultPorts><cfg:HTTP>5985</cfg:HTTP><cfg:HTTPS>5986</cfg:HTTPS>"
            "</cfg:DefaultPorts><cfg:TrustedHosts></cfg:TrustedHosts></cfg:Client>"
            "<cfg:Service><cfg:RootSDDL>O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;IU)S:P(AU;FA;GA;;;WD)"
            "(AU;SA;GXGW;;;WD)</cfg:RootSDDL>"
            "<cfg:MaxConcurrentOperations>4294967295</cfg:MaxConcurrentOperations>"
            "<cfg:MaxConcurrentOperationsPerUser>"
            f"{c['MaxConcurrentOperationsPerUser']}</cfg:MaxConcurrentOperationsPerUser>"
            f"<cfg:EnumerationTimeoutms>{c['EnumerationTimeoutms']}</cfg:EnumerationTimeoutms>"
            "<cfg:MaxConnections>300</cfg:MaxConnections>"
            "<cfg:MaxPacketRetrievalTimeSeconds>120</cfg:MaxPacketRetrievalTimeSeconds>"
            f"<cfg:AllowUnencrypted>{c['AllowUnencrypted']}</cfg:AllowUnencrypted>"
            f"<cfg:Auth><cfg:Basic>{c['Basic']}</cfg:Basic><cfg:Kerberos>true</cfg:Kerberos>"
            "<cfg:Negotiate>true</cfg:Negotiate><cfg:Certificate>false</cfg:Certificate>"
            "<cfg:CredSSP>true</cfg:CredSSP><cfg:CbtHardeningLevel>Relaxed"
            "</cfg:CbtHardeningLevel></cfg:Auth><cfg:DefaultPorts><cfg:HTTP>5985</cfg:HTTP>"
            "<cfg:HTTPS>5986</cfg:HTTPS></cfg:DefaultPorts><cfg:IPv4Filter>*</cfg:IPv4Filter>"
            "<cfg:IPv6Filter>*</cfg:IPv6Filter><cfg:EnableCompatibilityHttpListener>false"
            "</cfg:EnableCompatibilityHttpListener><cfg:EnableCompatibilityHttpsListener>false"
            "</cfg:EnableCompatibilityHttpsListener><cfg:CertificateThumbprint>"
            "</cfg:CertificateThumbprint><cfg:AllowRemoteAccess>true</cfg:AllowRemoteAccess>"
            "</cfg:Service><cfg:Winrs><cfg:AllowRemoteShellAccess>true"
            "</cfg:AllowRemoteShellAccess><cfg:IdleTimeout>7200000</cfg:IdleTimeout>"
            "<cfg:MaxConcurrentUsers>2147483647</cfg:MaxConcurrentUsers>"
            "<cfg:MaxShellRunTime>2147483647</cfg:MaxShellRunTime>"
            "<cfg:MaxProcessesPerShell>2147483647</cfg:MaxProcessesPerShell>"
            "<cfg:MaxMemoryPerShellMB>2147483647</cfg:MaxMemoryPerShellMB>"
            "<cfg:MaxShellsPerUser>2147483647</cfg:MaxShellsPerUser></cfg:Winrs></cfg:Config>"
        )
