"""Declarative field mappings (``mappings/*.toml``): the vocabulary, the compiler, the
compiled mapping and its application, and the check against a CRM's live metadata.

- :mod:`~sync.mapping.vocabulary`: what may stand on the partnersync side, and its types;
- :mod:`~sync.mapping.compile`: files -> :class:`CompiledMapping`, every problem at once;
- :mod:`~sync.mapping.apply`: CRM values in (:meth:`CompiledMapping.apply_inbound`), CRM
  field values out (:func:`crm_targets`);
- :mod:`~sync.mapping.check`: the mapping against the CRM's ``describe`` / properties;
- :mod:`~sync.mapping.coerce`: CRM wire values as ``Decimal``, ``date``, UTC ``datetime``.
"""

from __future__ import annotations

from sync.mapping.apply import (
    CompiledMapping,
    CreateField,
    CreateSpec,
    InboundField,
    OutboundField,
    RecordMappingError,
    Target,
    crm_targets,
)
from sync.mapping.compile import FieldProblem, MappingError, load_mapping, parse_mapping
from sync.mapping.vocabulary import CREATE, DIRECTIONS, INBOUND, OUTBOUND, ValueKind

__all__ = [
    "CREATE",
    "DIRECTIONS",
    "INBOUND",
    "OUTBOUND",
    "CompiledMapping",
    "CreateField",
    "CreateSpec",
    "FieldProblem",
    "InboundField",
    "MappingError",
    "OutboundField",
    "RecordMappingError",
    "Target",
    "ValueKind",
    "crm_targets",
    "load_mapping",
    "parse_mapping",
]
