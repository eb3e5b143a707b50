"""Declarative field mappings (``mappings/*.toml``): load, validate, compile, apply.

A mapping file names, for one CRM object, which CRM field holds each partnersync field
(``[inbound]``) and which CRM field receives each partnersync value (``[outbound]``). It is
compiled at load into immutable objects; every problem is reported with the file, the key
path and what is allowed, e.g.::

    mappings/salesforce.toml: outbound."Payout_Status__c".values: unknown payout state
    'payed' (expected one of: accrued, approved, scheduled, paid, reversed)

The vocabulary (what may appear on the partnersync side) is :data:`INBOUND` and
:data:`OUTBOUND`; ``mappings/README.md`` documents it for RevOps.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cached_property, partial
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sync.coerce import COERCERS, CoercionError, to_text
from sync.store.enums import CoSellDirection, PayoutStatus, RegistrationStatus

__all__ = [
    "DIRECTIONS",
    "INBOUND",
    "OUTBOUND",
    "CompiledMapping",
    "FieldProblem",
    "InboundField",
    "MappingError",
    "OutboundField",
    "RecordMappingError",
    "load_mapping",
    "parse_mapping",
]

CRMS = ("salesforce", "hubspot")
DIRECTIONS = tuple(d.value for d in CoSellDirection)
REGISTRATION_STATES = tuple(s.value for s in RegistrationStatus)
PAYOUT_STATES = tuple(s.value for s in PayoutStatus)


@dataclass(frozen=True)
class _Kind:
    """A partnersync value type: how CRM values are coerced, and its closed set if any."""

    coerce: str  # key of sync.coerce.COERCERS
    states: tuple[str, ...] | None = None
    noun: str = "value"


_TEXT = _Kind("text")
_MONEY = _Kind("decimal")
_DATE = _Kind("date")
_BOOL = _Kind("bool")

#: partnersync inbound field -> its type. ``name`` is required in every mapping.
INBOUND: Mapping[str, _Kind] = MappingProxyType(
    {
        "name": _TEXT,
        "amount": _MONEY,
        "currency": _TEXT,
        "stage": _TEXT,
        "close_date": _DATE,
        "is_won": _BOOL,
        "is_closed": _BOOL,
        "account_name": _TEXT,
        "account_domain": _TEXT,
        "partner_ref": _TEXT,
        "practice": _TEXT,
        "direction": _Kind("text", DIRECTIONS, "co-sell direction"),
        "paid_amount": _MONEY,
        "paid_date": _DATE,
        "cost": _MONEY,
        "modified_by": _TEXT,  # who last changed the record: named in drift audits only
    }
)

#: partnersync outbound source -> its type.
OUTBOUND: Mapping[str, _Kind] = MappingProxyType(
    {
        "registration.id": _TEXT,
        "registration.status": _Kind("text", REGISTRATION_STATES, "registration state"),
        "registration.reason": _TEXT,
        "registration.protected_until": _DATE,
        "registration.partner_id": _TEXT,
        "commission.accrued": _MONEY,
        "commission.currency": _TEXT,
        "payout.status": _Kind("text", PAYOUT_STATES, "payout state"),
        "payout.amount": _MONEY,
        "payout.reference": _TEXT,
        "payout.paid_at": _DATE,
    }
)

_CRM_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?$")


@dataclass(frozen=True)
class FieldProblem:
    """One problem in a mapping file: where (dotted key path) and what."""

    file: str
    key: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.file}: {self.key}: {self.message}"
            if self.key
            else f"{self.file}: {self.message}"
        )


class MappingError(Exception):
    """A mapping file is invalid; :attr:`problems` lists every problem found."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class InboundField:
    """partnersync field ``name`` read from CRM field ``crm_field`` (maybe a path)."""

    name: str
    crm_field: str
    kind: _Kind
    values: Mapping[str, str] | None = None
    default: str | None = None


@dataclass(frozen=True)
class OutboundField:
    """CRM field ``crm_field`` written from partnersync value ``source``."""

    crm_field: str
    source: str
    kind: _Kind
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


class RecordMappingError(ValueError):
    """A CRM record whose values cannot be mapped; one line per bad field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class CompiledMapping:
    """One validated mapping file, ready to apply."""

    source: str
    crm: str
    object: str
    inbound: Mapping[str, InboundField]
    outbound: Mapping[str, OutboundField]
    won_stages: frozenset[str] = field(default=frozenset())
    lost_stages: frozenset[str] = field(default=frozenset())

    def read_fields(self) -> tuple[str, ...]:
        """CRM fields to read: every inbound field and every outbound target, once."""
        names = [f.crm_field for f in self.inbound.values()]
        names += list(self.outbound)
        return tuple(dict.fromkeys(names))

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


# --- loading --------------------------------------------------------------------------


def load_mapping(path: str | Path) -> CompiledMapping:
    """Read and compile one mapping file; :class:`MappingError` lists every problem."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError([FieldProblem(str(file), "", f"cannot read: {exc.strerror}")]) from None
    return parse_mapping(text, str(file))


def parse_mapping(text: str, source: str = "<mapping>") -> CompiledMapping:
    """Compile mapping TOML ``text``; ``source`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError([FieldProblem(source, "", f"not valid TOML: {exc}")]) from None
    return _Compiler(source, data).compile()


class _Compiler:
    def __init__(self, source: str, data: dict[str, Any]) -> None:
        self.source = source
        self.data = data
        self.problems: list[FieldProblem] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(FieldProblem(self.source, key, message))

    def compile(self) -> CompiledMapping:
        known = ("crm", "object", "stages", "inbound", "outbound")
        for key in self.data:
            if key not in known:
                self.problem(key, f"unknown key (expected one of: {', '.join(known)})")
        crm = self.data.get("crm")
        if crm not in CRMS:
            self.problem("crm", f"must be one of: {', '.join(CRMS)} (got {crm!r})")
        obj = self.data.get("object")
        if not isinstance(obj, str) or not obj:
            self.problem("object", 'must name the CRM object, e.g. "Opportunity" or "deals"')
        inbound = self._inbound(self._table("inbound"))
        outbound = self._outbound(self._table("outbound", required=False))
        won, lost = self._stages(inbound)
        if self.problems:
            raise MappingError(self.problems)
        return CompiledMapping(
            source=self.source,
            crm=str(crm),
            object=str(obj),
            inbound=MappingProxyType(inbound),
            outbound=MappingProxyType(outbound),
            won_stages=won,
            lost_stages=lost,
        )

    def _table(self, key: str, required: bool = True) -> dict[str, Any]:
        value = self.data.get(key)
        if value is None:
            if required:
                self.problem(key, f"missing table [{key}]")
            return {}
        if not isinstance(value, dict):
            self.problem(key, f"must be a table [{key}]")
            return {}
        return value

    def _crm_field(self, key: str, value: Any) -> str | None:
        if not isinstance(value, str) or not _CRM_FIELD.match(value):
            self.problem(
                key,
                f"must be a CRM field name or one relationship path like "
                f'"Account.Name" (got {value!r})',
            )
            return None
        return value

    def _values(
        self,
        key: str,
        raw: Any,
        states: tuple[str, ...] | None,
        noun: str,
        *,
        keys_are_states: bool,
    ) -> dict[str, str] | None:
        if not isinstance(raw, dict) or not raw:
            self.problem(key, "must be a non-empty table of value = value")
            return None
        table: dict[str, str] = {}
        for k, v in raw.items():
            if not isinstance(v, str | int | bool):
                self.problem(f"{key}.{_quote(k)}", f"must be a string (got {v!r})")
                continue
            state = k if keys_are_states else v
            if states is not None and state not in states:
                self.problem(
                    f"{key}.{_quote(k)}",
                    f"unknown {noun} {state!r} (expected one of: {', '.join(states)})",
                )
                continue
            table[str(k)] = str(v).lower() if isinstance(v, bool) else str(v)
        return table

    def _inbound(self, table: dict[str, Any]) -> dict[str, InboundField]:
        fields: dict[str, InboundField] = {}
        for name, spec in table.items():
            key = f"inbound.{_quote(name)}"
            kind = INBOUND.get(name)
            if kind is None:
                self.problem(
                    key, f"unknown partnersync field (expected one of: {', '.join(INBOUND)})"
                )
                continue
            values = None
            default = None
            if isinstance(spec, dict):
                extra = set(spec) - {"field", "values", "default"}
                if extra:
                    self.problem(
                        key, f"unknown key {sorted(extra)[0]!r} (expected: field, values, default)"
                    )
                crm_field = self._crm_field(f"{key}.field", spec.get("field"))
                default = spec.get("default")
                if default is not None:
                    if not isinstance(default, str):
                        self.problem(f"{key}.default", f"must be a string (got {default!r})")
                        default = None
                    else:
                        try:
                            COERCERS[kind.coerce](default)
                        except CoercionError as exc:
                            self.problem(f"{key}.default", str(exc))
                            default = None
                if "values" in spec:
                    values = self._values(
                        f"{key}.values",
                        spec["values"],
                        kind.states,
                        kind.noun,
                        keys_are_states=False,
                    )
            else:
                crm_field = self._crm_field(key, spec)
            if crm_field:
                fields[name] = InboundField(name, crm_field, kind, _frozen(values), default)
        if table and "name" not in fields and "name" not in table:
            self.problem("inbound", "must map 'name' (the deal name)")
        return fields

    def _outbound(self, table: dict[str, Any]) -> dict[str, OutboundField]:
        fields: dict[str, OutboundField] = {}
        for crm_field, spec in table.items():
            key = f"outbound.{_quote(crm_field)}"
            if not _CRM_FIELD.match(crm_field) or "." in crm_field:
                self.problem(key, "must be a field of the object itself (no relationship path)")
                continue
            values = None
            if isinstance(spec, dict):
                extra = set(spec) - {"from", "values"}
                if extra:
                    self.problem(key, f"unknown key {sorted(extra)[0]!r} (expected: from, values)")
                source = spec.get("from")
                source_key = f"{key}.from"
            else:
                source, source_key = spec, key
            kind = OUTBOUND.get(source) if isinstance(source, str) else None
            if kind is None:
                self.problem(
                    source_key,
                    f"unknown partnersync value {source!r} "
                    f"(expected one of: {', '.join(OUTBOUND)})",
                )
                continue
            if isinstance(spec, dict) and "values" in spec:
                if kind.states is None:
                    self.problem(f"{key}.values", f"{source} has no fixed set of values to map")
                    continue
                values = self._values(
                    f"{key}.values", spec["values"], kind.states, kind.noun, keys_are_states=True
                )
                if values is not None:
                    missing = [s for s in kind.states if s not in values]
                    if missing:
                        self.problem(
                            f"{key}.values", f"no CRM value for {kind.noun} {', '.join(missing)}"
                        )
            fields[crm_field] = OutboundField(crm_field, str(source), kind, _frozen(values))
        return fields

    def _stages(self, inbound: dict[str, InboundField]) -> tuple[frozenset[str], frozenset[str]]:
        table = self._table("stages", required=False)
        for key in table:
            if key not in ("won", "lost"):
                self.problem(f"stages.{_quote(key)}", "unknown key (expected one of: won, lost)")
        lists: dict[str, frozenset[str]] = {}
        for key in ("won", "lost"):
            raw = table.get(key, [])
            if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
                self.problem(f"stages.{key}", "must be a list of stage names")
                raw = []
            lists[key] = frozenset(s.casefold() for s in raw)
        if lists["won"] & lists["lost"]:
            both = ", ".join(sorted(lists["won"] & lists["lost"]))
            self.problem("stages", f"a stage cannot be both won and lost: {both}")
        needs_stages = "is_won" not in inbound or "is_closed" not in inbound
        if needs_stages and not lists["won"] and inbound:
            if "stage" not in inbound:
                self.problem("inbound", "map 'stage' with [stages], or map is_won and is_closed")
            else:
                self.problem("stages", "list the won stages (is_won is not mapped)")
        return lists["won"], lists["lost"]


def _quote(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f'"{key}"'


def _frozen(values: dict[str, str] | None) -> Mapping[str, str] | None:
    return MappingProxyType(values) if values is not None else None
