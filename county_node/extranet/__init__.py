"""A county's extranet node (外网节点): the public portal in the DMZ, holding no intranet database.

Node identity ``371122-ext``. It holds only what the public may see — the public catalogue, cases' public status
and 办件公示, applied from the county's public stream ``371122-pub`` — and what the public sent here: online
applications (网上申报), complaints (投诉) and ratings (好差评), each written with its outbox record in one
transaction and sent in to the county on the node's own stream (``docs/boundary.md``).

Layers, as in every tier: ``domain`` (the public's forms, the status answers, the rate limits; pure), ``services``
(the portal's use cases over a unit of work), ``adapters`` (the ``ext_*`` tables, the appliers of the public
stream), ``entrypoints`` (the public HTTP portal, the ``sunshine extranet`` commands); ``bootstrap`` wires them.
"""
