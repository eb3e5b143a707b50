"""A compiled mapping and its application: CRM values in, CRM field values out.

:meth:`CompiledMapping.apply_inbound` turns a record's raw CRM values into partnersync
values (:class:`RecordMappingError` names each field that cannot be); :func:`crm_targets`
turns the values partnersync wants a record to show into CRM field values, each with the
comparable text the push and drift correction compare with what the CRM holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cached_property, partial
from typing import Any

from sync.mapping.coerce import COERCERS, CoercionError, to_text
from sync.mapping.vocabulary import ValueKind

__all__ = [
    "CompiledMapping",
    "CreateField",
    "CreateSpec",
    "InboundField",
    "OutboundField",
    "RecordMappingError",
    "Target",
    "crm_targets",
]


@dataclass(frozen=True)
class InboundField:
    """partnersync field ``name`` read from CRM field ``crm_field`` (maybe a path)."""

    name: str
    crm_field: str
    kind: ValueKind
    values: Mapping[str, str] | None = None
    default: str | None = None


@dataclass(frozen=True)
class OutboundField:
    """CRM field ``crm_field`` written from partnersync value ``source``."""

    crm_field: str
    source: str
    kind: ValueKind
    values: Mapping[str, str] | None = None

    def canonical(self, value: Any) -> str | None:
        """The CRM value of this field as comparable text (``"10.5"`` for 10.50 or 10.5).

        Used to store what the CRM holds and to compare it with what partnersync wants,
        whatever shape the CRM sent (JSON number, string, epoch milliseconds).
        """
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        try:
            typed = COERCERS[self.kind.coerce](value)
        except CoercionError:
            return str(value)
        if typed is None:
            return None
        if isinstance(typed, Decimal):
            return format(typed.normalize(), "f")
        if isinstance(typed, date):
            return typed.isoformat()
        return str(typed)


@dataclass(frozen=True)
class CreateField:
    """CRM field ``crm_field`` of a created deal: registration value ``source``, or the
    ``constant`` the mapping gives (``{ value = "Prospecting" }``) when ``source`` is None."""

    crm_field: str
    source: str | None
    kind: ValueKind | None = None
    constant: str | int | bool | None = None


@dataclass(frozen=True)
class CreateSpec:
    """``[create]``: how a deal is created for an approved registration. ``external_id``
    is the CRM field that holds the registration's key (the create is an upsert on it)."""

    external_id: str
    fields: Mapping[str, CreateField]

    def values(self, registration: Mapping[str, Any]) -> dict[str, Any]:
        """CRM field -> value of a new deal, from the registration's ``[create]`` sources
        (typed: ``Decimal``, ``date``); a source the registration lacks gives None."""
        out: dict[str, Any] = {}
        for spec in self.fields.values():
            if spec.source is None:
                out[spec.crm_field] = spec.constant
                continue
            value = registration.get(spec.source)
            if value is not None and spec.kind is not None:
                value = COERCERS[spec.kind.coerce](value)
            out[spec.crm_field] = value
        return out


class RecordMappingError(ValueError):
    """A CRM record whose values cannot be mapped; one line per bad field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class CompiledMapping:
    """One validated mapping file, ready to apply.

    ``digest`` identifies the file's contents (a SHA-256 of its text), so a check of the
    mapping against the CRM's metadata is made once per process and contents.
    """

    source: str
    crm: str
    object: str
    inbound: Mapping[str, InboundField]
    outbound: Mapping[str, OutboundField]
    won_stages: frozenset[str] = field(default=frozenset())
    lost_stages: frozenset[str] = field(default=frozenset())
    digest: str = ""
    #: ``[create]``: deals created for approved registrations; None when not mapped.
    create: CreateSpec | None = None

    def read_fields(self) -> tuple[str, ...]:
        """CRM fields to read: every inbound field and every outbound target, once."""
        names = [f.crm_field for f in self.inbound.values()]
        names += list(self.outbound)
        return tuple(dict.fromkeys(names))

    def outbound_for(self, source: str) -> OutboundField | None:
        """The outbound field written from partnersync value ``source``, if one is mapped."""
        return next((f for f in self.outbound.values() if f.source == source), None)

    @cached_property
    def _inbound_plan(self) -> tuple[tuple[str, str, Callable[[Any], Any], bool], ...]:
        """(name, CRM field, converter, is plain text) per inbound field: the per-record
        loop, prepared once."""
        plan = []
        for spec in self.inbound.values():
            convert = _inbound_converter(spec)
            plan.append((spec.name, spec.crm_field, convert, convert is to_text))
        return tuple(plan)

    def apply_inbound(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """partnersync values from raw CRM values; :class:`RecordMappingError` if any is bad.

        ``is_won`` / ``is_closed`` come from their fields when mapped, else from ``[stages]``.
        """
        result: dict[str, Any] = {}
        problems: list[str] = []
        for name, crm_field, convert, text in self._inbound_plan:
            raw = values.get(crm_field)
            if text and type(raw) is str:  # to_text's common case, without the call
                result[name] = raw.strip() or None
                continue
            try:
                result[name] = convert(raw)
            except CoercionError as exc:
                problems.append(f"{name} ({crm_field}): {exc}")
        if problems:
            raise RecordMappingError(problems)
        stage = (result.get("stage") or "").casefold()
        if "is_won" not in self.inbound:
            result["is_won"] = stage in self.won_stages
        if "is_closed" not in self.inbound:
            result["is_closed"] = stage in self.won_stages or stage in self.lost_stages
        if result.get("currency"):
            result["currency"] = str(result["currency"]).upper()
        return result

    def outbound_values(self, desired: Mapping[str, Any]) -> dict[str, Any]:
        """CRM field -> value for each outbound field whose source is in ``desired``."""
        out: dict[str, Any] = {}
        for spec in self.outbound.values():
            if spec.source not in desired:
                continue
            value = desired[spec.source]
            if spec.values is not None and value is not None:
                value = spec.values[str(value)]
            out[spec.crm_field] = value
        return out


@dataclass(frozen=True)
class Target:
    """What one CRM field must show: the value for the wire and its comparable text."""

    value: Any
    canonical: str | None


def crm_targets(mapping: CompiledMapping, desired: Mapping[str, Any]) -> dict[str, Target]:
    """CRM field -> :class:`Target` for every outbound field whose source is in ``desired``.

    ``canonical`` compares with ``Opportunity.crm_values`` (what the CRM holds), however the
    CRM formats the value (``10.5`` for ``10.50``, epoch milliseconds for a date).
    """
    targets: dict[str, Target] = {}
    for crm_field, value in mapping.outbound_values(desired).items():
        spec = mapping.outbound[crm_field]
        typed = value
        if value is not None and spec.values is None:
            typed = COERCERS[spec.kind.coerce](value)
        targets[crm_field] = Target(typed, spec.canonical(typed))
    return targets


def _inbound_converter(spec: InboundField) -> Callable[[Any], Any]:
    """:func:`_inbound_value` for ``spec``; the bare coercer when it has no default or values."""
    if spec.default is None and spec.values is None and spec.kind.states is None:
        return COERCERS[spec.kind.coerce]
    return partial(_inbound_value, spec)


def _inbound_value(spec: InboundField, raw: Any) -> Any:
    if spec.default is not None and (raw is None or (isinstance(raw, str) and not raw.strip())):
        raw = spec.default
    if spec.values is not None and raw is not None and str(raw) in spec.values:
        return spec.values[str(raw)]
    value = COERCERS[spec.kind.coerce](raw)
    if spec.kind.states is not None and value is not None and value not in spec.kind.states:
        expected = ", ".join(sorted(spec.values or spec.kind.states))
        raise CoercionError(f"unknown {spec.kind.noun} {raw!r} (expected one of: {expected})")
    return value
