"""One simulated WS-Man host: its store, enumeration contexts and operations.

The operations follow DSP0226 (WS-Management 1.x) and the Windows shapes of
MS-WSMV; section numbers are cited where a rule is implemented.
"""

from __future__ import annotations

import random
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from lxml import etree

from aiowsman.protocol.namespaces import (
    ACTION_CREATE,
    ACTION_CREATE_RESPONSE,
    ACTION_DELETE,
    ACTION_DELETE_RESPONSE,
    ACTION_ENUMERATE,
    ACTION_ENUMERATE_RESPONSE,
    ACTION_GET,
    ACTION_GET_RESPONSE,
    ACTION_PULL,
    ACTION_PULL_RESPONSE,
    ACTION_PUT,
    ACTION_PUT_RESPONSE,
    ACTION_RELEASE,
    ACTION_RELEASE_RESPONSE,
    ADDRESS_ANONYMOUS,
    DIALECT_ASSOCIATION,
    DIALECT_FRAGMENT_XPATH_LEVEL1,
    DIALECT_SELECTOR,
    DIALECT_WQL,
    ENUMERATION_MODE_EPR,
    ENUMERATION_MODE_OBJECT_AND_EPR,
    NS_ADDRESSING,
    NS_ENUMERATION,
    NS_WINRM_CONFIG,
    NS_WSMAN,
    NS_WSMAN_CIMBINDING,
    NS_WSMAN_IDENTITY,
    NS_XSI,
    URI_ALL_CLASSES,
    URI_WMICIMV2,
    URI_WSMAN,
)
from aiowsman.testing._behaviour import HostBehaviour, HostStats, Injection, InjectionKind
from aiowsman.testing._cim import (
    CimInstance,
    CimReference,
    CimValue,
    HostStore,
    TableCache,
    VirtualTable,
    render_epr,
    render_fragment_property,
    render_method_output,
    render_properties_fragment,
    scalar_text,
)
from aiowsman.testing._data import make_store, os_facts
from aiowsman.testing._faults import Fault
from aiowsman.testing._request import ParsedRequest
from aiowsman.testing._wql import WqlError, parse_wql
from aiowsman.testing._xml import ENVELOPE_ENUMERATION, ENVELOPE_TRANSFER, attr, new_uuid, text

__all__ = ["OPERATIONS", "SimulatedHost", "operation_of"]

_N = "{" + NS_ENUMERATION + "}"
_W = "{" + NS_WSMAN + "}"
_A = "{" + NS_ADDRESSING + "}"
_B = "{" + NS_WSMAN_CIMBINDING + "}"
_XSI_NIL = "{" + NS_XSI + "}nil"

URI_CONFIG: Final = f"{URI_WSMAN}/config"
_WILDCARDS: Final = frozenset({f"{URI_WMICIMV2}/*", URI_ALL_CLASSES})
_IDENTIFY_TAG: Final = "{" + NS_WSMAN_IDENTITY + "}Identify"
#: Windows' default and ceiling for MaxEnvelopeSize (MaxEnvelopeSizekb 500).
DEFAULT_MAX_ENVELOPE: Final = 512000

OPERATIONS: Final = {
    ACTION_GET: "Get",
    ACTION_PUT: "Put",
    ACTION_CREATE: "Create",
    ACTION_DELETE: "Delete",
    ACTION_ENUMERATE: "Enumerate",
    ACTION_PULL: "Pull",
    ACTION_RELEASE: "Release",
}


def operation_of(req: ParsedRequest) -> str:
    """The operation name of a parsed request (``Invoke`` for custom actions)."""
    if req.body is not None and req.body.tag == _IDENTIFY_TAG:
        return "Identify"
    return OPERATIONS.get(req.action, "Invoke")


class _LazyItems:
    """The items of an enumeration of a virtual class, rendered when a batch needs them.

    Holds positions (a ``range``, or an int array after filtering), never
    instances or strings: an enumeration context of 200,000 items costs
    nothing until it is pulled.
    """

    __slots__ = ("_item", "_positions")

    def __init__(self, positions: Sequence[int], item: Callable[[int], str]) -> None:
        self._positions = positions
        self._item = item

    def __len__(self) -> int:
        return len(self._positions)

    def iter_from(self, start: int, stop: int) -> Iterator[str]:
        """Render the items ``start`` to ``stop - 1``, one at a time."""
        return map(self._item, self._positions[start:stop])


#: Rendered items (a snapshot taken at Enumerate time), or lazily rendered ones.
_Items = list[str] | _LazyItems


@dataclass
class _Enumeration:
    items: _Items
    position: int
    expires: float


def _selectors_xml(keys: tuple[tuple[str, str], ...]) -> str:
    return "".join(f'<w:Selector Name="{attr(k)}">{text(v)}</w:Selector>' for k, v in keys)


class SimulatedHost:
    """A simulated host behind one endpoint.

    Attributes:
        index: the host number (0-based).
        hostname: ``HOST0042``.
        url: its endpoint URL (set when the server starts).
        behaviour: the :class:`HostBehaviour` (mutable at run time).
        stats: the :class:`HostStats` counters.
    """

    def __init__(
        self,
        index: int,
        *,
        seed: int,
        behaviour: HostBehaviour,
        cache: TableCache | None = None,
        bulk_instances: int = 0,
    ) -> None:
        self.index = index
        self.seed = seed
        self.behaviour = behaviour
        self.stats = HostStats()
        self.url = ""
        self.machine = "127.0.0.1"
        self._store: HostStore | None = None
        self._cache = cache
        self.contexts: dict[str, _Enumeration] = {}
        self.rng = random.Random(f"{seed}:{index}:latency")
        self.hostname = f"HOST{index:04d}"
        self.config_overrides: dict[str, str] = {}
        #: Instances of the virtual bulk class AIOWSMAN_BulkItem (0: no such class).
        self.bulk_instances = bulk_instances

    # -- store lifecycle ----------------------------------------------------------

    @property
    def store(self) -> HostStore:
        """The host's CIM store. Reading it here pins it: its generated
        instances are then never dropped to save memory, so a test may keep
        and change them."""
        store = self._get_store()
        store.pinned = True
        return store

    @property
    def contexts_open(self) -> int:
        """Enumeration contexts the host still holds (not finished, released or expired)."""
        return len(self.contexts)

    def _get_store(self) -> HostStore:
        if self._store is None:
            self._store = make_store(self.seed, self.index, self._cache, bulk=self.bulk_instances)
        return self._store

    # -- helpers ----------------------------------------------------------------------

    def latency(self) -> float:
        lat = self.behaviour.latency
        if isinstance(lat, tuple):
            return self.rng.uniform(*lat)
        return lat

    def _resolve_class(self, uri: str | None) -> str:
        if not uri:
            raise Fault.destination_unreachable("")
        prefix = URI_WMICIMV2 + "/"
        if uri.startswith(prefix):
            name = uri[len(prefix) :]
            cls = self._get_store().cim_class(name)
            if cls is not None:
                return cls.name
        raise Fault.destination_unreachable(uri)

    @staticmethod
    def _check_namespace(req: ParsedRequest) -> dict[str, str]:
        selectors = dict(req.selectors)
        ns = selectors.pop("__cimnamespace", None)
        if ns is not None and ns.lower().replace("\\", "/") != "root/cimv2":
            raise Fault.destination_unreachable(f"{req.resource_uri} ({ns})")
        return selectors

    def _instance_for(self, class_name: str, req: ParsedRequest) -> CimInstance:
        """The instance ``req``'s selectors designate (DSP0226 selectors)."""
        store = self._get_store()
        cls = store.classes[class_name]
        selectors = self._check_namespace(req)
        if not selectors:
            # A singleton class may be fetched without selectors (Windows does
            # for Win32_OperatingSystem); otherwise (DSP0226) InsufficientSelectors.
            if store.count(class_name) == 1:
                return next(store.instances(class_name))
            raise Fault.invalid_selectors(
                "The WS-Management service cannot process the request because the request "
                "contained insufficient selectors for the resource. ",
                detail="InsufficientSelectors",
            )
        keys_lower = {k.lower() for k in cls.keys}
        for name in selectors:
            if name.lower() not in keys_lower:
                raise Fault.invalid_selectors(
                    f"The WS-Management service cannot process the request. The selector "
                    f"{name} is not a key of {class_name}. "
                )
        if len({n.lower() for n in selectors}) < len(keys_lower):
            raise Fault.invalid_selectors(
                "The WS-Management service cannot process the request because the request "
                "contained insufficient selectors for the resource. ",
                detail="InsufficientSelectors",
            )
        found = store.find(class_name, selectors)
        if found is None:
            raise Fault.not_found()
        return found

    # -- envelopes --------------------------------------------------------------------

    @staticmethod
    def _envelope(
        head: str, action: str, relates_to: str | None, body: str, activity_id: str | None
    ) -> str:
        relates = f"<a:RelatesTo>{text(relates_to)}</a:RelatesTo>" if relates_to else ""
        # Windows adds p:ActivityId (never mustUnderstand) to enumeration
        # answers and faults (corpus pypsrp-enumerate-response-*.xml).
        activity = f"<p:ActivityId>{activity_id}</p:ActivityId>" if activity_id else ""
        return (
            f"{head}<s:Header><a:Action>{action}</a:Action>"
            f"<a:MessageID>uuid:{new_uuid()}</a:MessageID>{activity}"
            f"<a:To>{ADDRESS_ANONYMOUS}</a:To>{relates}</s:Header>"
            f"<s:Body>{body}</s:Body></s:Envelope>"
        )

    def identify(self, *, authenticated: bool, profiles: list[str]) -> str:
        """The IdentifyResponse (DSP0226 11, Identify).

        Unauthenticated (``/wsman-anon/identify``) Windows hides the OS
        version: ``OS: 0.0.0 SP: 0.0 Stack: 3.0`` (corpus knifewin-identify-
        response-stack3.xml).
        """
        version = os_facts(self.seed, self.index)[1] if authenticated else "0.0.0"
        prof = ""
        if authenticated and profiles:
            prof = (
                "<wsmid:SecurityProfiles>"
                + "".join(
                    f"<wsmid:SecurityProfileName>{p}</wsmid:SecurityProfileName>" for p in profiles
                )
                + "</wsmid:SecurityProfiles>"
            )
        return (
            '<s:Envelope xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
            f'<s:Header/><s:Body><wsmid:IdentifyResponse xmlns:wsmid="{NS_WSMAN_IDENTITY}">'
            "<wsmid:ProtocolVersion>http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
            "</wsmid:ProtocolVersion><wsmid:ProductVendor>Microsoft Corporation"
            f"</wsmid:ProductVendor><wsmid:ProductVersion>OS: {version} SP: 0.0 Stack: 3.0"
            f"</wsmid:ProductVersion>{prof}</wsmid:IdentifyResponse></s:Body></s:Envelope>"
        )

    # -- dispatch ---------------------------------------------------------------------

    def execute(
        self,
        req: ParsedRequest,
        relates_to: str | None,
        activity_id: str | None = None,
        injection: Injection | None = None,
    ) -> str:
        """Run one request; return the response envelope.

        ``injection`` is the fault injected into this request, for the kinds
        that change how an enumeration behaves (``ENDLESS_ENUMERATION``,
        ``EMPTY_BATCHES``, ``OVERSIZE_BATCH``).

        Raises:
            Fault: the operation failed (rendered by the caller).
        """
        try:
            return self._execute(req, relates_to, activity_id, injection)
        finally:
            if self._cache is not None:
                self._cache.trim()

    def _execute(
        self,
        req: ParsedRequest,
        relates_to: str | None,
        activity_id: str | None,
        injection: Injection | None,
    ) -> str:
        action = req.action
        transfer = ENVELOPE_TRANSFER
        if action == ACTION_GET:
            head, reply, body = transfer, ACTION_GET_RESPONSE, self.get(req)
        elif action == ACTION_PUT:
            head, reply, body = transfer, ACTION_PUT_RESPONSE, self.put(req)
        elif action == ACTION_CREATE:
            head, reply, body = transfer, ACTION_CREATE_RESPONSE, self.create(req)
        elif action == ACTION_DELETE:
            self.delete(req)
            head, reply, body = transfer, ACTION_DELETE_RESPONSE, ""
        elif action == ACTION_ENUMERATE:
            return self._envelope(
                ENVELOPE_ENUMERATION,
                ACTION_ENUMERATE_RESPONSE,
                relates_to,
                self.enumerate(req, injection),
                activity_id,
            )
        elif action == ACTION_PULL:
            return self._envelope(
                ENVELOPE_ENUMERATION,
                ACTION_PULL_RESPONSE,
                relates_to,
                self.pull(req, injection),
                activity_id,
            )
        elif action == ACTION_RELEASE:
            self.release(req)
            head, reply, body = ENVELOPE_ENUMERATION, ACTION_RELEASE_RESPONSE, ""
        else:
            # DSP0226 9: a custom action's response action is action + "Response".
            head, reply, body = transfer, action + "Response", self.invoke(req)
        return self._envelope(head, reply, relates_to, body, None)

    # -- WS-Transfer --------------------------------------------------------------------

    def get(self, req: ParsedRequest) -> str:
        if req.resource_uri == URI_CONFIG:
            return self.config_xml()
        class_name = self._resolve_class(req.resource_uri)
        inst = self._instance_for(class_name, req)
        if req.fragment is not None:
            return self._fragment_get(inst, req)
        return inst.xml()

    @staticmethod
    def _fragment_path(inst: CimInstance, req: ParsedRequest) -> tuple[str, bool]:
        """The property a fragment expression names, and whether ``/text()`` was asked.

        Supports the XPath level 1 subset Windows documents for fragments
        (DSP0226 fragment-level access, XPath level 1): ``Name``, ``p:Name``, ``Name/text()``.
        """
        dialect = req.fragment_dialect
        if dialect not in (None, "", DIALECT_FRAGMENT_XPATH_LEVEL1):
            raise Fault(
                "w:FragmentDialectNotSupported",
                "The requested fragment dialect is not supported. ",
                detail="FragmentDialect",
                wsman_code=2150858896,  # ERROR_WSMAN_FRAGMENT_DIALECT_REQUESTED_UNAVAILABLE
            )
        expr = (req.fragment or "").strip().lstrip("/")
        want_text = expr.endswith("/text()")
        if want_text:
            expr = expr[: -len("/text()")]
        name = expr.rsplit(":", 1)[-1]
        # Windows matches fragment paths case-sensitively (wsmerror.h,
        # ERROR_WSMAN_INVALID_FRAGMENT_PATH: "match the spelling and the case").
        if name in inst.values:
            return name, want_text
        raise Fault(
            "w:InvalidParameter",
            "The parameter is incorrect. ",
            wsman_code=2150858899,  # ERROR_WSMAN_INVALID_FRAGMENT_PATH
            message="Cannot execute the Fragment-Level operation because the fragment path is "
            f"invalid: {req.fragment} ",
        )

    def _fragment_get(self, inst: CimInstance, req: ParsedRequest) -> str:
        name, want_text = self._fragment_path(inst, req)
        value = inst.values[name]
        if want_text:
            return f"<w:XmlFragment>{text(_text_of(inst.values, name))}</w:XmlFragment>"
        return f"<w:XmlFragment>{render_fragment_property(inst.class_name, name, value)}" + (
            "</w:XmlFragment>"
        )

    def config_xml(self) -> str:
        """winrm/config as Windows returns it (corpus pypsrp-get-response-config.xml)."""
        c = {
            "MaxEnvelopeSizekb": "500",
            "MaxTimeoutms": "60000",
            "MaxBatchItems": "32000",
            "MaxProviderRequests": "4294967295",
            "MaxConcurrentOperationsPerUser": str(self.behaviour.max_concurrent_operations or 1500),
            "EnumerationTimeoutms": str(int(self.behaviour.enumeration_timeout * 1000)),
            "AllowUnencrypted": "true",
            "Basic": "true",
        }
        c.update(self.config_overrides)
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

    def _body_values(self, req: ParsedRequest, class_name: str) -> dict[str, CimValue]:
        """The property values of an instance sent in a Put/Create body."""
        body = req.body
        if body is None or etree.QName(body).localname != class_name:
            raise Fault.schema_validation(
                f"The request body must contain one {class_name} instance. "
            )
        values: dict[str, CimValue] = {}
        for child in body:
            if not isinstance(child.tag, str):
                continue
            name = etree.QName(child).localname
            if child.get(_XSI_NIL, "").lower() == "true":
                values[name] = None
            else:
                values[name] = (child.text or "").strip()
        return values

    def put(self, req: ParsedRequest) -> str:
        if req.resource_uri == URI_CONFIG:
            body = req.body
            if body is None:
                raise Fault.schema_validation("The request body must contain a Config element. ")
            for el in body.iter():
                if isinstance(el.tag, str) and len(el) == 0 and el.text is not None:
                    self.config_overrides[etree.QName(el).localname] = el.text.strip()
            return self.config_xml()
        class_name = self._resolve_class(req.resource_uri)
        store = self._get_store()
        cls = store.classes[class_name]
        inst = self._instance_for(class_name, req)
        if not cls.writable:
            raise Fault.access_denied()
        if req.fragment is not None:
            # DSP0226 fragment-level Put: carries w:XmlFragment with the new value.
            name, _ = self._fragment_path(inst, req)
            body = req.body
            if body is None or body.tag != _W + "XmlFragment":
                raise Fault.schema_validation("A fragment Put needs a w:XmlFragment body. ")
            if name in cls.keys:
                raise Fault.access_denied()
            new = body[0] if len(body) else None
            inst.set(name, (new.text or "").strip() if new is not None else (body.text or ""))
            store.touch()
            return self._fragment_get(inst, req)
        values = self._body_values(req, class_name)
        for name, value in values.items():
            if name in cls.keys or name not in cls.properties:
                continue
            inst.set(name, value)
        store.touch()
        return inst.xml()

    def create(self, req: ParsedRequest) -> str:
        class_name = self._resolve_class(req.resource_uri)
        store = self._get_store()
        cls = store.classes[class_name]
        if not cls.creatable:
            raise Fault.access_denied()
        values = self._body_values(req, class_name)
        missing = [k for k in cls.keys if not values.get(k)]
        if missing:
            raise Fault.schema_validation(
                f"The instance is missing key properties: {', '.join(missing)}. "
            )
        full: dict[str, CimValue] = {p: None for p in cls.properties}
        full.update({k: v for k, v in values.items() if k in cls.properties})
        if class_name == "Win32_Environment":
            full["Caption"] = full["Description"] = f"{full['UserName']}\\{full['Name']}"
            full["Status"] = "OK"
            full["SystemVariable"] = full["UserName"] == "<SYSTEM>"
        inst = CimInstance(class_name, full)
        if not store.add(inst):
            raise Fault.already_exists()
        keys = tuple((k, str(full[k])) for k in cls.keys)
        # DSP0226 (WS-Transfer Create): the CreateResponse carries the new resource's EPR.
        return (
            f"<x:ResourceCreated><a:Address>{text(self.url or ADDRESS_ANONYMOUS)}</a:Address>"
            f"<a:ReferenceParameters><w:ResourceURI>{cls.resource_uri}</w:ResourceURI>"
            f"<w:SelectorSet>{_selectors_xml(keys)}</w:SelectorSet>"
            "</a:ReferenceParameters></x:ResourceCreated>"
        )

    def delete(self, req: ParsedRequest) -> None:
        class_name = self._resolve_class(req.resource_uri)
        store = self._get_store()
        inst = self._instance_for(class_name, req)
        if not store.classes[class_name].writable:
            raise Fault.access_denied()
        store.remove(inst)

    # -- custom actions (Invoke) ---------------------------------------------------------

    def invoke(self, req: ParsedRequest) -> str:
        uri = req.resource_uri or ""
        # DSP0226 9: a custom action is the resource URI + "/" + method name.
        if not req.action.startswith(uri + "/"):
            raise Fault.action_not_supported(req.action)
        method_name = req.action[len(uri) + 1 :]
        class_name = self._resolve_class(uri)
        store = self._get_store()
        cls = store.classes[class_name]
        method = cls.methods.get(method_name)
        if method is None:
            raise Fault.action_not_supported(req.action)
        inst = None if method.static else self._instance_for(class_name, req)
        inputs: dict[str, str] = {}
        if req.body is not None:
            for child in req.body:
                if isinstance(child.tag, str):
                    inputs[etree.QName(child).localname] = (child.text or "").strip()
        outputs = method.impl(store, inst, inputs)
        return render_method_output(class_name, method_name, outputs)

    # -- WS-Enumeration -----------------------------------------------------------------

    def _matching(self, req: ParsedRequest, enum: etree._Element) -> _Items:
        """The items an Enumerate request selects: rendered now (a snapshot),
        or, for a virtual class, rendered when pulled."""
        mode = (enum.findtext(_W + "EnumerationMode") or "").strip()
        if mode not in ("", ENUMERATION_MODE_EPR, ENUMERATION_MODE_OBJECT_AND_EPR):
            raise Fault.schema_validation(f"Unknown EnumerationMode {mode}. ")
        filt = enum.find(_W + "Filter")
        if filt is None:
            filt = enum.find(_N + "Filter")
        poly = (enum.findtext(_B + "PolymorphismMode") or "").strip()
        if not poly:
            poly = req.options.get("PolymorphismMode", "")
        store = self._get_store()
        uri = req.resource_uri or ""
        wildcard = uri in _WILDCARDS
        self._check_namespace(req)
        pairs: list[tuple[CimInstance, str]] = []  # (instance, class to render as)
        #: A virtual class's table and the positions selected in it.
        lazy: tuple[VirtualTable, Sequence[int]] | None = None
        projection: tuple[str, ...] | None = None
        if filt is None:
            if wildcard:
                raise Fault.cannot_process_filter(
                    "The WS-Management service requires a filter to enumerate this resource URI. "
                )
            class_name = self._resolve_class(uri)
            table = store.virtual.get(class_name)
            if table is not None:
                lazy = (table, range(table.count))
            else:
                pairs = self._polymorphic(class_name, poly)
        else:
            dialect = filt.get("Dialect", DIALECT_WQL)
            if dialect == DIALECT_WQL:
                pairs, projection, lazy = self._wql(uri, wildcard, filt.text or "")
            elif dialect == DIALECT_SELECTOR:
                class_name = self._resolve_class(uri)
                wanted = {
                    s.get("Name", "").lower(): (s.text or "").strip()
                    for s in filt.iter(_W + "Selector")
                }

                def selected(values: dict[str, CimValue]) -> bool:
                    return all(_text_of(values, k).lower() == v.lower() for k, v in wanted.items())

                table = store.virtual.get(class_name)
                if table is None:
                    pairs = [
                        (i, c) for i, c in self._polymorphic(class_name, poly) if selected(i.values)
                    ]
                elif wanted.keys() == {"id"}:
                    # The key alone: a direct lookup, no scan.
                    found = table.position(wanted)
                    lazy = (table, [] if found is None else [found])
                else:
                    lazy = (table, _scan(table, selected))
            elif dialect == DIALECT_ASSOCIATION:
                pairs = self._association(filt)
            else:
                raise Fault(
                    "w:FilterDialectRequestedUnavailable",
                    "The requested filtering dialect is not supported. ",
                    action="http://schemas.dmtf.org/wbem/wsman/1/wsman/fault",
                    wsman_code=2150858777,
                    detail="FilterDialect",
                )

        def render(inst: CimInstance, as_class: str) -> str:
            if projection is not None:
                obj = render_properties_fragment(inst.values, projection)
            elif as_class == inst.class_name:
                obj = inst.xml()
            else:
                obj = inst.xml_as(as_class, store.classes[as_class].properties)
            if not mode:
                return obj
            cls = store.classes[inst.class_name]
            ref = CimReference(
                inst.class_name, tuple((k, _text_of(inst.values, k)) for k in cls.keys)
            )
            epr = f"<a:EndpointReference>{render_epr(ref)}</a:EndpointReference>"
            if mode == ENUMERATION_MODE_EPR:
                return epr
            return f"<w:Item>{obj}{epr}</w:Item>"

        if lazy is not None:
            virtual, positions = lazy
            if projection is None and not mode:
                # The common case (whole instances): straight from the table.
                return _LazyItems(positions, virtual.xml)

            def lazy_item(position: int) -> str:
                inst = virtual.instance(position)
                return render(inst, inst.class_name)

            return _LazyItems(positions, lazy_item)
        return [render(inst, as_class) for inst, as_class in pairs]

    def _polymorphic(self, class_name: str, poly: str) -> list[tuple[CimInstance, str]]:
        """DSP0227 PolymorphismMode: None = shallow; Exclude = base view."""
        store = self._get_store()
        if poly == "None":
            return [(i, class_name) for i in store.instances(class_name)]
        if poly == "ExcludeSubClassProperties":
            return [(i, class_name) for i in store.instances(class_name, deep=True)]
        return [(i, i.class_name) for i in store.instances(class_name, deep=True)]

    def _wql(
        self, uri: str, wildcard: bool, query: str
    ) -> tuple[
        list[tuple[CimInstance, str]],
        tuple[str, ...] | None,
        tuple[VirtualTable, Sequence[int]] | None,
    ]:
        """(instances and classes to render as, projection, or a virtual class's selection)."""
        try:
            q = parse_wql(query)
        except WqlError as exc:
            raise Fault.cannot_process_filter(f"The WQL query is invalid: {exc}. ") from None
        store = self._get_store()
        cls = store.cim_class(q.class_name)
        if cls is None:
            raise Fault.cannot_process_filter(
                "The specified class does not exist in the given namespace. "
            )
        if not wildcard:
            uri_class = self._resolve_class(uri)
            if uri_class != cls.name:
                raise Fault.cannot_process_filter(
                    f"The class in the query ({q.class_name}) does not match the resource URI. "
                )
        table = store.virtual.get(cls.name)
        if table is not None:
            # A virtual class has no subclasses; keep the matching positions only.
            return [], q.properties, (table, _scan(table, q.where))
        # WQL is polymorphic: subclasses' instances are returned too.
        pairs = [
            (i, i.class_name) for i in store.instances(cls.name, deep=True) if q.where(i.values)
        ]
        return pairs, q.properties, None

    def _association(self, filt: etree._Element) -> list[tuple[CimInstance, str]]:
        """DSP0227 association filter: AssociatedInstances / AssociationInstances filters."""
        store = self._get_store()
        spec = filt.find(_B + "AssociatedInstances")
        associated = spec is not None
        if spec is None:
            spec = filt.find(_B + "AssociationInstances")
        if spec is None:
            raise Fault.cannot_process_filter("The association filter is malformed. ")
        obj = spec.find(_B + "Object")
        if obj is None:
            raise Fault.cannot_process_filter("The association filter has no Object. ")
        obj_uri = (obj.findtext(f".//{_W}ResourceURI") or "").strip()
        obj_sel = {s.get("Name", ""): (s.text or "").strip() for s in obj.iter(_W + "Selector")}
        obj_class = self._resolve_class(obj_uri)
        target = store.find(obj_class, obj_sel)
        if target is None:
            raise Fault.not_found()
        obj_key = tuple((k, _text_of(target.values, k)) for k in store.classes[obj_class].keys)
        assoc_class = (spec.findtext(_B + "AssociationClassName") or "").strip()
        role = (spec.findtext(_B + "Role") or "").strip()
        result_class = (spec.findtext(_B + "ResultClassName") or "").strip()
        result_role = (spec.findtext(_B + "ResultRole") or "").strip()
        out: list[tuple[CimInstance, str]] = []
        for cname, cls in store.classes.items():
            if not cls.association_roles:
                continue
            if assoc_class and not store.is_subclass(cname, assoc_class):
                continue
            if not associated and result_class and not store.is_subclass(cname, result_class):
                continue
            for assoc in store.instances(cname):
                for r in cls.association_roles:
                    ref = assoc.values.get(r)
                    if not isinstance(ref, CimReference) or ref.keys != obj_key:
                        continue
                    if not store.is_subclass(obj_class, ref.class_name) and (
                        ref.class_name != obj_class
                    ):
                        continue
                    if role and r.lower() != role.lower():
                        continue
                    if not associated:
                        out.append((assoc, cname))
                        break
                    for other in cls.association_roles:
                        if other == r or (result_role and other.lower() != result_role.lower()):
                            continue
                        oref = assoc.values.get(other)
                        if not isinstance(oref, CimReference):
                            continue
                        found = store.find(oref.class_name, dict(oref.keys))
                        if found is None:
                            continue
                        if result_class and not store.is_subclass(found.class_name, result_class):
                            continue
                        out.append((found, found.class_name))
        return out

    @staticmethod
    def _take(items: _Items, start: int, max_elements: int, max_envelope: int) -> list[str]:
        """The items from ``start`` that fit one response (DSP0226 8 MaxElements,
        6.2 MaxEnvelopeSize); lazy items are rendered only as far as needed."""
        budget = max_envelope - 1200  # the envelope around the items
        stop = start + max_elements
        taken: list[str] = []
        source = items[start:stop] if isinstance(items, list) else items.iter_from(start, stop)
        for item in source:
            size = len(item) if item.isascii() else len(item.encode())
            if size > budget:
                break
            budget -= size
            taken.append(item)
        if not taken and start < len(items):
            raise Fault.encoding_limit()
        return taken

    def enumerate(self, req: ParsedRequest, injection: Injection | None = None) -> str:
        enum = req.body
        if enum is None or enum.tag != _N + "Enumerate":
            raise Fault.schema_validation("The Enumerate body is missing. ")
        items = self._matching(req, enum)
        optimize = enum.find(_W + "OptimizeEnumeration") is not None
        now = time.monotonic()
        context = f"uuid:{new_uuid()}"
        if not optimize:
            # DSP0226 8 (optimized enumeration): without OptimizeEnumeration
            # only a context comes back.
            self.contexts[context] = _Enumeration(
                items, 0, now + self.behaviour.enumeration_timeout
            )
            return (
                f"<n:EnumerateResponse><n:EnumerationContext>{context}</n:EnumerationContext>"
                "</n:EnumerateResponse>"
            )
        max_elements = _int(enum.findtext(_W + "MaxElements"), 1)
        kind = injection.kind if injection is not None else None
        taken = self._take(
            items,
            0,
            max(1, max_elements) + _extra_items(injection),
            req.max_envelope_size or DEFAULT_MAX_ENVELOPE,
        )
        count = len(taken)
        body = "".join(taken)
        never_ends = kind in (InjectionKind.ENDLESS_ENUMERATION, InjectionKind.EMPTY_BATCHES)
        if count >= len(items) and not never_ends:
            # Windows: an empty context, the items, w:EndOfSequence (corpus
            # pypsrp-enumerate-response-shells-optimized.xml).
            return (
                "<n:EnumerateResponse><n:EnumerationContext></n:EnumerationContext>"
                f"<w:Items>{body}</w:Items><w:EndOfSequence/></n:EnumerateResponse>"
            )
        self.contexts[context] = _Enumeration(
            items, count, now + self.behaviour.enumeration_timeout
        )
        return (
            f"<n:EnumerateResponse><n:EnumerationContext>{context}</n:EnumerationContext>"
            f"<w:Items>{body}</w:Items></n:EnumerateResponse>"
        )

    def _context(self, req: ParsedRequest, element: str) -> tuple[str, _Enumeration]:
        body = req.body
        if body is None or body.tag != _N + element:
            raise Fault.schema_validation(f"The {element} body is missing. ")
        context = (body.findtext(_N + "EnumerationContext") or "").strip()
        state = self.contexts.get(context)
        if state is None or state.expires < time.monotonic():
            self.contexts.pop(context, None)
            raise Fault.invalid_enumeration_context()
        return context, state

    def pull(self, req: ParsedRequest, injection: Injection | None = None) -> str:
        context, state = self._context(req, "Pull")
        assert req.body is not None
        kind = injection.kind if injection is not None else None
        if kind is InjectionKind.EMPTY_BATCHES:
            state.expires = time.monotonic() + self.behaviour.enumeration_timeout
            return (
                f"<n:PullResponse><n:EnumerationContext>{context}</n:EnumerationContext>"
                "<n:Items></n:Items></n:PullResponse>"
            )
        if kind is InjectionKind.ENDLESS_ENUMERATION and state.position >= len(state.items):
            state.position = 0  # served again from the first: it never ends
        max_elements = _int(req.body.findtext(_N + "MaxElements"), 1)
        taken = self._take(
            state.items,
            state.position,
            max(1, max_elements) + _extra_items(injection),
            req.max_envelope_size or DEFAULT_MAX_ENVELOPE,
        )
        body = "".join(taken)
        state.position += len(taken)
        if state.position >= len(state.items) and kind is not InjectionKind.ENDLESS_ENUMERATION:
            del self.contexts[context]
            return f"<n:PullResponse><n:Items>{body}</n:Items><n:EndOfSequence/></n:PullResponse>"
        state.expires = time.monotonic() + self.behaviour.enumeration_timeout
        return (
            f"<n:PullResponse><n:EnumerationContext>{context}</n:EnumerationContext>"
            f"<n:Items>{body}</n:Items></n:PullResponse>"
        )

    def release(self, req: ParsedRequest) -> None:
        body = req.body
        context = (
            (body.findtext(_N + "EnumerationContext") or "").strip() if body is not None else ""
        )
        self.stats.releases.append(context)
        if self.contexts.pop(context, None) is None:
            raise Fault.invalid_enumeration_context()


def _extra_items(injection: Injection | None) -> int:
    """Items beyond MaxElements that an ``OVERSIZE_BATCH`` injection adds."""
    if injection is not None and injection.kind is InjectionKind.OVERSIZE_BATCH:
        return max(1, injection.count)
    return 0


def _scan(table: VirtualTable, keep: Callable[[dict[str, CimValue]], bool]) -> array[int]:
    """The positions of a virtual table whose values ``keep`` accepts (a compact int array)."""
    return array("q", (i for i in range(table.count) if keep(table.values(i))))


def _int(value: str | None, default: int) -> int:
    try:
        return int((value or "").strip())
    except ValueError:
        return default


def _text_of(values: dict[str, CimValue], name: str) -> str:
    """The text of property ``name`` (case-insensitive, as WMI names are)."""
    if name in values:
        return scalar_text(values[name])
    lowered = name.lower()
    for k, v in values.items():
        if k.lower() == lowered:
            return scalar_text(v)
    return ""
