"""Reference app models. ``metadata`` is what dbops compares and migrates.

No ``from __future__ import annotations`` here: SQLModel resolves ``Relationship``
annotations at class creation, so forward references are written as strings.
"""

from datetime import datetime
from decimal import Decimal
from typing import Optional

from sqlalchemy import DateTime, Index, Integer, Numeric, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlmodel import Field, Relationship, SQLModel

metadata = SQLModel.metadata


# -- users -------------------------------------------------------------------------------

class UserBase(SQLModel):
    email: str = Field(max_length=320, unique=True, index=True)
    full_name: str | None = Field(default=None, max_length=200)
    is_active: bool = True


class User(UserBase, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    hashed_password: str = Field(max_length=200)
    created_at: datetime | None = Field(
        default=None,
        sa_type=DateTime(timezone=True),  # type: ignore[call-overload]
        sa_column_kwargs={"server_default": func.now(), "nullable": False},
    )
    orders: list["Order"] = Relationship(back_populates="user")


class UserCreate(UserBase):
    password: str = Field(min_length=8, max_length=128)


class UserPublic(UserBase):
    id: int


class UserUpdate(SQLModel):
    email: str | None = Field(default=None, max_length=320)
    full_name: str | None = Field(default=None, max_length=200)
    is_active: bool | None = None
    password: str | None = Field(default=None, min_length=8, max_length=128)


# -- orders ------------------------------------------------------------------------------

class OrderBase(SQLModel):
    status: str = Field(default="pending", max_length=20)


class Order(OrderBase, table=True):
    __tablename__ = "orders"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    # Added by revision 0002 (add column, backfill, then NOT NULL): the data-migration pattern.
    total: Decimal = Field(
        default=Decimal("0"), max_digits=12, decimal_places=2,
        sa_column_kwargs={"server_default": "0"},
    )
    created_at: datetime | None = Field(
        default=None,
        sa_type=DateTime(timezone=True),  # type: ignore[call-overload]
        sa_column_kwargs={"server_default": func.now(), "nullable": False},
    )
    user: Optional["User"] = Relationship(back_populates="orders")
    items: list["OrderItem"] = Relationship(back_populates="order", cascade_delete=True)


class OrderCreate(OrderBase):
    user_id: int


class OrderPublic(OrderBase):
    id: int
    user_id: int
    total: Decimal


class OrderUpdate(SQLModel):
    status: str | None = Field(default=None, max_length=20)


class OrderItemBase(SQLModel):
    product_id: int = Field(foreign_key="products.id", index=True)
    quantity: int = Field(default=1, gt=0)
    unit_price: Decimal = Field(max_digits=10, decimal_places=2)


class OrderItem(OrderItemBase, table=True):
    __tablename__ = "order_items"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True, ondelete="CASCADE")
    order: Optional["Order"] = Relationship(back_populates="items")


class OrderItemCreate(OrderItemBase):
    pass


class OrderItemPublic(OrderItemBase):
    id: int
    order_id: int


class OrderItemUpdate(SQLModel):
    quantity: int | None = Field(default=None, gt=0)


# -- products: plain SQLAlchemy on the same MetaData ----------------------------------------

class Base(DeclarativeBase):
    metadata = SQLModel.metadata


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        Index("ix_products_category_price", "category", "price"),
        # Trigram search on PostgreSQL only (needs the pg_trgm extension, created by 0001).
        Index(
            "ix_products_name_trgm", "name",
            postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(100))
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    version_id: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version_id}
