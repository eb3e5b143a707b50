"""The declarative base: one ``MetaData`` with a naming convention for every constraint.

Named constraints make migrations deterministic on both dialects (SQLite batch mode can
only alter what it can name) and make a violated constraint say which rule broke.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import MetaData, event, inspect
from sqlalchemy.orm import ColumnProperty, DeclarativeBase, Mapper

from sync.store.errors import AppendOnlyViolation

__all__ = ["NAMING_CONVENTION", "Base", "append_only"]

_M = TypeVar("_M", bound="type[Base]")

NAMING_CONVENTION: dict[str, str] = {
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}


class Base(DeclarativeBase):
    """The base of every partnersync model; ``Base.metadata`` is what migrations build."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def append_only(cls: _M) -> _M:
    """Refuse, at flush, any change to a loaded row of ``cls`` and any delete of one.

    The migrations also install database triggers with the same rule; this guard fails
    earlier and names the model. Bulk ``update()``/``delete()`` statements bypass it and
    are stopped by the triggers.
    """

    def refuse_update(mapper: Mapper[Any], connection: Any, target: Any) -> None:
        state = inspect(target)
        changed = [
            prop.key
            for prop in mapper.iterate_properties
            if isinstance(prop, ColumnProperty) and state.attrs[prop.key].history.has_changes()
        ]
        if changed:
            raise AppendOnlyViolation(
                f"{cls.__tablename__} is append-only: cannot change {', '.join(changed)} of "
                f"row {target.id}; add a new entry instead"
            )

    def refuse_delete(mapper: Mapper[Any], connection: Any, target: Any) -> None:
        raise AppendOnlyViolation(f"{cls.__tablename__} is append-only: cannot delete a row")

    event.listen(cls, "before_update", refuse_update)
    event.listen(cls, "before_delete", refuse_delete)
    return cls
