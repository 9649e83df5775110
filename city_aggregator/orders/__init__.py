"""Orders (督办 / 催办) issued by a city or the province: the service, its appliers, its CLI and HTTP routes.

The same code serves a city (371100) and the province (370000): the issuer is the node. See
:mod:`city_aggregator.orders.service` (issue, withdraw, close, list, show),
:mod:`county_node.supervision.adapters.order_replicas` (the ``order`` and ``order_reply`` records an upper tier
receives), :mod:`city_aggregator.entrypoints.order_cli` (``sunshine city order …`` / ``sunshine province order …``)
and :mod:`city_aggregator.orders.http`.
"""

from city_aggregator.orders.service import OrderDesk, OrdersContext

__all__ = ["OrderDesk", "OrdersContext"]
