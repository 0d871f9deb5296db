"""The reference app's repositories and Unit of Work."""
from __future__ import annotations

from dbops.runtime import BaseRepository, UnitOfWork, eager
from shop.models import Order, OrderItem, Product, User


class UserRepository(BaseRepository[User]):
    model = User


class ProductRepository(BaseRepository[Product]):
    model = Product


class OrderRepository(BaseRepository[Order]):
    model = Order
    default_options = eager(Order.items)  # type: ignore[arg-type]  # list endpoints: 2 queries, not N+1


class OrderItemRepository(BaseRepository[OrderItem]):
    model = OrderItem


class ShopUnitOfWork(UnitOfWork):
    @property
    def users(self) -> UserRepository:
        return self.repository(UserRepository)

    @property
    def products(self) -> ProductRepository:
        return self.repository(ProductRepository)

    @property
    def orders(self) -> OrderRepository:
        return self.repository(OrderRepository)

    @property
    def order_items(self) -> OrderItemRepository:
        return self.repository(OrderItemRepository)
