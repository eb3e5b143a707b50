"""Mapping files (``mappings/*.toml``): read and compile into a :class:`CompiledMapping`.

A mapping file names, for one CRM object, which CRM field holds each partnersync field
(``[inbound]``) and which CRM field receives each partnersync value (``[outbound]``). It is
compiled at load into immutable objects; every problem is reported at once, with the file,
the key path and what is allowed, e.g.::

    mappings/hubspot.toml: outbound.payout_status.values.payed: unknown payout state
    'payed' (expected one of: accrued, approved, scheduled, paid, reversed)

Why a hand-written walk and not pydantic models (as the settings use): most problems in a
mapping depend on a sibling key (what a ``values`` table may hold depends on the value
its ``from`` names, a ``default`` must fit the field's type, ``[stages]`` is needed only
when ``is_won`` is not mapped), and each must be reported at the key path of the very
entry (``values.payed``), together with every other problem of the file, in RevOps'
words rather than a validator's. :class:`~sync.files.FileCompiler` is the shared shape
for such files: the agreement files follow it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sync.files import FileCompiler, FileError, FileProblem, parse_toml, quote_key
from sync.mapping.apply import (
    CompiledMapping,
    CreateField,
    CreateSpec,
    InboundField,
    OutboundField,
)
from sync.mapping.coerce import COERCERS, CoercionError
from sync.mapping.vocabulary import CREATE, CRMS, INBOUND, OUTBOUND, TEXT

__all__ = ["FieldProblem", "MappingError", "load_mapping", "parse_mapping"]

#: A problem in a mapping file (file, key path, message).
FieldProblem = FileProblem

_CRM_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?$")


class MappingError(FileError):
    """A mapping file is invalid; :attr:`problems` lists every problem found."""


def load_mapping(path: str | Path) -> CompiledMapping:
    """Read and compile one mapping file; :class:`MappingError` lists every problem."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError([FileProblem(str(file), "", f"cannot read: {exc.strerror}")]) from None
    return parse_mapping(text, str(file))


def parse_mapping(text: str, source: str = "<mapping>") -> CompiledMapping:
    """Compile mapping TOML ``text``; ``source`` names it in errors."""
    data = parse_toml(text, source, MappingError)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return _Compiler(source, data, digest).compile()


class _Compiler(FileCompiler):
    error = MappingError

    def __init__(self, source: str, data: dict[str, Any], digest: str) -> None:
        super().__init__(source)
        self.data = data
        self.digest = digest

    def compile(self) -> CompiledMapping:
        self.unknown_keys(
            self.data, "", ("crm", "object", "stages", "inbound", "outbound", "create")
        )
        crm = self.data.get("crm")
        if crm not in CRMS:
            self.problem("crm", f"must be one of: {', '.join(CRMS)} (got {crm!r})")
        obj = self.data.get("object")
        if not isinstance(obj, str) or not obj:
            self.problem("object", 'must name the CRM object, e.g. "Opportunity" or "deals"')
        inbound = self._inbound(self.table(self.data, "inbound"))
        outbound = self._outbound(self.table(self.data, "outbound", required=False))
        won, lost = self._stages(inbound)
        create = None
        if "create" in self.data:
            create = self._create(self.table(self.data, "create"), inbound, outbound)
        self.raise_problems()
        return CompiledMapping(
            source=self.source,
            crm=str(crm),
            object=str(obj),
            inbound=MappingProxyType(inbound),
            outbound=MappingProxyType(outbound),
            won_stages=won,
            lost_stages=lost,
            digest=self.digest,
            create=create,
        )

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
                self.problem(f"{key}.{quote_key(k)}", f"must be a string (got {v!r})")
                continue
            state = k if keys_are_states else v
            if states is not None and state not in states:
                self.problem(
                    f"{key}.{quote_key(k)}",
                    f"unknown {noun} {state!r} (expected one of: {', '.join(states)})",
                )
                continue
            table[str(k)] = str(v).lower() if isinstance(v, bool) else str(v)
        return table

    def _inbound(self, table: dict[str, Any]) -> dict[str, InboundField]:
        fields: dict[str, InboundField] = {}
        for name, spec in table.items():
            key = f"inbound.{quote_key(name)}"
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
            key = f"outbound.{quote_key(crm_field)}"
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

    def _create(
        self,
        table: dict[str, Any],
        inbound: dict[str, InboundField],
        outbound: dict[str, OutboundField],
    ) -> CreateSpec | None:
        """``[create]``: the external-id field and the fields of a new deal. The mirror
        reads the external-id field as ``registration_key`` (the created deal is linked
        back by it), unless ``[inbound]`` already maps it there."""
        self.unknown_keys(table, "create", ("external_id", "fields"))
        external_id = table.get("external_id")
        if (
            not isinstance(external_id, str)
            or not _CRM_FIELD.match(external_id)
            or ("." in external_id)
        ):
            self.problem(
                "create.external_id",
                "must name a unique / external-id field of the object that holds the "
                f"registration's key, a field name without dots (got {external_id!r})",
            )
            external_id = None
        raw_fields = table.get("fields", {})
        if not isinstance(raw_fields, dict):
            self.problem("create.fields", "must be a table of CRM field = registration value")
            raw_fields = {}
        fields: dict[str, CreateField] = {}
        for crm_field, spec in raw_fields.items():
            key = f"create.fields.{quote_key(crm_field)}"
            if not _CRM_FIELD.match(crm_field) or "." in crm_field:
                self.problem(key, "must be a field of the object itself (no relationship path)")
                continue
            if crm_field == external_id:
                self.problem(key, "is the external id: partnersync writes the key there itself")
                continue
            if crm_field in outbound:
                self.problem(key, "is written by [outbound] already (a create writes those too)")
                continue
            if isinstance(spec, dict):
                extra = set(spec) - {"value"}
                if extra or "value" not in spec:
                    self.problem(key, 'a table here must be { value = "a constant" }')
                    continue
                constant = spec["value"]
                if not isinstance(constant, str | int | bool) or isinstance(constant, float):
                    self.problem(
                        f"{key}.value",
                        f"must be a string, an integer or true/false (got {constant!r}); "
                        "write amounts as strings",
                    )
                    continue
                fields[crm_field] = CreateField(crm_field, None, constant=constant)
                continue
            kind = CREATE.get(spec) if isinstance(spec, str) else None
            if kind is None:
                self.problem(
                    key,
                    f"unknown registration value {spec!r} (expected one of: "
                    f'{", ".join(CREATE)}, or {{ value = "a constant" }})',
                )
                continue
            fields[crm_field] = CreateField(crm_field, spec, kind)
        if external_id is None:
            return None
        known = inbound.get("registration_key")
        if known is None:
            inbound["registration_key"] = InboundField("registration_key", external_id, TEXT)
        elif known.crm_field != external_id:
            self.problem(
                "inbound.registration_key",
                f"must read the [create] external id {external_id!r} (got {known.crm_field!r})",
            )
        return CreateSpec(external_id, MappingProxyType(fields))

    def _stages(self, inbound: dict[str, InboundField]) -> tuple[frozenset[str], frozenset[str]]:
        table = self.table(self.data, "stages", required=False)
        for key in table:
            if key not in ("won", "lost"):
                self.problem(f"stages.{quote_key(key)}", "unknown key (expected one of: won, lost)")
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


def _frozen(values: dict[str, str] | None) -> Mapping[str, str] | None:
    return MappingProxyType(values) if values is not None else None
