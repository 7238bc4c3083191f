"""Resource locators and endpoint references.

A :class:`ResourceLocator` is the scripting API's ``ResourceLocator``
(``IWSManResourceLocator``): a resource URI plus the selectors (DSP0226 7.2,
``w:SelectorSet``), options (DSP0226 6.4, ``w:OptionSet``) and fragment
(DSP0226 7.7, ``w:FragmentTransfer``) that address one resource or a class of
them.

An :class:`EndpointReference` is a WS-Addressing EPR as servers send them: in
``x:ResourceCreated`` (DSP0226 7.5), in EPR-mode enumerations (8.7), as the
value of a reference property (DSP0227 7.6) or as a selector value.

CIM namespaces
    A CIM server with more than one namespace takes the target namespace
    from the ``__cimnamespace`` selector (DSP0227 6.3; MS-WSMV 3.1.4.1.1) and falls back to
    a default one without it (OMI: ``interop``). Windows names the namespace
    in its WMI resource URIs, and iDRAC puts ``__cimnamespace`` in every EPR
    (corpus ``dracclient-invoke-response-job-epr.xml``), but OMI leaves it
    out of the EPRs it returns even when the request named one (corpus
    ``omi-enumerate-request-wql-epr-windows-client.xml`` asks ``root/OMI``;
    the EPRs of ``omi-enumerate-response-object-and-epr.xml`` carry only the
    key). Such a reference, used as it came, would address the default
    namespace. So a reference read from the answer to a request addressed to
    a namespace gets that namespace (:meth:`EndpointReference.in_namespace`,
    applied by :func:`epr_from_element`): using it again addresses what it
    came from.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from .namespaces import (
    NS_ADDRESSING,
    NS_WSMAN,
    URI_CIMV2,
    URI_SHELL,
    URI_WINRM,
    URI_WMI,
    URI_WMICIMV2,
    URI_WSMAN,
)

__all__ = [
    "CIM_NAMESPACE_SELECTOR",
    "EndpointReference",
    "Option",
    "ResourceLocator",
    "epr_from_element",
    "expand_resource_uri",
]

#: The selector naming the CIM namespace of a resource (DSP0227 6.3; MS-WSMV 3.1.4.1.1).
CIM_NAMESPACE_SELECTOR = "__cimnamespace"

#: winrm.cmd's prefix aliases (``winrm help uris`` / "URI prefixes" on Microsoft
#: Learn). The alias is the first path segment, compared without case.
_ALIASES: dict[str, str] = {
    "wmi": URI_WMI,
    "wmicimv2": URI_WMICIMV2,
    "cimv2": URI_CIMV2,
    "winrm": URI_WINRM,
    "wsman": URI_WSMAN,
    "shell": URI_SHELL,
}


def expand_resource_uri(alias: str) -> str:
    """Expand a winrm.cmd alias (``wmicimv2/Win32_Service``) to a full resource URI.

    Full URIs (anything with ``://``) and unknown prefixes are returned as is.

    Args:
        alias: ``wmi/root/default/StdRegProv``, ``cimv2/CIM_Processor``,
            ``winrm/config``, ``shell/cmd``, ``wmicimv2/*``... or a full URI.

    Returns:
        The full resource URI.
    """
    uri = alias.strip()
    if "://" in uri:
        return uri
    head, sep, rest = uri.partition("/")
    base = _ALIASES.get(head.lower())
    if base is None:
        return uri
    return f"{base}/{rest}" if sep and rest else base


class FrozenMap(Mapping[str, Any]):
    """An immutable, hashable, picklable mapping (selectors of a frozen EPR)."""

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data: dict[str, Any] = dict(data or {})
        self._hash: int | None = None

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self._data) == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return repr(self._data)

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenMap, (self._data,))


@dataclass(frozen=True)
class EndpointReference:
    """A WS-Addressing endpoint reference (``wsa:EndpointReference``).

    Attributes:
        address: ``wsa:Address`` (often the anonymous role URI), or None.
        resource_uri: ``w:ResourceURI`` from the reference parameters.
        selectors: ``w:SelectorSet`` as a read-only mapping; a value is a
            string or a nested :class:`EndpointReference` (DSP0226 7.2).
    """

    address: str | None
    resource_uri: str | None
    selectors: Mapping[str, str | EndpointReference] = field(default_factory=FrozenMap)

    def __post_init__(self) -> None:
        if not isinstance(self.selectors, FrozenMap):
            object.__setattr__(self, "selectors", FrozenMap(self.selectors))

    def to_locator(self) -> ResourceLocator:
        """A :class:`ResourceLocator` for the referenced resource."""
        return ResourceLocator(self.resource_uri or "", dict(self.selectors))

    @property
    def cim_namespace(self) -> str | None:
        """The ``__cimnamespace`` selector, or None when the reference names none."""
        value = self.selectors.get(CIM_NAMESPACE_SELECTOR)
        return value if isinstance(value, str) else None

    def in_namespace(self, namespace: str | None) -> EndpointReference:
        """This reference, completed with CIM namespace ``namespace`` when it names none.

        A reference without ``__cimnamespace`` is relative to the namespace
        of the request it came from (module docstring). Nested references in
        selector values are completed the same way.

        Args:
            namespace: the namespace of the request the reference came from;
                None leaves the reference unchanged.

        Returns:
            ``self`` when there is nothing to add, else a completed copy (the
            namespace selector first, as clients write it).
        """
        if not namespace:
            return self
        changed = False
        selectors: dict[str, str | EndpointReference] = {}
        if CIM_NAMESPACE_SELECTOR not in self.selectors:
            selectors[CIM_NAMESPACE_SELECTOR] = namespace
            changed = True
        for name, value in self.selectors.items():
            if isinstance(value, EndpointReference):
                completed = value.in_namespace(namespace)
                changed = changed or completed is not value
                value = completed
            selectors[name] = value
        if not changed:
            return self
        return EndpointReference(self.address, self.resource_uri, FrozenMap(selectors))

    def __repr__(self) -> str:
        sel = ", ".join(f"{k}={v!r}" for k, v in self.selectors.items())
        return f"EndpointReference({self.resource_uri!r}, {{{sel}}})"


@dataclass(frozen=True)
class Option:
    """One ``w:Option`` of an OptionSet (DSP0226 6.4).

    Attributes:
        name: the option name.
        value: its text value (None sends an empty option, xsi:nil style).
        must_comply: sets ``MustComply="true"`` on the option; the service
            must then honour it or fault.
        type: the optional ``Type`` attribute (e.g. ``xs:boolean``).
    """

    name: str
    value: str | None
    must_comply: bool = False
    type: str | None = None


def _option_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _selector_value(value: object) -> str | EndpointReference:
    if isinstance(value, EndpointReference):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TypeError(f"a selector value must be str, int or EndpointReference, not {type(value)}")


class ResourceLocator:
    """The address of a resource: URI, selectors, options, fragment.

    ``ResourceLocator("wmicimv2/Win32_Service?Name=WinRM")`` expands the alias
    and turns the query into selectors, as winrm.cmd does.

    Args:
        uri: a full resource URI or a winrm.cmd alias, optionally followed by
            ``?Key=Value&Key2=Value2`` selectors.
        selectors: more selectors (names to strings, numbers or EPRs).
        options: option names to values (``w:OptionSet``).
        fragment: a fragment path for fragment-level transfer.
        fragment_dialect: the fragment dialect URI (default XPath level 1
            is implied by the service when omitted).
        must_understand_options: mark the OptionSet ``s:mustUnderstand``.
        **selector_kwargs: selectors as keyword arguments.

    Raises:
        TypeError: a selector value of an unsupported type.
    """

    __slots__ = (
        "fragment_dialect",
        "fragment_path",
        "must_understand_options",
        "options",
        "resource_uri",
        "selectors",
    )

    def __init__(
        self,
        uri: str = "",
        selectors: Mapping[str, object] | None = None,
        *,
        options: Mapping[str, object] | None = None,
        fragment: str | None = None,
        fragment_dialect: str | None = None,
        must_understand_options: bool = False,
        **selector_kwargs: object,
    ) -> None:
        base, _, query = uri.partition("?")
        self.resource_uri: str = expand_resource_uri(base)
        self.selectors: dict[str, str | EndpointReference] = {}
        self.options: list[Option] = []
        self.fragment_path: str | None = fragment
        self.fragment_dialect: str | None = fragment_dialect
        self.must_understand_options: bool = must_understand_options
        if query:
            for pair in query.split("&"):
                if not pair:
                    continue
                key, _, text = pair.partition("=")
                self.add_selector(key.strip(), text)
        for source in (selectors or {}, selector_kwargs):
            for name, value in source.items():
                self.add_selector(name, value)
        for name, option in (options or {}).items():
            self.add_option(name, option)

    def add_selector(self, name: str, value: object) -> None:
        """Add (or replace) a selector (``IWSManResourceLocator::AddSelector``)."""
        self.selectors[name] = _selector_value(value)

    def clear_selectors(self) -> None:
        """Remove every selector (``ClearSelectors``)."""
        self.selectors.clear()

    def add_option(
        self, name: str, value: object, must_comply: bool = False, type: str | None = None
    ) -> None:
        """Add an option (``AddOption``); ``must_comply`` sets ``MustComply="true"``."""
        self.options.append(Option(name, _option_text(value), must_comply, type))

    def clear_options(self) -> None:
        """Remove every option (``ClearOptions``)."""
        self.options.clear()

    @property
    def cim_namespace(self) -> str | None:
        """The ``__cimnamespace`` selector (DSP0227 6.3; MS-WSMV 3.1.4.1.1), or None."""
        value = self.selectors.get(CIM_NAMESPACE_SELECTOR)
        return value if isinstance(value, str) else None

    @property
    def options_must_understand(self) -> bool:
        """Whether the OptionSet carries ``s:mustUnderstand="true"``."""
        return self.must_understand_options or any(o.must_comply for o in self.options)

    @classmethod
    def coerce(cls, value: str | ResourceLocator | EndpointReference) -> ResourceLocator:
        """Accept a URI/alias string, a locator or an EPR wherever a locator is expected.

        Raises:
            TypeError: anything else.
        """
        if isinstance(value, ResourceLocator):
            return value
        if isinstance(value, EndpointReference):
            return value.to_locator()
        if isinstance(value, str):
            return cls(value)
        raise TypeError(
            f"expected a resource URI, ResourceLocator or EndpointReference, not {value!r}"
        )

    def copy(self) -> ResourceLocator:
        """A copy that can be changed without touching this one."""
        new = ResourceLocator(self.resource_uri, self.selectors)
        new.options = list(self.options)
        new.fragment_path = self.fragment_path
        new.fragment_dialect = self.fragment_dialect
        new.must_understand_options = self.must_understand_options
        return new

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ResourceLocator):
            return NotImplemented
        return all(getattr(self, a) == getattr(other, a) for a in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        parts = [repr(self.resource_uri)]
        if self.selectors:
            parts.append(f"selectors={self.selectors!r}")
        if self.options:
            parts.append(
                "options={"
                + ", ".join(
                    f"{o.name!r}: {o.value!r}" + (" (must comply)" if o.must_comply else "")
                    for o in self.options
                )
                + "}"
            )
        if self.fragment_path:
            parts.append(f"fragment={self.fragment_path!r}")
        return f"ResourceLocator({', '.join(parts)})"


# -- parsing EPRs from responses ---------------------------------------------

_A_ADDRESS = f"{{{NS_ADDRESSING}}}Address"
_A_REFPARAMS = f"{{{NS_ADDRESSING}}}ReferenceParameters"
_A_REFPROPS = f"{{{NS_ADDRESSING}}}ReferenceProperties"
_A_EPR = f"{{{NS_ADDRESSING}}}EndpointReference"
_W_RESOURCE_URI = f"{{{NS_WSMAN}}}ResourceURI"
_W_SELECTOR_SET = f"{{{NS_WSMAN}}}SelectorSet"


def epr_from_element(
    element: etree._Element, cim_namespace: str | None = None
) -> EndpointReference:
    """Read an EPR from an element holding ``wsa:Address`` / ``wsa:ReferenceParameters``.

    The element may be ``wsa:EndpointReference`` itself, ``x:ResourceCreated``,
    or a property element wrapping either shape (AMT puts Address and
    ReferenceParameters directly in the property; iDRAC wraps them in
    ``wsa:EndpointReference``). Values are stripped: OMI and pretty-printed
    fixtures pad them with whitespace.

    Args:
        element: the element.
        cim_namespace: the CIM namespace of the request whose answer holds
            it; a reference naming none is completed with it (module
            docstring, :meth:`EndpointReference.in_namespace`).

    Returns:
        The endpoint reference.
    """
    inner = element.find(_A_EPR)
    if inner is not None and element.find(_A_ADDRESS) is None:
        element = inner
    address: str | None = None
    resource_uri: str | None = None
    selectors: dict[str, str | EndpointReference] = {}
    for child in element:
        tag = child.tag
        if tag == _A_ADDRESS:
            address = (child.text or "").strip()
        elif tag in (_A_REFPARAMS, _A_REFPROPS):
            for param in child:
                if param.tag == _W_RESOURCE_URI:
                    resource_uri = (param.text or "").strip()
                elif param.tag == _W_SELECTOR_SET:
                    selectors.update(_selectors_from_set(param))
    return EndpointReference(address, resource_uri, FrozenMap(selectors)).in_namespace(
        cim_namespace
    )


def _selectors_from_set(selector_set: etree._Element) -> dict[str, str | EndpointReference]:
    out: dict[str, str | EndpointReference] = {}
    for sel in selector_set:
        if not isinstance(sel.tag, str):
            continue
        name = sel.get("Name", "")
        nested = sel.find(_A_EPR)
        if nested is not None:
            out[name] = epr_from_element(nested)
        else:
            out[name] = (sel.text or "").strip()
    return out
