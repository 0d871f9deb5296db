"""A generic async repository over SQLModel / SQLAlchemy models, with eager-loading helpers
so list endpoints do not issue one query per row (N+1)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import func
from sqlalchemy.orm import InstrumentedAttribute, joinedload, selectinload
from sqlalchemy.orm.interfaces import LoaderOption
from sqlmodel import select

ModelT = TypeVar("ModelT")


def eager(*relationships: InstrumentedAttribute[Any] | str, strategy: str = "selectin") -> list[LoaderOption]:
    """Loader options for relationships: ``selectin`` (one extra query per relationship, best
    for collections) or ``joined`` (same query, best for many-to-one). Dotted chains such as
    ``eager(Order.items, "product")`` are not supported; pass options directly for those."""
    loader = {"selectin": selectinload, "joined": joinedload}.get(strategy)
    if loader is None:
        raise ValueError(f"strategy must be 'selectin' or 'joined', not {strategy!r}")
    return [loader(rel) for rel in relationships]  # type: ignore[arg-type]


class BaseRepository(Generic[ModelT]):
    """CRUD for one model on an ``AsyncSession``. Subclass and set ``model`` (and optionally
    ``default_options`` to eager-load on every read)::

        class OrderRepository(BaseRepository[Order]):
            model = Order
            default_options = eager(Order.items)
    """

    model: type[ModelT]
    default_options: Sequence[LoaderOption] = ()

    def __init__(self, session: Any) -> None:
        self.session = session

    def _options(self, options: Sequence[LoaderOption] | None) -> Sequence[LoaderOption]:
        return self.default_options if options is None else options

    async def get(
        self, ident: Any, *, options: Sequence[LoaderOption] | None = None, populate_existing: bool = False
    ) -> ModelT | None:
        """By primary key; ``populate_existing`` reloads an object already in the session."""
        return await self.session.get(  # type: ignore[no-any-return]
            self.model, ident, options=list(self._options(options)), populate_existing=populate_existing
        )

    async def get_many(
        self,
        *,
        offset: int = 0,
        limit: int = 100,
        order_by: Any = None,
        where: Sequence[Any] = (),
        options: Sequence[LoaderOption] | None = None,
    ) -> list[ModelT]:
        stmt = select(self.model).options(*self._options(options)).where(*where).offset(offset).limit(limit)
        pk = [c for c in self.model.__table__.primary_key.columns]  # type: ignore[attr-defined]
        stmt = stmt.order_by(*(order_by if isinstance(order_by, (list, tuple)) else [order_by])) \
            if order_by is not None else stmt.order_by(*pk)
        return list(await self._scalars(stmt))

    async def count(self, *, where: Sequence[Any] = ()) -> int:
        stmt = select(func.count()).select_from(self.model).where(*where)
        return int(next(iter(await self._scalars(stmt)), 0))

    async def _scalars(self, stmt: Any) -> Any:
        """SQLModel sessions: ``exec`` (their ``execute`` warns); SQLAlchemy sessions: ``scalars``."""
        if hasattr(self.session, "exec"):
            return (await self.session.exec(stmt)).all()
        return (await self.session.scalars(stmt)).all()

    async def create(self, data: Any = None, /, **overrides: Any) -> ModelT:
        """Create from a schema (pydantic/SQLModel), a mapping, or keywords; ``overrides`` win
        (e.g. ``create(user_in, hashed_password=...)``). Flushes, so the id is set."""
        values: dict[str, Any] = dict(_as_mapping(data))
        values.update(overrides)
        obj = self.model(**values)
        self.session.add(obj)
        await self.session.flush()
        return obj

    async def update(self, obj: ModelT, data: Any) -> ModelT:
        """Apply a partial update: only fields present in ``data`` (unset fields of a schema are skipped)."""
        for key, value in _as_mapping(data, exclude_unset=True).items():
            setattr(obj, key, value)
        self.session.add(obj)
        await self.session.flush()
        return obj

    async def delete(self, obj: ModelT) -> None:
        await self.session.delete(obj)
        await self.session.flush()


def _as_mapping(data: Any, *, exclude_unset: bool = False) -> Mapping[str, Any]:
    if data is None:
        return {}
    if isinstance(data, Mapping):
        return data
    if hasattr(data, "model_dump"):
        return data.model_dump(exclude_unset=exclude_unset)  # type: ignore[no-any-return]
    raise TypeError(f"cannot read fields from {type(data).__name__}; pass a mapping or a pydantic model")
