"""API schemas that are not SQLModel tables: products (a plain SQLAlchemy model) and orders
with their items."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from shop.models import OrderItemCreate, OrderItemPublic, OrderPublic


class ProductCreate(BaseModel):
    name: str = Field(max_length=200)
    category: str = Field(max_length=100)
    price: Decimal = Field(ge=0, max_digits=10, decimal_places=2)


class ProductPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    category: str
    price: Decimal
    version_id: int
    created_at: datetime


class ProductUpdate(BaseModel):
    """Partial update; ``version_id`` is the version the client read (optimistic locking)."""

    version_id: int
    name: str | None = Field(default=None, max_length=200)
    category: str | None = Field(default=None, max_length=100)
    price: Decimal | None = Field(default=None, ge=0, max_digits=10, decimal_places=2)


class OrderCreateWithItems(BaseModel):
    user_id: int
    items: list[OrderItemCreate] = Field(min_length=1)


class OrderWithItems(OrderPublic):
    items: list[OrderItemPublic] = []
