"""Deterministic, Windows-like data for the simulated hosts.

Everything here is a pure function of ``(seed, host index)``: the same
server arguments always give the same hosts, and two hosts differ (name,
OS build, memory, running services, processes, disks...). Property names
and value shapes follow the Win32 classes as Windows returns them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import zlib
from collections.abc import Mapping
from typing import Final

from aiowsman.testing._bulk import BULK_CLASS, BulkTable, bulk_class
from aiowsman.testing._cim import (
    CimClass,
    CimInstance,
    CimMethod,
    CimReference,
    CimValue,
    Generator,
    HostStore,
    TableCache,
)
from aiowsman.testing._request import parse_duration

__all__ = ["CLASSES", "GENERATORS", "hostname_for", "make_store", "os_facts"]

#: The simulated "now" of every host: data must not depend on the wall clock.
REFERENCE_TIME: Final = dt.datetime(2026, 3, 2, 9, 30, 0, tzinfo=dt.timezone(dt.timedelta(0)))

_OS_CHOICES: Final = (
    # (Caption, Version, BuildNumber, ProductType) -- ProductType 3 = server
    ("Microsoft Windows Server 2019 Standard", "10.0.17763", "17763", 3),
    ("Microsoft Windows Server 2022 Datacenter", "10.0.20348", "20348", 3),
    ("Microsoft Windows Server 2016 Standard", "10.0.14393", "14393", 3),
    ("Microsoft Windows 10 Enterprise", "10.0.19045", "19045", 1),
)

DOMAIN: Final = "corp.example.com"


def hostname_for(index: int) -> str:
    """The NetBIOS name of simulated host ``index`` (``HOST0042``)."""
    return f"HOST{index:04d}"


def _rng(store: HostStore, what: str) -> random.Random:
    digest = hashlib.sha256(f"{store.seed}:{store.index}:{what}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


#: UTC offsets (minutes) of the hosts' clocks: datetimes carry them, as WMI's do.
_TZ_OFFSETS: Final = (0, 0, -420, -300, 60, 120, 330)


def tz_minutes(store: HostStore) -> int:
    """The host's UTC offset in minutes (Win32_OperatingSystem.CurrentTimeZone)."""
    digest = hashlib.sha256(f"{store.seed}:{store.index}:tz".encode()).digest()
    return _TZ_OFFSETS[digest[0] % len(_TZ_OFFSETS)]


def _local(store: HostStore, when: dt.datetime) -> dt.datetime:
    return when.astimezone(dt.timezone(dt.timedelta(minutes=tz_minutes(store))))


def os_facts(seed: int, index: int) -> tuple[str, str, str, int]:
    """(Caption, Version, BuildNumber, ProductType) of a host."""
    digest = hashlib.sha256(f"{seed}:{index}:os".encode()).digest()
    return _OS_CHOICES[digest[0] % len(_OS_CHOICES)]


# -- services ---------------------------------------------------------------------

_SVCHOST: Final = r"C:\Windows\system32\svchost.exe -k {group} -p"

# (Name, DisplayName, PathName or svchost group, StartMode, usual state, description)
_SERVICES: Final[tuple[tuple[str, str, str, str, str, str], ...]] = (
    (
        "AppIDSvc",
        "Application Identity",
        "LocalServiceNetworkRestricted",
        "Manual",
        "Stopped",
        "Determines and verifies the identity of an application.",
    ),
    (
        "Appinfo",
        "Application Information",
        "netsvcs",
        "Manual",
        "Running",
        "Facilitates the running of interactive applications with additional "
        "administrative privileges.",
    ),
    (
        "AppMgmt",
        "Application Management",
        "netsvcs",
        "Manual",
        "Stopped",
        "Processes installation, removal, and enumeration requests for software "
        "deployed through Group Policy.",
    ),
    (
        "AppReadiness",
        "App Readiness",
        "AppReadiness",
        "Manual",
        "Stopped",
        "Gets apps ready for use the first time a user signs in to this PC.",
    ),
    (
        "AppXSvc",
        "AppX Deployment Service (AppXSVC)",
        "wsappx",
        "Manual",
        "Stopped",
        "Provides infrastructure support for deploying Store applications.",
    ),
    (
        "AudioEndpointBuilder",
        "Windows Audio Endpoint Builder",
        "LocalSystemNetworkRestricted",
        "Manual",
        "Stopped",
        "Manages audio devices for the Windows Audio service.",
    ),
    (
        "Audiosrv",
        "Windows Audio",
        "LocalServiceNetworkRestricted",
        "Manual",
        "Stopped",
        "Manages audio for Windows-based programs.",
    ),
    (
        "BFE",
        "Base Filtering Engine",
        "LocalServiceNoNetworkFirewall",
        "Auto",
        "Running",
        "The Base Filtering Engine (BFE) is a service that manages firewall and IPsec policies.",
    ),
    (
        "BITS",
        "Background Intelligent Transfer Service",
        "netsvcs",
        "Manual",
        "Stopped",
        "Transfers files in the background using idle network bandwidth.",
    ),
    (
        "BrokerInfrastructure",
        "Background Tasks Infrastructure Service",
        "DcomLaunch",
        "Auto",
        "Running",
        "Windows infrastructure service that controls which background tasks can run.",
    ),
    (
        "CertPropSvc",
        "Certificate Propagation",
        "netsvcs",
        "Manual",
        "Stopped",
        "Copies user certificates and root certificates from smart cards.",
    ),
    (
        "COMSysApp",
        "COM+ System Application",
        r"C:\Windows\system32\dllhost.exe /Processid:"
        "{02D4B3F1-FD88-11D1-960D-00805FC79235}",
        "Manual",
        "Stopped",
        "Manages the configuration and tracking of Component Object Model (COM)+-based components.",
    ),
    (
        "CryptSvc",
        "Cryptographic Services",
        "NetworkService",
        "Auto",
        "Running",
        "Provides three management services: Catalog Database Service, Protected Root Service "
        "and Automatic Root Certificate Update Service.",
    ),
    (
        "DcomLaunch",
        "DCOM Server Process Launcher",
        "DcomLaunch",
        "Auto",
        "Running",
        "The DCOMLAUNCH service launches COM and DCOM servers in response to object activation "
        "requests.",
    ),
    (
        "Dhcp",
        "DHCP Client",
        "LocalServiceNetworkRestricted",
        "Auto",
        "Running",
        "Registers and updates IP addresses and DNS records for this computer.",
    ),
    (
        "DiagTrack",
        "Connected User Experiences and Telemetry",
        "utcsvc",
        "Auto",
        "Running",
        "The Connected User Experiences and Telemetry service enables features that support "
        "in-application and connected user experiences.",
    ),
    (
        "Dnscache",
        "DNS Client",
        "NetworkService",
        "Auto",
        "Running",
        "The DNS Client service (dnscache) caches Domain Name System (DNS) names.",
    ),
    (
        "DPS",
        "Diagnostic Policy Service",
        "LocalServiceNoNetwork",
        "Auto",
        "Running",
        "The Diagnostic Policy Service enables problem detection, troubleshooting and "
        "resolution for Windows components.",
    ),
    (
        "EventLog",
        "Windows Event Log",
        "LocalServiceNetworkRestricted",
        "Auto",
        "Running",
        "This service manages events and event logs.",
    ),
    (
        "EventSystem",
        "COM+ Event System",
        "LocalService",
        "Auto",
        "Running",
        "Supports System Event Notification Service (SENS).",
    ),
    (
        "FontCache",
        "Windows Font Cache Service",
        "LocalService",
        "Auto",
        "Running",
        "Optimizes performance of applications by caching commonly used font data.",
    ),
    (
        "gpsvc",
        "Group Policy Client",
        "GPSvcGroup",
        "Auto",
        "Running",
        "The service is responsible for applying settings configured by administrators.",
    ),
    (
        "HTTP",
        "HTTP Service",
        r"system32\drivers\HTTP.sys",
        "Manual",
        "Running",
        "This service implements the hypertext transfer protocol (HTTP).",
    ),
    (
        "IKEEXT",
        "IKE and AuthIP IPsec Keying Modules",
        "netsvcs",
        "Manual",
        "Stopped",
        "The IKEEXT service hosts the Internet Key Exchange (IKE) and Authenticated Internet "
        "Protocol (AuthIP) keying modules.",
    ),
    (
        "iphlpsvc",
        "IP Helper",
        "NetSvcs",
        "Auto",
        "Running",
        "Provides tunnel connectivity using IPv6 transition technologies.",
    ),
    (
        "KeyIso",
        "CNG Key Isolation",
        r"C:\Windows\system32\lsass.exe",
        "Manual",
        "Running",
        "The CNG key isolation service is hosted in the LSA process.",
    ),
    (
        "LanmanServer",
        "Server",
        "smbsvcs",
        "Auto",
        "Running",
        "Supports file, print, and named-pipe sharing over the network for this computer.",
    ),
    (
        "LanmanWorkstation",
        "Workstation",
        "NetworkService",
        "Auto",
        "Running",
        "Creates and maintains client network connections to remote servers using the SMB "
        "protocol.",
    ),
    (
        "lmhosts",
        "TCP/IP NetBIOS Helper",
        "LocalServiceNetworkRestricted",
        "Manual",
        "Running",
        "Provides support for the NetBIOS over TCP/IP (NetBT) service.",
    ),
    (
        "LSM",
        "Local Session Manager",
        "DcomLaunch",
        "Auto",
        "Running",
        "Core Windows Service that manages local user sessions.",
    ),
    (
        "MpsSvc",
        "Windows Defender Firewall",
        "LocalServiceNoNetworkFirewall",
        "Auto",
        "Running",
        "Windows Defender Firewall helps protect your computer by preventing unauthorized users "
        "from gaining access to your computer through the Internet or a network.",
    ),
    (
        "MSDTC",
        "Distributed Transaction Coordinator",
        r"C:\Windows\System32\msdtc.exe",
        "Auto",
        "Running",
        "Coordinates transactions that span multiple resource managers.",
    ),
    (
        "msiserver",
        "Windows Installer",
        r"C:\Windows\system32\msiexec.exe /V",
        "Manual",
        "Stopped",
        "Adds, modifies, and removes applications provided as a Windows Installer "
        "(*.msi, *.msp) package.",
    ),
    (
        "Netlogon",
        "Netlogon",
        r"C:\Windows\system32\lsass.exe",
        "Manual",
        "Stopped",
        "Maintains a secure channel between this computer and the domain controller.",
    ),
    (
        "Netman",
        "Network Connections",
        "LocalSystemNetworkRestricted",
        "Manual",
        "Stopped",
        "Manages objects in the Network and Dial-Up Connections folder.",
    ),
    (
        "netprofm",
        "Network List Service",
        "LocalService",
        "Manual",
        "Running",
        "Identifies the networks to which the computer has connected.",
    ),
    (
        "NlaSvc",
        "Network Location Awareness",
        "NetworkService",
        "Auto",
        "Running",
        "Collects and stores configuration information for the network.",
    ),
    (
        "nsi",
        "Network Store Interface Service",
        "LocalService",
        "Auto",
        "Running",
        "This service delivers network notifications (e.g. interface addition/deleting etc) "
        "to user mode clients.",
    ),
    (
        "PlugPlay",
        "Plug and Play",
        "DcomLaunch",
        "Manual",
        "Running",
        "Enables a computer to recognize and adapt to hardware changes with little or no user "
        "input.",
    ),
    (
        "PolicyAgent",
        "IPsec Policy Agent",
        "NetworkServiceNetworkRestricted",
        "Manual",
        "Stopped",
        "Internet Protocol security (IPsec) supports network-level peer authentication.",
    ),
    (
        "Power",
        "Power",
        "DcomLaunch",
        "Auto",
        "Running",
        "Manages power policy and power policy notification delivery.",
    ),
    (
        "ProfSvc",
        "User Profile Service",
        "netsvcs",
        "Auto",
        "Running",
        "This service is responsible for loading and unloading user profiles.",
    ),
    (
        "RemoteRegistry",
        "Remote Registry",
        "localService",
        "Auto",
        "Running",
        "Enables remote users to modify registry settings on this computer.",
    ),
    (
        "RpcEptMapper",
        "RPC Endpoint Mapper",
        "RPCSS",
        "Auto",
        "Running",
        "Resolves RPC interfaces identifiers to transport endpoints.",
    ),
    (
        "RpcSs",
        "Remote Procedure Call (RPC)",
        "rpcss",
        "Auto",
        "Running",
        "The RPCSS service is the Service Control Manager for COM and DCOM servers.",
    ),
    (
        "SamSs",
        "Security Accounts Manager",
        r"C:\Windows\system32\lsass.exe",
        "Auto",
        "Running",
        "The startup of this service signals other services that the Security Accounts Manager "
        "(SAM) is ready to accept requests.",
    ),
    (
        "Schedule",
        "Task Scheduler",
        "netsvcs",
        "Auto",
        "Running",
        "Enables a user to configure and schedule automated tasks on this computer.",
    ),
    (
        "SENS",
        "System Event Notification Service",
        "netsvcs",
        "Auto",
        "Running",
        "Monitors system events and notifies subscribers to COM+ Event System of these events.",
    ),
    (
        "SessionEnv",
        "Remote Desktop Configuration",
        "netsvcs",
        "Manual",
        "Running",
        "Remote Desktop Configuration service (RDCS) is responsible for all Remote Desktop "
        "Services and Remote Desktop related configuration.",
    ),
    (
        "ShellHWDetection",
        "Shell Hardware Detection",
        "netsvcs",
        "Auto",
        "Running",
        "Provides notifications for AutoPlay hardware events.",
    ),
    (
        "Spooler",
        "Print Spooler",
        r"C:\Windows\System32\spoolsv.exe",
        "Auto",
        "Running",
        "This service spools print jobs and handles interaction with the printer.",
    ),
    (
        "sppsvc",
        "Software Protection",
        r"C:\Windows\system32\sppsvc.exe",
        "Auto",
        "Stopped",
        "Enables the download, installation and enforcement of digital licenses for Windows.",
    ),
    (
        "SysMain",
        "SysMain",
        "LocalSystemNetworkRestricted",
        "Auto",
        "Running",
        "Maintains and improves system performance over time.",
    ),
    (
        "TermService",
        "Remote Desktop Services",
        "NetworkService",
        "Manual",
        "Running",
        "Allows users to connect interactively to a remote computer.",
    ),
    (
        "Themes",
        "Themes",
        "netsvcs",
        "Auto",
        "Running",
        "Provides user experience theme management.",
    ),
    (
        "TrustedInstaller",
        "Windows Modules Installer",
        r"C:\Windows\servicing\TrustedInstaller.exe",
        "Manual",
        "Stopped",
        "Enables installation, modification, and removal of Windows updates and optional "
        "components.",
    ),
    (
        "UALSVC",
        "User Access Logging Service",
        "netsvcs",
        "Auto",
        "Running",
        "This service logs unique client access requests, in the form of IP addresses and user "
        "names, of installed products and roles on the local server.",
    ),
    (
        "UsoSvc",
        "Update Orchestrator Service",
        "netsvcs",
        "Manual",
        "Running",
        "Manages Windows Updates. If stopped, your devices will not be able to download and "
        "install the latest updates.",
    ),
    (
        "VaultSvc",
        "Credential Manager",
        r"C:\Windows\system32\lsass.exe",
        "Manual",
        "Running",
        "Provides secure storage and retrieval of credentials to users, applications and "
        "security service packages.",
    ),
    (
        "vds",
        "Virtual Disk",
        r"C:\Windows\System32\vds.exe",
        "Manual",
        "Stopped",
        "Provides management services for disks, volumes, file systems, and storage arrays.",
    ),
    (
        "VSS",
        "Volume Shadow Copy",
        r"C:\Windows\system32\vssvc.exe",
        "Manual",
        "Stopped",
        "Manages and implements Volume Shadow Copies used for backup and other purposes.",
    ),
    (
        "W32Time",
        "Windows Time",
        "LocalService",
        "Manual",
        "Running",
        "Maintains date and time synchronization on all clients and servers in the network.",
    ),
    (
        "Wcmsvc",
        "Windows Connection Manager",
        "LocalServiceNetworkRestricted",
        "Auto",
        "Running",
        "Makes automatic connect/disconnect decisions based on the network "
        "connectivity options currently available to the PC.",
    ),
    (
        "WdiServiceHost",
        "Diagnostic Service Host",
        "LocalService",
        "Manual",
        "Running",
        "The Diagnostic Service Host is used by the Diagnostic Policy Service to host "
        "diagnostics that need to run in a Local Service context.",
    ),
    (
        "Wecsvc",
        "Windows Event Collector",
        "NetworkService",
        "Manual",
        "Stopped",
        "This service manages persistent subscriptions to events from remote sources.",
    ),
    (
        "WerSvc",
        "Windows Error Reporting Service",
        "WerSvcGroup",
        "Manual",
        "Stopped",
        "Allows errors to be reported when programs stop working or responding.",
    ),
    (
        "WinDefend",
        "Microsoft Defender Antivirus Service",
        r'"C:\ProgramData\Microsoft\Windows Defender\platform\4.18.2302.7-0\MsMpEng.exe"',
        "Auto",
        "Running",
        "Helps protect users from malware and other potentially unwanted software.",
    ),
    (
        "WinHttpAutoProxySvc",
        "WinHTTP Web Proxy Auto-Discovery Service",
        "LocalServiceNetworkRestricted",
        "Manual",
        "Running",
        "WinHTTP implements the client HTTP stack and provides developers with a Win32 API.",
    ),
    (
        "Winmgmt",
        "Windows Management Instrumentation",
        "netsvcs",
        "Auto",
        "Running",
        "Provides a common interface and object model to access management information about "
        "operating system, devices, applications and services.",
    ),
    (
        "WinRM",
        "Windows Remote Management (WS-Management)",
        "NetworkService",
        "Auto",
        "Running",
        "Windows Remote Management (WinRM) service implements the WS-Management "
        "protocol for remote management.",
    ),
    (
        "WSearch",
        "Windows Search",
        r"C:\Windows\system32\SearchIndexer.exe /Embedding",
        "Auto",
        "Running",
        "Provides content indexing, property caching, and search results "
        "for files, e-mail, and other content.",
    ),
    (
        "wuauserv",
        "Windows Update",
        "netsvcs",
        "Manual",
        "Stopped",
        "Enables the detection, download, and installation of updates for Windows and other "
        "programs.",
    ),
    (
        "Zabbix Agent",
        "Zabbix Agent",
        r'"C:\Program Files\Zabbix Agent\zabbix_agentd.exe" '
        r'--config "C:\Program Files\Zabbix Agent\zabbix_agentd.conf"',
        "Auto",
        "Running",
        "Zabbix agent \u2013 monitoring of this computer.",
    ),
    (
        "CafeSvc",
        "Caf\u00e9 Reservations",
        r"C:\Program Files\Caf\u00e9\cafesvc.exe",
        "Manual",
        "Stopped",
        "R\u00e9servations du caf\u00e9 \u2013 service de d\u00e9monstration.",
    ),
    (
        "JpSyncSvc",
        "\u540c\u671f\u30b5\u30fc\u30d3\u30b9",
        r"C:\Program Files\JpSync\sync.exe",
        "Manual",
        "Stopped",
        "\u30d5\u30a1\u30a4\u30eb\u540c\u671f\u30b5\u30fc\u30d3\u30b9",
    ),
)

#: Per-user services get a random suffix per host (Windows 10 / Server 2019+).
_PER_USER: Final = (
    ("CDPUserSvc", "Connected Devices Platform User Service"),
    ("OneSyncSvc", "Sync Host"),
    ("PimIndexMaintenanceSvc", "Contact Data"),
    ("UnistoreSvc", "User Data Storage"),
    ("UserDataSvc", "User Data Access"),
    ("WpnUserService", "Windows Push Notifications User Service"),
    ("cbdhsvc", "Clipboard User Service"),
)

# Filler services (drivers-as-services and vendor agents) up to ~200.
_FILLER_PREFIXES: Final = (
    "vmic",
    "Sql",
    "Veeam",
    "Citrix",
    "HP",
    "Dell",
    "Intel",
    "Nv",
    "Apache",
    "Splunk",
)

#: (dependent, antecedent): Win32_DependentService pairs (when both exist).
DEPENDENCIES: Final = (
    ("WinRM", "RpcSs"),
    ("WinRM", "HTTP"),
    ("LanmanServer", "SamSs"),
    ("Netlogon", "LanmanWorkstation"),
    ("Schedule", "RpcSs"),
    ("Schedule", "SENS"),
    ("Spooler", "RpcSs"),
    ("Spooler", "HTTP"),
    ("Winmgmt", "RpcSs"),
    ("EventSystem", "RpcSs"),
    ("SENS", "EventSystem"),
    ("Dnscache", "nsi"),
    ("Dhcp", "nsi"),
    ("iphlpsvc", "nsi"),
    ("iphlpsvc", "Winmgmt"),
    ("RpcSs", "RpcEptMapper"),
    ("RpcSs", "DcomLaunch"),
    ("MSDTC", "RpcSs"),
    ("TermService", "RpcSs"),
    ("WSearch", "RpcSs"),
)

_BASE_SERVICE_PROPS: Final = (
    "AcceptPause",
    "AcceptStop",
    "Caption",
    "CreationClassName",
    "Description",
    "DesktopInteract",
    "DisplayName",
    "ErrorControl",
    "ExitCode",
    "InstallDate",
    "Name",
    "PathName",
    "ServiceSpecificExitCode",
    "ServiceType",
    "Started",
    "StartMode",
    "StartName",
    "State",
    "Status",
    "SystemCreationClassName",
    "SystemName",
    "TagId",
)
_SERVICE_PROPS: Final = (
    *_BASE_SERVICE_PROPS,
    "CheckPoint",
    "DelayedAutoStart",
    "ProcessId",
    "WaitHint",
)


def _service_path(path: str) -> str:
    if "\\" in path or path.startswith('"'):
        return path
    return _SVCHOST.format(group=path)


def _make_service(
    store: HostStore,
    name: str,
    display: str,
    path: str,
    start_mode: str,
    state: str,
    description: str,
    pid: int | None,
) -> CimInstance:
    running = state == "Running"
    start_name = "LocalSystem"
    if "LocalService" in path:
        start_name = r"NT AUTHORITY\LocalService"
    elif "NetworkService" in path:
        start_name = r"NT AUTHORITY\NetworkService"
    values: dict[str, CimValue] = {
        "AcceptPause": False,
        "AcceptStop": running,
        "Caption": display,
        "CheckPoint": 0,
        "CreationClassName": "Win32_Service",
        "DelayedAutoStart": name in ("sppsvc", "WinRM", "MapsBroker"),
        "Description": description,
        "DesktopInteract": False,
        "DisplayName": display,
        "ErrorControl": "Normal",
        "ExitCode": 0 if running else 1077,
        "InstallDate": None,
        "Name": name,
        "PathName": _service_path(path),
        "ProcessId": pid if running and pid is not None else 0,
        "ServiceSpecificExitCode": 0,
        "ServiceType": "Share Process" if "svchost" in _service_path(path) else "Own Process",
        "Started": running,
        "StartMode": start_mode,
        "StartName": start_name,
        "State": state,
        "Status": "OK",
        "SystemCreationClassName": "Win32_ComputerSystem",
        "SystemName": store.hostname,
        "TagId": 0,
        "WaitHint": 0,
    }
    return CimInstance("Win32_Service", values)


def _gen_services(store: HostStore) -> list[CimInstance]:
    rng = _rng(store, "services")
    out: list[CimInstance] = []
    for name, display, path, mode, state, desc in _SERVICES:
        # A few hosts differ from the usual state, so hosts are distinct.
        if name not in ("WinRM", "RpcSs", "HTTP") and rng.random() < 0.08:
            state = "Stopped" if state == "Running" else "Running"
        out.append(
            _make_service(
                store, name, display, path, mode, state, desc, rng.randrange(400, 9000, 4)
            )
        )
    suffix = f"{rng.getrandbits(20):05x}"
    for base, display in _PER_USER:
        out.append(
            _make_service(
                store,
                f"{base}_{suffix}",
                f"{display}_{suffix}",
                "UnistackSvcGroup",
                "Auto",
                "Running",
                f"{display} for the signed-in user.",
                rng.randrange(400, 9000, 4),
            )
        )
    filler = 200 - len(out)
    for i in range(filler):
        prefix = _FILLER_PREFIXES[i % len(_FILLER_PREFIXES)]
        name = f"{prefix}Svc{i:03d}"
        state = "Running" if rng.random() < 0.4 else "Stopped"
        mode = rng.choice(("Auto", "Manual", "Manual", "Disabled"))
        if mode == "Disabled":
            state = "Stopped"
        path = rf"C:\Program Files\{prefix}\Agent {i}\{name.lower()}.exe"
        out.append(
            _make_service(
                store,
                name,
                f"{prefix} Agent Service {i}",
                path,
                mode,
                state,
                f"{prefix} management agent number {i}.",
                rng.randrange(400, 9000, 4),
            )
        )
    return out


def _gen_drivers(store: HostStore) -> list[CimInstance]:
    rng = _rng(store, "drivers")
    out: list[CimInstance] = []
    for name in (
        "ACPI",
        "disk",
        "Tcpip",
        "NTFS",
        "volmgr",
        "storahci",
        "mountmgr",
        "Null",
        "Beep",
        "afd",
        "netbt",
        "vmbus",
    ):
        running = name != "Beep" or rng.random() < 0.5
        values: dict[str, CimValue] = {p: None for p in _BASE_SERVICE_PROPS}
        values.update(
            {
                "AcceptPause": False,
                "AcceptStop": running,
                "Caption": name,
                "CreationClassName": "Win32_SystemDriver",
                "Description": name,
                "DesktopInteract": False,
                "DisplayName": name,
                "ErrorControl": "Normal",
                "ExitCode": 0,
                "Name": name,
                "PathName": rf"C:\Windows\system32\drivers\{name.lower()}.sys",
                "ServiceSpecificExitCode": 0,
                "ServiceType": "Kernel Driver",
                "Started": running,
                "StartMode": "Boot" if name in ("ACPI", "disk", "NTFS") else "System",
                "StartName": "",
                "State": "Running" if running else "Stopped",
                "Status": "OK",
                "SystemCreationClassName": "Win32_ComputerSystem",
                "SystemName": store.hostname,
                "TagId": rng.randrange(1, 40),
            }
        )
        out.append(CimInstance("Win32_SystemDriver", values))
    return out


def _gen_dependencies(store: HostStore) -> list[CimInstance]:
    names = {str(i.values["Name"]) for i in store.instances("Win32_Service")}
    out = []
    for dependent, antecedent in DEPENDENCIES:
        if dependent in names and antecedent in names:
            out.append(
                CimInstance(
                    "Win32_DependentService",
                    {
                        "Antecedent": CimReference("Win32_Service", (("Name", antecedent),)),
                        "Dependent": CimReference("Win32_Service", (("Name", dependent),)),
                        "TypeOfDependency": None,
                    },
                )
            )
    return out


# -- operating system and hardware ------------------------------------------------


def _boot_time(store: HostStore) -> dt.datetime:
    rng = _rng(store, "boot")
    return _local(store, REFERENCE_TIME - dt.timedelta(seconds=rng.randrange(3600, 90 * 86400)))


def _gen_os(store: HostStore) -> list[CimInstance]:
    caption, version, build, product_type = os_facts(store.seed, store.index)
    rng = _rng(store, "os")
    install = _local(store, REFERENCE_TIME - dt.timedelta(days=rng.randrange(100, 1500)))
    memory_kb = store_memory_bytes(store) // 1024
    values: dict[str, CimValue] = {
        "BootDevice": r"\Device\HarddiskVolume1",
        "BuildNumber": build,
        "BuildType": "Multiprocessor Free",
        "Caption": caption,
        "CodeSet": "1252",
        "CountryCode": "1",
        "CreationClassName": "Win32_OperatingSystem",
        "CSCreationClassName": "Win32_ComputerSystem",
        "CSDVersion": None,
        "CSName": store.hostname,
        "CurrentTimeZone": tz_minutes(store),
        "FreePhysicalMemory": memory_kb * rng.randrange(20, 70) // 100,
        "FreeVirtualMemory": memory_kb * rng.randrange(30, 90) // 100,
        "InstallDate": install,
        "LastBootUpTime": _boot_time(store),
        "LocalDateTime": _local(store, REFERENCE_TIME),
        "Locale": "0409",
        "Manufacturer": "Microsoft Corporation",
        "MUILanguages": ["en-US"],
        "Name": f"{caption}|C:\\Windows|\\Device\\Harddisk0\\Partition2",
        "NumberOfProcesses": 100,
        "NumberOfUsers": rng.randrange(1, 6),
        "OSArchitecture": "64-bit",
        "OSLanguage": 1033,
        "OSType": 18,
        "PortableOperatingSystem": False,
        "Primary": True,
        "ProductType": product_type,
        "RegisteredUser": "Windows User",
        "SerialNumber": f"00429-{rng.randrange(10000, 99999)}-{rng.randrange(10000, 99999)}-AA"
        f"{rng.randrange(100, 999)}",
        "ServicePackMajorVersion": 0,
        "ServicePackMinorVersion": 0,
        "Status": "OK",
        "SystemDevice": r"\Device\HarddiskVolume2",
        "SystemDirectory": r"C:\Windows\system32",
        "SystemDrive": "C:",
        "TotalVirtualMemorySize": memory_kb + 1_966_080,
        "TotalVisibleMemorySize": memory_kb,
        "Version": version,
        "WindowsDirectory": r"C:\Windows",
    }
    return [CimInstance("Win32_OperatingSystem", values)]


def store_memory_bytes(store: HostStore) -> int:
    rng = _rng(store, "memory")
    return rng.choice((4, 8, 8, 16, 16, 32, 64)) * 1024**3 - rng.randrange(0, 2**28, 4096)


def _gen_computer_system(store: HostStore) -> list[CimInstance]:
    rng = _rng(store, "cs")
    cpus = rng.choice((1, 2, 2, 4))
    values: dict[str, CimValue] = {
        "AdminPasswordStatus": 3,
        "AutomaticResetBootOption": True,
        "BootupState": "Normal boot",
        "Caption": store.hostname,
        "CreationClassName": "Win32_ComputerSystem",
        "CurrentTimeZone": tz_minutes(store),
        "DNSHostName": store.hostname.lower(),
        "Domain": DOMAIN,
        "DomainRole": 3,
        "HypervisorPresent": True,
        "Manufacturer": rng.choice(("VMware, Inc.", "Microsoft Corporation", "Dell Inc.")),
        "Model": rng.choice(("VMware7,1", "Virtual Machine", "PowerEdge R640")),
        "Name": store.hostname,
        "NumberOfLogicalProcessors": cpus * 2,
        "NumberOfProcessors": cpus,
        "PartOfDomain": True,
        "PCSystemType": 0,
        "PrimaryOwnerName": "Windows User",
        "Roles": ["LM_Workstation", "LM_Server", "NT", "Server_NT"],
        "Status": "OK",
        "SystemType": "x64-based PC",
        "TotalPhysicalMemory": store_memory_bytes(store),
        "UserName": None,
        "Workgroup": None,
    }
    return [CimInstance("Win32_ComputerSystem", values)]


def _gen_bios(store: HostStore) -> list[CimInstance]:
    rng = _rng(store, "bios")
    version = f"{rng.randrange(1, 3)}.{rng.randrange(0, 20)}.{rng.randrange(0, 9)}"
    values: dict[str, CimValue] = {
        "BIOSVersion": ["INTEL  - 6040000", f"PhoenixBIOS 4.0 Release {version}"],
        "Caption": f"PhoenixBIOS 4.0 Release {version}",
        "Manufacturer": "Phoenix Technologies LTD",
        "Name": f"PhoenixBIOS 4.0 Release {version}",
        "PrimaryBIOS": True,
        "ReleaseDate": REFERENCE_TIME.replace(
            year=2020, month=rng.randrange(1, 13), day=1, hour=0, minute=0, second=0
        ),
        "SerialNumber": f"VMware-{rng.getrandbits(64):016x}",
        "SMBIOSBIOSVersion": version,
        "SMBIOSMajorVersion": 2,
        "SMBIOSMinorVersion": 7,
        "SoftwareElementID": f"PhoenixBIOS 4.0 Release {version}",
        "SoftwareElementState": 3,
        "Status": "OK",
        "TargetOperatingSystem": 0,
        "Version": "INTEL  - 6040000",
    }
    return [CimInstance("Win32_BIOS", values)]


def _gen_disks(store: HostStore) -> list[CimInstance]:
    rng = _rng(store, "disks")
    out = []
    letters = ["C:"] + [f"{c}:" for c in "DEF"[: rng.randrange(0, 4)]]
    for letter in letters:
        size = rng.choice((60, 100, 127, 250, 500, 1000)) * 1024**3
        values: dict[str, CimValue] = {
            "Caption": letter,
            "Compressed": False,
            "CreationClassName": "Win32_LogicalDisk",
            "Description": "Local Fixed Disk",
            "DeviceID": letter,
            "DriveType": 3,
            "FileSystem": "NTFS",
            "FreeSpace": size * rng.randrange(5, 95) // 100,
            "MediaType": 12,
            "Name": letter,
            "Size": size,
            "SystemCreationClassName": "Win32_ComputerSystem",
            "SystemName": store.hostname,
            "VolumeName": "OS" if letter == "C:" else f"Data{letter[0]}",
            "VolumeSerialNumber": f"{rng.getrandbits(32):08X}",
        }
        out.append(CimInstance("Win32_LogicalDisk", values))
    return out


_PROCESS_NAMES: Final = (
    "System Idle Process",
    "System",
    "Registry",
    "smss.exe",
    "csrss.exe",
    "wininit.exe",
    "services.exe",
    "lsass.exe",
    "winlogon.exe",
    "fontdrvhost.exe",
    "dwm.exe",
    "spoolsv.exe",
    "MsMpEng.exe",
    "WmiPrvSE.exe",
    "dllhost.exe",
    "msdtc.exe",
    "conhost.exe",
    "explorer.exe",
    "SearchIndexer.exe",
    "taskhostw.exe",
    "sihost.exe",
    "ctfmon.exe",
    "RuntimeBroker.exe",
    "powershell.exe",
    "wsmprovhost.exe",
)


def _gen_processes(store: HostStore) -> list[CimInstance]:
    rng = _rng(store, "processes")
    caption = os_facts(store.seed, store.index)[0]
    boot = _boot_time(store)
    out = []
    pids = [0, 4, *sorted(rng.sample(range(100, 20000, 4), 98))]
    for n, pid in enumerate(pids):
        if n < len(_PROCESS_NAMES):
            name = _PROCESS_NAMES[n]
        else:
            name = rng.choice(
                (
                    "svchost.exe",
                    "svchost.exe",
                    "svchost.exe",
                    "conhost.exe",
                    "RuntimeBroker.exe",
                    "WmiPrvSE.exe",
                )
            )
        system = pid in (0, 4)
        path = None if system or name == "Registry" else rf"C:\Windows\system32\{name}"
        cmd = (
            None
            if path is None
            else (f"{path} -k netsvcs -p -s Schedule" if name == "svchost.exe" else path)
        )
        values: dict[str, CimValue] = {
            "Caption": name,
            "CommandLine": cmd,
            "CreationClassName": "Win32_Process",
            "CreationDate": None
            if system
            else boot
            + dt.timedelta(seconds=rng.randrange(5, 9000), microseconds=rng.randrange(0, 999999)),
            "CSCreationClassName": "Win32_ComputerSystem",
            "CSName": store.hostname,
            "Description": name,
            "ExecutablePath": path,
            "ExecutionState": None,
            "Handle": str(pid),
            "HandleCount": rng.randrange(0, 3000),
            "KernelModeTime": rng.randrange(0, 10**10),
            "Name": name,
            "OSCreationClassName": "Win32_OperatingSystem",
            "OSName": f"{caption}|C:\\Windows|\\Device\\Harddisk0\\Partition2",
            "PageFaults": rng.randrange(1, 10**6),
            "ParentProcessId": 0 if system else rng.choice(pids[:8]),
            "Priority": 0 if pid == 0 else rng.choice((8, 8, 8, 13, 11)),
            "ProcessId": pid,
            "SessionId": 0 if n < 20 else rng.choice((0, 1, 2)),
            "Status": None,
            "TerminationDate": None,
            "ThreadCount": rng.randrange(1, 80),
            "UserModeTime": rng.randrange(0, 10**9),
            "VirtualSize": rng.randrange(10**6, 10**10),
            "WindowsVersion": os_facts(store.seed, store.index)[1],
            "WorkingSetSize": rng.randrange(24576, 10**9, 4096),
        }
        out.append(CimInstance("Win32_Process", values))
    return out


def _gen_environment(store: HostStore) -> list[CimInstance]:
    def env(name: str, value: str, user: str = "<SYSTEM>") -> CimInstance:
        return CimInstance(
            "Win32_Environment",
            {
                "Caption": f"{user}\\{name}",
                "Description": f"{user}\\{name}",
                "Name": name,
                "Status": "OK",
                "SystemVariable": user == "<SYSTEM>",
                "UserName": user,
                "VariableValue": value,
            },
        )

    cpus = 4
    return [
        env("ComSpec", r"%SystemRoot%\system32\cmd.exe"),
        env("NUMBER_OF_PROCESSORS", str(cpus)),
        env("OS", "Windows_NT"),
        env("Path", r"%SystemRoot%\system32;%SystemRoot%;%SystemRoot%\System32\Wbem"),
        env("PROCESSOR_ARCHITECTURE", "AMD64"),
        env(
            "TEMP",
            r"%USERPROFILE%\AppData\Local\Temp",
            f"{DOMAIN.split('.')[0].upper()}"
            r"\Administrator",
        ),
        env("windir", r"%SystemRoot%"),
    ]


# -- methods --------------------------------------------------------------------------


def _dependents_running(store: HostStore, name: str) -> bool:
    for assoc in store.instances("Win32_DependentService"):
        ante = assoc.values["Antecedent"]
        dep = assoc.values["Dependent"]
        if (
            isinstance(ante, CimReference)
            and isinstance(dep, CimReference)
            and (ante.keys[0][1] == name)
        ):
            other = store.find("Win32_Service", {"Name": dep.keys[0][1]})
            if other is not None and other.values["State"] == "Running":
                return True
    return False


def _stop_service(
    store: HostStore, inst: CimInstance | None, inputs: dict[str, str]
) -> dict[str, CimValue]:
    # Win32_Service.StopService return codes (WMI docs): 0 success, 3 active
    # dependent services, 5 cannot accept control (already stopped).
    assert inst is not None
    if inst.values["State"] != "Running":
        return {"ReturnValue": 5}
    if _dependents_running(store, str(inst.values["Name"])):
        return {"ReturnValue": 3}
    for k, v in (
        ("State", "Stopped"),
        ("Started", False),
        ("ProcessId", 0),
        ("AcceptStop", False),
        ("ExitCode", 0),
    ):
        inst.set(k, v)
    store.touch()
    return {"ReturnValue": 0}


def _start_service(
    store: HostStore, inst: CimInstance | None, inputs: dict[str, str]
) -> dict[str, CimValue]:
    # 10 = service already running; 14 = service disabled.
    assert inst is not None
    if inst.values["State"] == "Running":
        return {"ReturnValue": 10}
    if inst.values["StartMode"] == "Disabled":
        return {"ReturnValue": 14}
    key = f"{store.seed}:{store.index}:{inst.values['Name']}".encode()
    pid = 1000 + (zlib.crc32(key) % 8000) * 4
    for k, v in (("State", "Running"), ("Started", True), ("ProcessId", pid), ("AcceptStop", True)):
        inst.set(k, v)
    store.touch()
    return {"ReturnValue": 0}


def _change_start_mode(
    store: HostStore, inst: CimInstance | None, inputs: dict[str, str]
) -> dict[str, CimValue]:
    assert inst is not None
    mode = inputs.get("StartMode", "")
    mapping = {
        "boot": "Boot",
        "system": "System",
        "automatic": "Auto",
        "manual": "Manual",
        "disabled": "Disabled",
    }
    if mode.lower() not in mapping:
        return {"ReturnValue": 21}  # Invalid parameter
    inst.set("StartMode", mapping[mode.lower()])
    store.touch()
    return {"ReturnValue": 0}


def _create_process(
    store: HostStore, inst: CimInstance | None, inputs: dict[str, str]
) -> dict[str, CimValue]:
    command = inputs.get("CommandLine", "")
    if not command:
        return {"ProcessId": None, "ReturnValue": 21}
    used = {int(str(p.values["ProcessId"])) for p in store.instances("Win32_Process")}
    pid = 20004
    while pid in used:
        pid += 4
    exe = command.split(" ", 1)[0].strip('"')
    name = exe.rsplit("\\", 1)[-1]
    template = next(iter(store.instances("Win32_Process")))
    values = dict(template.values)
    values.update(
        {
            "Caption": name,
            "CommandLine": command,
            "Description": name,
            "ExecutablePath": exe,
            "Handle": str(pid),
            "Name": name,
            "ProcessId": pid,
            "CreationDate": _local(store, REFERENCE_TIME),
        }
    )
    store.add(CimInstance("Win32_Process", values))
    return {"ProcessId": pid, "ReturnValue": 0}


def _terminate_process(
    store: HostStore, inst: CimInstance | None, inputs: dict[str, str]
) -> dict[str, CimValue]:
    assert inst is not None
    store.remove(inst)
    return {"ReturnValue": 0}


# -- AIOWSMAN_Schedule: the simulator's class of writable datetimes and intervals -------
#
# No WMI class has writable datetime *and* interval properties, yet they are
# what differs most between servers (DSP0230 wrappers on Windows, bare text
# on OMI: see aiowsman.testing._flavour). This class of the simulator's own
# (like AIOWSMAN_BulkItem) has them: Put, Create, Delete, and a method whose
# parameters are an interval and a datetime.

SCHEDULE_CLASS: Final = "AIOWSMAN_Schedule"
_SCHEDULE_PROPS: Final = ("Command", "Every", "Name", "Start", "Until")


def _gen_schedules(store: HostStore) -> list[CimInstance]:
    start = _local(store, REFERENCE_TIME + dt.timedelta(hours=14, minutes=30))
    return [
        CimInstance(
            SCHEDULE_CLASS,
            {
                "Command": r"C:\Tools\backup.exe /full",
                "Every": dt.timedelta(days=1),
                "Name": "Backup",
                "Start": start,
                "Until": None,
            },
        ),
        CimInstance(
            SCHEDULE_CLASS,
            {
                "Command": "cleanmgr.exe /sagerun:1",
                "Every": dt.timedelta(days=7, hours=1, microseconds=250),
                "Name": "Cleanup",
                "Start": start + dt.timedelta(minutes=45),
                "Until": _local(store, REFERENCE_TIME + dt.timedelta(days=365)),
            },
        ),
    ]


def _postpone(
    store: HostStore, inst: CimInstance | None, inputs: dict[str, str]
) -> dict[str, CimValue]:
    """Postpone(By: interval, Until: datetime) -> Start: move the start, maybe the end."""
    assert inst is not None
    start = inst.values.get("Start")
    by = inputs.get("By")
    if not isinstance(start, dt.datetime) or not by:
        return {"ReturnValue": 87}  # ERROR_INVALID_PARAMETER, as WMI methods return it
    inst.set("Start", start + dt.timedelta(seconds=parse_duration(by)))
    until = inputs.get("Until")
    if until:
        inst.set("Until", dt.datetime.fromisoformat(until))
    store.touch()
    return {"Start": inst.values["Start"], "ReturnValue": 0}


# -- the catalogue ----------------------------------------------------------------------

CLASSES: Final[Mapping[str, CimClass]] = {
    "Win32_BaseService": CimClass("Win32_BaseService", ("Name",), _BASE_SERVICE_PROPS),
    "Win32_Service": CimClass(
        "Win32_Service",
        ("Name",),
        _SERVICE_PROPS,
        superclass="Win32_BaseService",
        methods={
            "StartService": CimMethod("StartService", _start_service),
            "StopService": CimMethod("StopService", _stop_service),
            "ChangeStartMode": CimMethod("ChangeStartMode", _change_start_mode),
        },
    ),
    "Win32_SystemDriver": CimClass(
        "Win32_SystemDriver", ("Name",), _BASE_SERVICE_PROPS, superclass="Win32_BaseService"
    ),
    "Win32_DependentService": CimClass(
        "Win32_DependentService",
        ("Antecedent", "Dependent"),
        ("Antecedent", "Dependent", "TypeOfDependency"),
        association_roles=("Antecedent", "Dependent"),
    ),
    "Win32_OperatingSystem": CimClass("Win32_OperatingSystem", ("Name",), ()),
    "Win32_ComputerSystem": CimClass("Win32_ComputerSystem", ("Name",), ()),
    "Win32_BIOS": CimClass(
        "Win32_BIOS",
        ("Name", "SoftwareElementID", "SoftwareElementState", "TargetOperatingSystem", "Version"),
        (),
    ),
    "Win32_LogicalDisk": CimClass("Win32_LogicalDisk", ("DeviceID",), ()),
    "Win32_Process": CimClass(
        "Win32_Process",
        ("Handle",),
        (),
        methods={
            "Create": CimMethod("Create", _create_process, static=True),
            "Terminate": CimMethod("Terminate", _terminate_process),
        },
    ),
    # Writable: WMI lets Win32_Environment be created (Create), changed (Put)
    # and deleted (Delete) over WS-Man.
    "Win32_Environment": CimClass(
        "Win32_Environment",
        ("Name", "UserName"),
        ("Caption", "Description", "Name", "Status", "SystemVariable", "UserName", "VariableValue"),
        writable=True,
        creatable=True,
    ),
    SCHEDULE_CLASS: CimClass(
        SCHEDULE_CLASS,
        ("Name",),
        _SCHEDULE_PROPS,
        writable=True,
        creatable=True,
        methods={
            "Postpone": CimMethod(
                "Postpone", _postpone, input_types={"By": "interval", "Until": "datetime"}
            )
        },
        types={"Every": "interval", "Start": "datetime", "Until": "datetime"},
    ),
}

GENERATORS: Final[Mapping[str, Generator]] = {
    "Win32_Service": _gen_services,
    "Win32_SystemDriver": _gen_drivers,
    "Win32_DependentService": _gen_dependencies,
    "Win32_OperatingSystem": _gen_os,
    "Win32_ComputerSystem": _gen_computer_system,
    "Win32_BIOS": _gen_bios,
    "Win32_LogicalDisk": _gen_disks,
    "Win32_Process": _gen_processes,
    "Win32_Environment": _gen_environment,
    SCHEDULE_CLASS: _gen_schedules,
}


#: CLASSES plus AIOWSMAN_BulkItem, for hosts that serve the bulk class.
_CLASSES_WITH_BULK: Final[Mapping[str, CimClass]] = {**CLASSES, BULK_CLASS: bulk_class()}


def make_store(
    seed: int, index: int, cache: TableCache | None = None, *, bulk: int = 0
) -> HostStore:
    """The store of host ``index``: same arguments, same data.

    Args:
        seed: the data seed.
        index: the host index.
        cache: the shared instance budget.
        bulk: when positive, the host also has ``AIOWSMAN_BulkItem`` with this
            many instances, made on demand (see :mod:`aiowsman.testing._bulk`).
    """
    hostname = hostname_for(index)
    virtual = (
        {BULK_CLASS: BulkTable(seed=seed, index=index, hostname=hostname, count=bulk)}
        if bulk > 0
        else None
    )
    return HostStore(
        index=index,
        seed=seed,
        hostname=hostname,
        classes=_CLASSES_WITH_BULK if bulk > 0 else CLASSES,
        generators=GENERATORS,
        cache=cache,
        virtual=virtual,
    )
