"""A mapping against the live CRM metadata (``partnersync mappings check``, and every pull).

Offline, :func:`~sync.mapping.load_mapping` already proves the file is well formed. Online,
every mapped field must exist, outbound fields must be updateable, picklists must hold
every value the mapping writes, and field types must fit the partnersync values. With a
``[create]`` section: the external id must be a field an upsert can be keyed on, every
field a create writes must be createable, and every field the CRM requires on create must
be given.
"""

from __future__ import annotations

from collections.abc import Callable

from connectors.base import CrmConnector, FieldInfo, FieldKind
from sync.files import FileProblem as FieldProblem
from sync.mapping.apply import CompiledMapping

__all__ = ["check_mapping"]

_NUMERIC = {FieldKind.NUMBER, FieldKind.CURRENCY, FieldKind.PERCENT, FieldKind.INTEGER}
_TEXTUAL = {FieldKind.STRING, FieldKind.TEXT, FieldKind.PICKLIST, FieldKind.ID,
            FieldKind.REFERENCE}  # fmt: skip
#: partnersync value type (coercer) -> CRM field kinds that can hold it.
_COMPATIBLE: dict[str, set[FieldKind]] = {
    "decimal": _NUMERIC | {FieldKind.STRING},
    "date": {FieldKind.DATE, FieldKind.DATETIME, FieldKind.STRING},
    "datetime": {FieldKind.DATETIME, FieldKind.STRING},
    "bool": {FieldKind.BOOLEAN},
    "text": _TEXTUAL | _NUMERIC,
}


def check_mapping(mapping: CompiledMapping, connector: CrmConnector) -> list[FieldProblem]:
    """Every problem of ``mapping`` against what the CRM's metadata says."""
    problems: list[FieldProblem] = []

    def problem(key: str, message: str) -> None:
        problems.append(FieldProblem(mapping.source, key, message))

    for spec in mapping.inbound.values():
        key = f"inbound.{spec.name}"
        info = connector.describe_path(spec.crm_field)
        if info is None:
            problem(key, f"{connector.object_name} has no field {spec.crm_field!r}")
            continue
        _check_kind(problem, key, spec.kind.coerce, info)
        if spec.values is not None and info.picklist_values is not None:
            for crm_value in spec.values:
                if crm_value not in info.picklist_values:
                    problem(f"{key}.values", f"{info.name} has no picklist value {crm_value!r}")
        elif spec.kind.states is not None and info.picklist_values is not None:
            unknown = [v for v in info.picklist_values if v not in spec.kind.states]
            if unknown:
                problem(key, f"{info.name} values {', '.join(map(repr, unknown))} are no "
                             f"{spec.kind.noun}; add a values table")  # fmt: skip

    for out in mapping.outbound.values():
        key = f"outbound.{out.crm_field}"
        info = connector.describe_path(out.crm_field)
        if info is None:
            problem(key, f"{connector.object_name} has no field {out.crm_field!r}")
            continue
        if not info.updateable:
            problem(key, f"{info.name} is not updateable (read-only or calculated)")
        _check_kind(problem, key, out.kind.coerce, info)
        if info.picklist_values is not None:
            written = (
                list(out.values.values()) if out.values is not None else list(out.kind.states or ())
            )
            missing = [v for v in written if v not in info.picklist_values]
            if missing:
                problem(key, f"{info.name} picklist lacks {', '.join(map(repr, missing))} "
                             f"(it has: {', '.join(info.picklist_values)})")  # fmt: skip
    if mapping.create is not None:
        _check_create(mapping, connector, problem)
    return problems


def _check_create(
    mapping: CompiledMapping, connector: CrmConnector, problem: Callable[[str, str], None]
) -> None:
    create = mapping.create
    assert create is not None
    described = connector.describe()
    key_info = described.get(create.external_id)
    if key_info is None:
        problem("create.external_id", f"{connector.object_name} has no field "
                                      f"{create.external_id!r}")  # fmt: skip
    elif not key_info.upsert_key:
        problem("create.external_id", f"{key_info.name} is not an external-id / unique field: "
                                      "an upsert cannot be keyed on it")  # fmt: skip
    for spec in create.fields.values():
        key = f"create.fields.{spec.crm_field}"
        info = described.get(spec.crm_field)
        if info is None:
            problem(key, f"{connector.object_name} has no field {spec.crm_field!r}")
            continue
        if not info.createable:
            problem(key, f"{info.name} cannot be set on create")
        if spec.kind is not None:
            _check_kind(problem, key, spec.kind.coerce, info)
        elif info.picklist_values is not None and str(spec.constant) not in info.picklist_values:
            problem(key, f"{info.name} has no picklist value {spec.constant!r} "
                         f"(it has: {', '.join(info.picklist_values)})")  # fmt: skip
    for crm_field in mapping.outbound:
        info = described.get(crm_field)
        if info is not None and not info.createable:
            problem(f"outbound.{crm_field}", f"{info.name} cannot be set on create, which "
                                             "[create] writes it on")  # fmt: skip
    given = {*create.fields, *mapping.outbound, create.external_id}
    for info in described.values():
        if info.required_on_create and info.name not in given:
            problem("create.fields", f"{connector.object_name} requires {info.name} on "
                                     "create: give it a value")  # fmt: skip


def _check_kind(
    problem: Callable[[str, str], None], key: str, coerce: str, info: FieldInfo
) -> None:
    if info.kind not in _COMPATIBLE.get(coerce, set()):
        problem(
            key,
            f"{info.name} is a {info.crm_type} field, which cannot hold a partnersync "
            f"{coerce} value",
        )
