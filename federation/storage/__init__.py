"""Storage base shared by every tier: one schema (``tables``), engines (``engine``), unit of work (``uow``),
gap-free counters and the transactional outbox (``outbox``), migrations (``migrate``)."""
