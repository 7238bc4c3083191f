"""CIM classes (WMI's ``root/cimv2``): Get, Put, Create, Delete, Invoke, Enumerate.

The default family: it serves every resource URI no other family claims, and
answers ``w:DestinationUnreachable`` for URIs that name no class. The data
is the host's :class:`~aiowsman.testing._cim.HostStore`, made on first use
from ``(seed, host index)`` (see :mod:`aiowsman.testing._data`).

The operations follow DSP0226 (WS-Management 1.x), DSP0227 (the CIM binding)
and the Windows shapes of MS-WSMV; section numbers are cited where a rule is
implemented.
"""

from __future__ import annotations

from array import array
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from lxml import etree

from aiowsman.protocol.namespaces import (
    ADDRESS_ANONYMOUS,
    DIALECT_ASSOCIATION,
    DIALECT_FRAGMENT_XPATH_LEVEL1,
    DIALECT_SELECTOR,
    DIALECT_WQL,
    ENUMERATION_MODE_EPR,
    ENUMERATION_MODE_OBJECT_AND_EPR,
    NS_ENUMERATION,
    NS_WSMAN,
    NS_WSMAN_CIMBINDING,
    NS_XSI,
    URI_ALL_CLASSES,
    URI_WMICIMV2,
)
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
from aiowsman.testing._data import make_store
from aiowsman.testing._enumeration import EnumerationState, Items, LazyItems
from aiowsman.testing._faults import Fault
from aiowsman.testing._request import ParsedRequest
from aiowsman.testing._wql import WqlError, parse_wql
from aiowsman.testing._xml import attr, text
from aiowsman.testing.families.base import Host, Reply, ResourceFamily

__all__ = ["CimFamily"]

_N = "{" + NS_ENUMERATION + "}"
_W = "{" + NS_WSMAN + "}"
_B = "{" + NS_WSMAN_CIMBINDING + "}"
_XSI_NIL = "{" + NS_XSI + "}nil"

_WILDCARDS: Final = frozenset({f"{URI_WMICIMV2}/*", URI_ALL_CLASSES})


def _selectors_xml(keys: tuple[tuple[str, str], ...]) -> str:
    return "".join(f'<w:Selector Name="{attr(k)}">{text(v)}</w:Selector>' for k, v in keys)


class CimFamily(ResourceFamily):
    """The CIM classes of one host (its store), the default family.

    Args:
        host: the host.
        cache: the server-wide budget of generated instances kept in memory
            (None: keep everything).
        bulk_instances: instances of the virtual bulk class
            ``AIOWSMAN_BulkItem`` (0: no such class).

    Tests inspect it through ``host.store`` (or ``host.family(CimFamily).store``).
    """

    name = "cim"
    default = True

    def __init__(
        self, host: Host, *, cache: TableCache | None = None, bulk_instances: int = 0
    ) -> None:
        super().__init__(host)
        self._store: HostStore | None = None
        self._cache = cache
        self.bulk_instances = bulk_instances

    @property
    def store(self) -> HostStore:
        """The host's CIM store. Reading it here pins it: its generated
        instances are then never dropped to save memory, so a test may keep
        and change them."""
        store = self.load_store()
        store.pinned = True
        return store

    def load_store(self) -> HostStore:
        """The store, made on first use (not pinned: unchanged tables may be
        dropped to save memory and are made again identically)."""
        if self._store is None:
            self._store = make_store(
                self.host.seed, self.host.index, self._cache, bulk=self.bulk_instances
            )
        return self._store

    # -- dispatch: trim the shared instance cache after each request -----------------

    def handle(self, req: ParsedRequest, user: str | None) -> Reply | Awaitable[Reply]:
        try:
            return super().handle(req, user)
        finally:
            if self._cache is not None:
                self._cache.trim()

    def pull(
        self, req: ParsedRequest, context: str, state: EnumerationState
    ) -> Reply | Awaitable[Reply]:
        try:
            return super().pull(req, context, state)
        finally:
            if self._cache is not None:
                self._cache.trim()

    # -- helpers ----------------------------------------------------------------------

    def _resolve_class(self, uri: str | None) -> str:
        # The flavour reads the class out of the URI (Windows: WMI URIs;
        # OMI: the last segment, see aiowsman.testing._flavour).
        name = self.host.flavour.class_name(uri) if uri else None
        if name is not None:
            cls = self.load_store().cim_class(name)
            if cls is not None:
                return cls.name
        raise Fault.destination_unreachable(uri or "")

    def _check_namespace(self, req: ParsedRequest) -> dict[str, str]:
        """The key selectors of ``req``, once its CIM namespace is the store's.

        Raises:
            Fault: another namespace (each flavour has its rule).
        """
        return self.host.flavour.instance_selectors(req.selectors, req.resource_uri or "")

    def _instance_for(self, class_name: str, req: ParsedRequest) -> CimInstance:
        """The instance ``req``'s selectors designate (DSP0226 selectors)."""
        store = self.load_store()
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

    # -- WS-Transfer --------------------------------------------------------------------

    def get(self, req: ParsedRequest) -> str:
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

    def _body_values(self, req: ParsedRequest, class_name: str) -> dict[str, CimValue]:
        """The property values of an instance sent in a Put/Create body."""
        body = req.body
        if body is None or etree.QName(body).localname != class_name:
            raise Fault.schema_validation(
                f"The request body must contain one {class_name} instance. "
            )
        types = self.load_store().classes[class_name].types
        values: dict[str, CimValue] = {}
        for child in body:
            if not isinstance(child.tag, str):
                continue
            name = etree.QName(child).localname
            if child.get(_XSI_NIL, "").lower() == "true":
                values[name] = None
            elif name in types:
                values[name] = self.host.flavour.read_temporal(child, types[name])
            else:
                values[name] = (child.text or "").strip()
        return values

    def put(self, req: ParsedRequest) -> str:
        class_name = self._resolve_class(req.resource_uri)
        store = self.load_store()
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

    def create(self, req: ParsedRequest, user: str | None) -> str:
        class_name = self._resolve_class(req.resource_uri)
        store = self.load_store()
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
            f"<x:ResourceCreated><a:Address>{text(self.host.url or ADDRESS_ANONYMOUS)}</a:Address>"
            f"<a:ReferenceParameters><w:ResourceURI>{cls.resource_uri}</w:ResourceURI>"
            f"<w:SelectorSet>{_selectors_xml(keys)}</w:SelectorSet>"
            "</a:ReferenceParameters></x:ResourceCreated>"
        )

    def delete(self, req: ParsedRequest, user: str | None) -> None:
        class_name = self._resolve_class(req.resource_uri)
        store = self.load_store()
        inst = self._instance_for(class_name, req)
        if not store.classes[class_name].writable:
            raise Fault.access_denied()
        store.remove(inst)

    # -- custom actions (Invoke) ---------------------------------------------------------

    def invoke(self, req: ParsedRequest, user: str | None) -> str:
        uri = req.resource_uri or ""
        # DSP0226 9: a custom action is the resource URI + "/" + method name.
        if not req.action.startswith(uri + "/"):
            raise Fault.action_not_supported(req.action)
        method_name = req.action[len(uri) + 1 :]
        class_name = self._resolve_class(uri)
        store = self.load_store()
        cls = store.classes[class_name]
        method = cls.methods.get(method_name)
        if method is None:
            raise Fault.action_not_supported(req.action)
        inst = None if method.static else self._instance_for(class_name, req)
        inputs: dict[str, str] = {}
        if req.body is not None:
            for child in req.body:
                if not isinstance(child.tag, str):
                    continue
                name = etree.QName(child).localname
                kind = method.input_types.get(name)
                if kind is not None:
                    # Read in the flavour's form; handed on in one canonical text.
                    value = self.host.flavour.read_temporal(child, kind)
                    inputs[name] = scalar_text(value)
                else:
                    inputs[name] = (child.text or "").strip()
        outputs = method.impl(store, inst, inputs)
        return render_method_output(class_name, method_name, outputs)

    # -- WS-Enumeration -----------------------------------------------------------------

    def enumeration_items(
        self, req: ParsedRequest, enum: etree._Element, user: str | None
    ) -> Items:
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
        store = self.load_store()
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
                return LazyItems(positions, virtual.xml)

            def lazy_item(position: int) -> str:
                inst = virtual.instance(position)
                return render(inst, inst.class_name)

            return LazyItems(positions, lazy_item)
        return [render(inst, as_class) for inst, as_class in pairs]

    def _polymorphic(self, class_name: str, poly: str) -> list[tuple[CimInstance, str]]:
        """DSP0227 PolymorphismMode: None = shallow; Exclude = base view."""
        store = self.load_store()
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
        store = self.load_store()
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
        store = self.load_store()
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


def _scan(table: VirtualTable, keep: Callable[[dict[str, CimValue]], bool]) -> array[int]:
    """The positions of a virtual table whose values ``keep`` accepts (a compact int array)."""
    return array("q", (i for i in range(table.count) if keep(table.values(i))))


def _text_of(values: dict[str, CimValue], name: str) -> str:
    """The text of property ``name`` (case-insensitive, as WMI names are)."""
    if name in values:
        return scalar_text(values[name])
    lowered = name.lower()
    for k, v in values.items():
        if k.lower() == lowered:
            return scalar_text(v)
    return ""
