"""The reference FastAPI service over the reference models, built on dbops.runtime.

Run it (after ``dbops upgrade``)::

    DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1/app python -m shop --port 8000
    # or: uvicorn shop.api:create_app --factory

No ``from __future__ import annotations``: FastAPI reads the endpoint annotations (``Db`` is
local to ``create_app``) at runtime.
"""

import asyncio
import os
from dataclasses import replace
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel.ext.asyncio.session import AsyncSession

from dbops.pool import instrument
from dbops.pool.endpoint import SiteMiddleware, pool_router, start_publisher
from dbops.runtime import (
    DatabaseSettings,
    async_session_factory,
    create_async_engine_from_settings,
    engine_lifespan,
    make_get_db,
)
from shop.models import Order, OrderItem, Product, User, UserCreate, UserPublic, UserUpdate
from shop.repositories import OrderRepository, ProductRepository, UserRepository
from shop.schemas import OrderCreateWithItems, OrderWithItems, ProductCreate, ProductPublic, ProductUpdate
from shop.security import hash_password

APPLICATION_NAME = "shop-api"


def create_app(settings: DatabaseSettings | None = None) -> FastAPI:
    settings = settings or DatabaseSettings.from_env()
    if not settings.application_name:
        settings = replace(settings, application_name=APPLICATION_NAME)
    engine = create_async_engine_from_settings(settings)
    factory = async_session_factory(engine)
    get_db = make_get_db(factory)
    # scope="function": commit runs before the response is sent, so a failed commit is an
    # error response, never a 200 for data that was not saved (FastAPI's default "request"
    # scope runs the dependency's exit code after sending the response).
    Db = Annotated[AsyncSession, Depends(get_db, scope="function")]

    app = FastAPI(title="shop (dbops reference service)", lifespan=engine_lifespan(engine))
    # pool instrumentation: GET /_dbops/pool (JSON, ?format=prometheus) and /_dbops/pool/ready
    instrument(engine, name=APPLICATION_NAME)
    app.include_router(pool_router(token=os.environ.get("DBOPS_POOL_TOKEN") or None))
    app.add_middleware(SiteMiddleware)
    start_publisher()
    app.state.engine = engine
    app.state.session_factory = factory
    app.state.settings = settings

    @app.exception_handler(StaleDataError)
    async def stale(request: Request, exc: StaleDataError) -> JSONResponse:
        return JSONResponse(status_code=409, content={
            "detail": "The record was changed by someone else since you read it; reload and retry."})

    @app.exception_handler(IntegrityError)
    async def integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        return JSONResponse(status_code=409, content={
            "detail": "Conflicts with existing data (duplicate or missing reference)."})

    @app.exception_handler(PoolTimeout)
    async def pool_exhausted(request: Request, exc: PoolTimeout) -> JSONResponse:
        return JSONResponse(status_code=503, headers={"Retry-After": "1"}, content={
            "detail": "All database connections are busy (pool timeout); retry shortly."})

    # -- health ----------------------------------------------------------------------------

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/db")
    async def health_db(db: Db) -> dict[str, str]:
        await (await db.connection()).execute(text("SELECT 1"))
        return {"status": "ok"}

    @app.get("/slow")
    async def slow(
        db: Db, seconds: Annotated[float, Query(ge=0, le=30)] = 0.5, idle: bool = False
    ) -> dict[str, float]:
        """Hold a pooled connection for ``seconds`` (drives pool saturation in load tests); with
        ``idle=true`` the session sits idle in transaction meanwhile (the classic leak)."""
        conn = await db.connection()
        if idle:
            await conn.execute(text("SELECT 1"))
            await asyncio.sleep(seconds)
        elif engine.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})
        else:
            await asyncio.sleep(seconds)
        return {"held_seconds": seconds}

    # -- users ------------------------------------------------------------------------------

    async def _user(db: AsyncSession, user_id: int) -> User:
        user = await UserRepository(db).get(user_id)
        if user is None:
            raise HTTPException(status_code=404, detail=f"user {user_id} not found")
        return user

    @app.post("/users", response_model=UserPublic, status_code=201)
    async def create_user(user_in: UserCreate, db: Db) -> Any:
        data = user_in.model_dump(exclude={"password"})
        return await UserRepository(db).create(data, hashed_password=hash_password(user_in.password))

    @app.get("/users", response_model=list[UserPublic])
    async def list_users(db: Db, offset: int = 0, limit: Annotated[int, Query(le=500)] = 100) -> Any:
        return await UserRepository(db).get_many(offset=offset, limit=limit)

    @app.get("/users/{user_id}", response_model=UserPublic)
    async def get_user(user_id: int, db: Db) -> Any:
        return await _user(db, user_id)

    @app.patch("/users/{user_id}", response_model=UserPublic)
    async def update_user(user_id: int, user_in: UserUpdate, db: Db) -> Any:
        user = await _user(db, user_id)
        data = user_in.model_dump(exclude_unset=True)
        if "password" in data:
            data["hashed_password"] = hash_password(data.pop("password"))
        return await UserRepository(db).update(user, data)

    @app.delete("/users/{user_id}", status_code=204)
    async def delete_user(user_id: int, db: Db) -> None:
        await UserRepository(db).delete(await _user(db, user_id))

    # -- products (plain SQLAlchemy model, optimistic locking) ---------------------------------

    async def _product(db: AsyncSession, product_id: int) -> Product:
        product = await ProductRepository(db).get(product_id)
        if product is None:
            raise HTTPException(status_code=404, detail=f"product {product_id} not found")
        return product

    @app.post("/products", response_model=ProductPublic, status_code=201)
    async def create_product(product_in: ProductCreate, db: Db) -> Any:
        product = await ProductRepository(db).create(product_in)
        await db.refresh(product)  # server default created_at
        return product

    @app.get("/products", response_model=list[ProductPublic])
    async def list_products(db: Db, offset: int = 0, limit: Annotated[int, Query(le=500)] = 100) -> Any:
        return await ProductRepository(db).get_many(offset=offset, limit=limit)

    @app.get("/products/{product_id}", response_model=ProductPublic)
    async def get_product(product_id: int, db: Db) -> Any:
        return await _product(db, product_id)

    @app.patch("/products/{product_id}", response_model=ProductPublic)
    async def update_product(product_id: int, product_in: ProductUpdate, db: Db) -> Any:
        product = await _product(db, product_id)
        if product.version_id != product_in.version_id:
            raise HTTPException(status_code=409, detail=(
                f"product {product_id} is at version {product.version_id}, you sent {product_in.version_id}; "
                "reload and retry."))
        data = product_in.model_dump(exclude_unset=True, exclude={"version_id"})
        # a concurrent writer between our read and this UPDATE raises StaleDataError -> 409
        return await ProductRepository(db).update(product, data)

    @app.delete("/products/{product_id}", status_code=204)
    async def delete_product(product_id: int, db: Db) -> None:
        await ProductRepository(db).delete(await _product(db, product_id))

    # -- orders -------------------------------------------------------------------------------

    @app.post("/orders", response_model=OrderWithItems, status_code=201)
    async def create_order(order_in: OrderCreateWithItems, db: Db) -> Any:
        await _user(db, order_in.user_id)
        total = sum((i.unit_price * i.quantity for i in order_in.items), Decimal("0"))
        order = await OrderRepository(db).create(user_id=order_in.user_id, total=total)
        for item in order_in.items:
            db.add(OrderItem(order_id=order.id, **item.model_dump()))
        await db.flush()
        return await OrderRepository(db).get(order.id, options=OrderRepository.default_options,
                                             populate_existing=True)

    @app.get("/orders", response_model=list[OrderWithItems])
    async def list_orders(db: Db, offset: int = 0, limit: Annotated[int, Query(le=500)] = 100) -> Any:
        return await OrderRepository(db).get_many(offset=offset, limit=limit)

    @app.get("/orders/{order_id}", response_model=OrderWithItems)
    async def get_order(order_id: int, db: Db) -> Any:
        order = await OrderRepository(db).get(order_id)
        if order is None:
            raise HTTPException(status_code=404, detail=f"order {order_id} not found")
        return order

    return app


__all__ = ["create_app", "Order", "User"]
