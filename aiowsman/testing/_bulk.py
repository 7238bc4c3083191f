"""A big synthetic class for enumeration benchmarks: ``AIOWSMAN_BulkItem``.

``WSManTestServer(bulk_instances=N)`` (``python -m aiowsman.testing
--bulk-class N``) gives every simulated host this class with ``N`` instances,
keyed by ``Id`` (1..N). Nothing is stored: an instance is a pure function of
``(seed, host index, Id)``, built when a request needs it and forgotten
afterwards, so serving 200,000 items costs no more memory than serving 200.

Each instance has about the shape and size of a ``Win32_Service`` instance
(about 2.2 KB rendered: 36 properties -- strings, numbers, booleans,
datetimes, an array, a null). It renders exactly as
:func:`aiowsman.testing._cim.render_instance` would render its values (the
tests check that), through one precompiled template, because an enumeration
of 200,000 items must not make the server the bottleneck of a client
benchmark.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Mapping
from typing import Final

from aiowsman.protocol.namespaces import NS_CIM_COMMON, NS_XSI, URI_WMICIMV2
from aiowsman.testing._cim import CimClass, CimInstance, CimValue

__all__ = ["BULK_CLASS", "BULK_URI", "BulkTable", "bulk_class"]

BULK_CLASS: Final = "AIOWSMAN_BulkItem"
#: The resource URI of the bulk class (in root/cimv2, like the Win32 classes).
BULK_URI: Final = f"{URI_WMICIMV2}/{BULK_CLASS}"

#: Every property, in the order render_instance writes them (case-insensitive
#: name order).
BULK_PROPERTIES: Final = (
    "AcceptPause",
    "AcceptStop",
    "Caption",
    "Category",
    "CheckPoint",
    "Checksum",
    "CreationClassName",
    "Description",
    "DesktopInteract",
    "DisplayName",
    "Enabled",
    "ErrorControl",
    "ExitCode",
    "Id",
    "InstallDate",
    "LastModified",
    "LoadOrderGroup",
    "Name",
    "Owner",
    "PathName",
    "Priority",
    "ProcessId",
    "ServiceSpecificExitCode",
    "ServiceType",
    "SizeBytes",
    "StartMode",
    "StartName",
    "State",
    "Status",
    "SystemCreationClassName",
    "SystemName",
    "TagId",
    "Tags",
    "Vendor",
    "Version",
    "WaitHint",
)

_EPOCH: Final = dt.datetime(2026, 3, 2, 9, 30, 0, tzinfo=dt.UTC)
_VENDORS: Final = ("Contoso", "Fabrikam", "Northwind", "Litware", "Tailspin", "Woodgrove")
_CATEGORIES: Final = ("Agent", "Collector", "Connector", "Scheduler", "Updater", "Monitor")
_MODES: Final = ("Auto", "Manual", "Manual", "Disabled")
_START_NAMES: Final = (
    "LocalSystem",
    r"NT AUTHORITY\LocalService",
    r"NT AUTHORITY\NetworkService",
)
_TAGS: Final = ("inventory", "telemetry", "backup", "compliance", "patching", "logging")
# No character here needs XML escaping (the template inserts values as they are).
_DESCRIPTIONS: Final = tuple(
    f"The {c.lower()} component of the {v} operations suite: it collects, filters and "
    f"forwards records for the management service of this computer. If this item is "
    f"stopped, {c.lower()} tasks of the {v} suite are queued until it starts again. "
    f"If it is disabled, the {v} console reports this computer as unmanaged and no "
    f"{c.lower()} records are sent; other components of the suite keep running."
    for v in _VENDORS
    for c in _CATEGORIES
)


def bulk_class() -> CimClass:
    """The CIM class description of ``AIOWSMAN_BulkItem`` (read-only, no methods)."""
    return CimClass(BULK_CLASS, ("Id",), BULK_PROPERTIES)


class BulkTable:
    """The ``count`` instances of ``AIOWSMAN_BulkItem`` on one host, made on demand.

    Position ``i`` (0-based) holds ``Id = i + 1``; the table's order is the
    enumeration order.

    Args:
        seed: the server's data seed.
        index: the host index.
        hostname: the host's name (``SystemName``).
        count: the number of instances.
    """

    __slots__ = ("_head", "_prefix", "count", "hostname")

    def __init__(self, *, seed: int, index: int, hostname: str, count: int) -> None:
        if count < 0:
            raise ValueError("count must be >= 0")
        self.count = count
        self.hostname = hostname
        self._prefix = f"{seed}:{index}:".encode()
        self._head = (
            f'<p:{BULK_CLASS} xmlns:p="{BULK_URI}" xmlns:cim="{NS_CIM_COMMON}" '
            f'xmlns:xsi="{NS_XSI}" xsi:type="p:{BULK_CLASS}_Type">'
        )

    def position(self, key: Mapping[str, str]) -> int | None:
        """The position of the instance whose key is ``key`` (names lower-cased), or None."""
        raw = key.get("id", "").strip()
        if not raw.isdigit():
            return None
        ident = int(raw)
        return ident - 1 if 1 <= ident <= self.count else None

    def _derive(self, position: int) -> _Fields:
        """The varying facts of the instance at ``position`` (one hash, no objects)."""
        ident = position + 1
        digest = hashlib.blake2b(self._prefix + str(ident).encode(), digest_size=16).digest()
        h = int.from_bytes(digest, "big")
        mode = _MODES[(h >> 6) % 4]
        tag_bits = (h >> 40) % 216
        return (
            ident,
            _VENDORS[h % 6],
            _CATEGORIES[(h >> 3) % 6],
            mode,
            mode != "Disabled" and (h >> 8) % 5 < 3,
            digest.hex().upper(),
            _DESCRIPTIONS[(h >> 12) % len(_DESCRIPTIONS)],
            (h >> 20) % 90_000_000,
            (h >> 50) % 3_000_000,
            (h >> 60) % 32,
            400 + ((h >> 70) % 60000) * 4,
            (h >> 80) % 500_000_000,
            _START_NAMES[(h >> 110) % 3],
            (h >> 30) % 64,
            (_TAGS[tag_bits % 6], _TAGS[(tag_bits // 6) % 6], _TAGS[tag_bits // 36]),
            None if (h >> 100) % 7 == 0 else f"{(h >> 90) % 9 + 1}.{(h >> 94) % 20}",
        )

    def values(self, position: int) -> dict[str, CimValue]:
        """The property values of the instance at ``position`` (a new dict)."""
        (
            ident,
            vendor,
            category,
            mode,
            running,
            checksum,
            description,
            installed,
            modified,
            priority,
            pid,
            size,
            start_name,
            tag_id,
            tags,
            version,
        ) = self._derive(position)
        name = f"{vendor}{category}{ident:07d}"
        return {
            "AcceptPause": False,
            "AcceptStop": running,
            "Caption": f"{vendor} {category} {ident}",
            "Category": category,
            "CheckPoint": 0,
            "Checksum": checksum,
            "CreationClassName": BULK_CLASS,
            "Description": description,
            "DesktopInteract": False,
            "DisplayName": f"{vendor} {category} Service {ident}",
            "Enabled": mode != "Disabled",
            "ErrorControl": "Normal",
            "ExitCode": 0 if running else 1077,
            "Id": ident,
            "InstallDate": _EPOCH - dt.timedelta(seconds=installed),
            "LastModified": _EPOCH - dt.timedelta(seconds=modified),
            "LoadOrderGroup": f"{vendor} {category} Group",
            "Name": name,
            "Owner": f"CORP\\svc_{vendor.lower()}",
            "PathName": (
                f"C:\\Program Files\\{vendor}\\{category}\\{ident % 97:02d}\\{name.lower()}.exe"
            ),
            "Priority": priority,
            "ProcessId": pid if running else 0,
            "ServiceSpecificExitCode": 0,
            "ServiceType": "Own Process",
            "SizeBytes": size,
            "StartMode": mode,
            "StartName": start_name,
            "State": "Running" if running else "Stopped",
            "Status": "OK",
            "SystemCreationClassName": "Win32_ComputerSystem",
            "SystemName": self.hostname,
            "TagId": tag_id,
            "Tags": list(tags),
            "Vendor": vendor,
            "Version": version,
            "WaitHint": 0,
        }

    def xml(self, position: int) -> str:
        """The instance element at ``position``: exactly what
        ``render_instance(BULK_CLASS, self.values(position))`` gives, about
        three times faster (no values dict, no datetime objects)."""
        (
            ident,
            vendor,
            category,
            mode,
            running,
            checksum,
            description,
            installed,
            modified,
            priority,
            pid,
            size,
            start_name,
            tag_id,
            tags,
            version,
        ) = self._derive(position)
        name = f"{vendor}{category}{ident:07d}"
        version_xml = (
            '<p:Version xsi:nil="true"/>'
            if version is None
            else f"<p:Version>{version}</p:Version>"
        )
        if running:
            run_xml = "<p:AcceptStop>true</p:AcceptStop>"
            exit_code, state, pid_text = "0", "Running", str(pid)
        else:
            run_xml = "<p:AcceptStop>false</p:AcceptStop>"
            exit_code, state, pid_text = "1077", "Stopped", "0"
        return (
            f"{self._head}<p:AcceptPause>false</p:AcceptPause>{run_xml}"
            f"<p:Caption>{vendor} {category} {ident}</p:Caption>"
            f"<p:Category>{category}</p:Category><p:CheckPoint>0</p:CheckPoint>"
            f"<p:Checksum>{checksum}</p:Checksum>"
            f"<p:CreationClassName>{BULK_CLASS}</p:CreationClassName>"
            f"<p:Description>{description}</p:Description>"
            "<p:DesktopInteract>false</p:DesktopInteract>"
            f"<p:DisplayName>{vendor} {category} Service {ident}</p:DisplayName>"
            f"<p:Enabled>{'false' if mode == 'Disabled' else 'true'}</p:Enabled>"
            f"<p:ErrorControl>Normal</p:ErrorControl><p:ExitCode>{exit_code}</p:ExitCode>"
            f"<p:Id>{ident}</p:Id>"
            f"<p:InstallDate><cim:Datetime>{_iso(installed)}</cim:Datetime></p:InstallDate>"
            f"<p:LastModified><cim:Datetime>{_iso(modified)}</cim:Datetime></p:LastModified>"
            f"<p:LoadOrderGroup>{vendor} {category} Group</p:LoadOrderGroup>"
            f"<p:Name>{name}</p:Name><p:Owner>CORP\\svc_{vendor.lower()}</p:Owner>"
            f"<p:PathName>C:\\Program Files\\{vendor}\\{category}\\{ident % 97:02d}\\"
            f"{name.lower()}.exe</p:PathName><p:Priority>{priority}</p:Priority>"
            f"<p:ProcessId>{pid_text}</p:ProcessId>"
            "<p:ServiceSpecificExitCode>0</p:ServiceSpecificExitCode>"
            f"<p:ServiceType>Own Process</p:ServiceType><p:SizeBytes>{size}</p:SizeBytes>"
            f"<p:StartMode>{mode}</p:StartMode><p:StartName>{start_name}</p:StartName>"
            f"<p:State>{state}</p:State><p:Status>OK</p:Status>"
            "<p:SystemCreationClassName>Win32_ComputerSystem</p:SystemCreationClassName>"
            f"<p:SystemName>{self.hostname}</p:SystemName><p:TagId>{tag_id}</p:TagId>"
            f"<p:Tags>{tags[0]}</p:Tags><p:Tags>{tags[1]}</p:Tags><p:Tags>{tags[2]}</p:Tags>"
            f"<p:Vendor>{vendor}</p:Vendor>{version_xml}<p:WaitHint>0</p:WaitHint>"
            f"</p:{BULK_CLASS}>"
        )

    def instance(self, position: int) -> CimInstance:
        """The instance at ``position``, its XML already rendered (nothing is kept)."""
        inst = CimInstance(BULK_CLASS, self.values(position))
        inst._xml = self.xml(position)
        return inst


_Fields = tuple[
    int,
    str,
    str,
    str,
    bool,
    str,
    str,
    int,
    int,
    int,
    int,
    int,
    str,
    int,
    tuple[str, str, str],
    str | None,
]

_EPOCH_SECONDS: Final = int(_EPOCH.timestamp())


@functools.lru_cache(maxsize=4096)
def _day(days: int) -> str:
    return dt.date.fromordinal(days + _UNIX_ORDINAL).isoformat()


_UNIX_ORDINAL: Final = dt.date(1970, 1, 1).toordinal()


def _iso(seconds_before_epoch: int) -> str:
    """``format_datetime(_EPOCH - timedelta(seconds=...))`` without datetime objects."""
    days, rest = divmod(_EPOCH_SECONDS - seconds_before_epoch, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{_day(days)}T{hours:02d}:{minutes:02d}:{seconds:02d}.000000Z"
