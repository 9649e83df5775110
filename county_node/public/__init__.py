"""The county's side of the intranet/extranet boundary (县级节点的内外网交换, ``docs/boundary.md``).

What the public sent from the county's extranet node (online applications, complaints, ratings) is applied by the
receiver (:mod:`.appliers`); a clerk accepts or refuses the applications at the desk, and every case accepted gets
its query code (:class:`.services.IntakeDesk`); the county publishes its public stream — the catalogue, each case's
public status, the results of applications and 办件公示 — in the transaction of each change, and texts the
applicant (:class:`.services.Publication`). All of it only when ``[extranet] link`` is set.

Modules: ``domain`` (pure), ``adapters`` (SQL), ``services``, ``appliers``.
"""
