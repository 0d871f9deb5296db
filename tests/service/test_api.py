"""The reference service through the real HTTP stack (httpx -> ASGI app -> asyncpg -> PostgreSQL)."""
from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import Depends, FastAPI, HTTPException
from sqlalchemy import event

from tests.helpers import execute

pytestmark = [pytest.mark.asyncio, pytest.mark.postgres]


async def _user(client: httpx.AsyncClient, email: str = "ada@example.com") -> dict[str, Any]:
    r = await client.post("/users", json={"email": email, "full_name": "Ada", "password": "correct horse"})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _product(client: httpx.AsyncClient, name: str = "pen", price: str = "2.50") -> dict[str, Any]:
    r = await client.post("/products", json={"name": name, "category": "office", "price": price})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_user_crud_never_leaks_the_password_hash(client: httpx.AsyncClient, migrated_pg: str) -> None:
    user = await _user(client)
    assert set(user) == {"id", "email", "full_name", "is_active"}
    assert (await client.get(f"/users/{user['id']}")).json() == user
    patched = await client.patch(f"/users/{user['id']}", json={"full_name": "Ada L.", "password": "new password"})
    assert patched.status_code == 200 and patched.json()["full_name"] == "Ada L."
    assert "hashed_password" not in patched.text and "password" not in patched.json()
    stored = execute(migrated_pg, f"SELECT hashed_password FROM users WHERE id = {user['id']}")[0][0][0]
    assert stored.startswith("pbkdf2_sha256$") and "new password" not in stored
    assert [u["id"] for u in (await client.get("/users")).json()] == [user["id"]]
    assert (await client.delete(f"/users/{user['id']}")).status_code == 204
    assert (await client.get(f"/users/{user['id']}")).status_code == 404


async def test_duplicate_email_is_409_not_500(client: httpx.AsyncClient) -> None:
    await _user(client)
    r = await client.post("/users", json={"email": "ada@example.com", "password": "another one"})
    assert r.status_code == 409
    assert r.json() == {"detail": "Conflicts with existing data (duplicate or missing reference)."}


async def test_order_with_items_and_total(client: httpx.AsyncClient) -> None:
    user = await _user(client)
    pen, book = await _product(client), await _product(client, "book", "12.00")
    r = await client.post("/orders", json={"user_id": user["id"], "items": [
        {"product_id": pen["id"], "quantity": 3, "unit_price": "2.50"},
        {"product_id": book["id"], "quantity": 1, "unit_price": "12.00"}]})
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["total"] == "19.50"
    assert sorted(i["product_id"] for i in order["items"]) == [pen["id"], book["id"]]
    assert (await client.get(f"/orders/{order['id']}")).json() == order


async def test_list_orders_is_not_n_plus_one(app: FastAPI, client: httpx.AsyncClient) -> None:
    user = await _user(client)
    pen = await _product(client)
    statements: list[str] = []

    @event.listens_for(app.state.engine.sync_engine, "before_cursor_execute")
    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    async def orders_listing_statements(n_orders: int) -> int:
        for _ in range(n_orders):
            await client.post("/orders", json={"user_id": user["id"], "items": [
                {"product_id": pen["id"], "quantity": 1, "unit_price": "2.50"},
                {"product_id": pen["id"], "quantity": 2, "unit_price": "2.50"}]})
        statements.clear()
        r = await client.get("/orders?limit=500")
        assert r.status_code == 200
        assert all(len(o["items"]) == 2 for o in r.json())
        return len([s for s in statements if s.lstrip().upper().startswith("SELECT")])

    few = await orders_listing_statements(3)
    many = await orders_listing_statements(30)
    assert few == many == 2  # orders, then one selectin for all their items


async def test_stale_version_is_409(client: httpx.AsyncClient) -> None:
    product = await _product(client)
    assert product["version_id"] == 1
    ok = await client.patch(f"/products/{product['id']}", json={"version_id": 1, "price": "3.00"})
    assert ok.status_code == 200 and ok.json()["version_id"] == 2
    stale = await client.patch(f"/products/{product['id']}", json={"version_id": 1, "price": "4.00"})
    assert stale.status_code == 409
    assert "is at version 2, you sent 1" in stale.json()["detail"]


async def test_concurrent_update_is_409(client: httpx.AsyncClient, migrated_pg: str) -> None:
    """A real race: another transaction bumps the row while our UPDATE waits on its lock."""
    product = await _product(client)
    other = sa.create_engine(migrated_pg.replace("+asyncpg", "+psycopg"))
    conn = other.connect()
    tx = conn.begin()
    conn.execute(sa.text("UPDATE products SET price = 9, version_id = version_id + 1 WHERE id = :id"),
                 {"id": product["id"]})
    request = asyncio.create_task(
        client.patch(f"/products/{product['id']}", json={"version_id": 1, "price": "5.00"}))
    await asyncio.sleep(0.5)  # our UPDATE ... WHERE version_id = 1 is now blocked on the row lock
    tx.commit()
    conn.close()
    other.dispose()
    r = await request
    assert r.status_code == 409
    assert r.json()["detail"].startswith("The record was changed by someone else")
    assert execute(migrated_pg, f"SELECT price FROM products WHERE id = {product['id']}")[0][0][0] == 9


async def test_exception_in_request_rolls_back(app: FastAPI, client: httpx.AsyncClient, migrated_pg: str) -> None:
    from shop.repositories import UserRepository

    get_db = app.dependency_overrides.get  # noqa: F841  (the real dependency is used below)
    from dbops.runtime import make_get_db

    db_dep = Depends(make_get_db(app.state.session_factory), scope="function")

    @app.post("/boom/{kind}")
    async def boom(kind: str, db: Any = db_dep) -> None:
        await UserRepository(db).create(email=f"{kind}@example.com", hashed_password="x")  # flushed
        if kind == "http":
            raise HTTPException(status_code=400, detail="no")
        raise RuntimeError("bug after a write")

    assert (await client.post("/boom/http")).status_code == 400
    assert (await client.post("/boom/crash")).status_code == 500
    assert execute(migrated_pg, "SELECT count(*) FROM users")[0][0][0] == 0


async def test_failed_commit_is_an_error_response(app: FastAPI, client: httpx.AsyncClient) -> None:
    """The commit runs before the response (scope="function"): a commit that fails is a 409,
    never a 201 for data that was not saved."""
    from dbops.runtime import make_get_db
    from shop.models import User

    await _user(client)
    db_dep = Depends(make_get_db(app.state.session_factory), scope="function")

    @app.post("/late-conflict", status_code=201)
    async def late(db: Any = db_dep) -> dict[str, str]:
        db.add(User(email="ada@example.com", hashed_password="x"))  # no flush: fails at commit
        return {"status": "created"}

    r = await client.post("/late-conflict")
    assert r.status_code == 409


async def test_health_and_pool_timeout_is_503(app: FastAPI, client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/db")).json() == {"status": "ok"}
    # pool_size=5, max_overflow=0, pool_timeout=2: the 6th concurrent holder waits 2 s and gets a 503
    results = await asyncio.gather(*(client.get("/slow?seconds=3") for _ in range(6)))
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 200, 200, 200, 200, 503]
    busy = next(r for r in results if r.status_code == 503)
    assert busy.headers["retry-after"] == "1"


async def test_application_name_visible_in_pg_stat_activity(client: httpx.AsyncClient, migrated_pg: str) -> None:
    await client.get("/health/db")  # leaves a pooled connection open
    names = execute(migrated_pg, "SELECT application_name FROM pg_stat_activity WHERE datname = current_database()")
    assert ("shop-api",) in [tuple(r) for r in names[0]]
