"""Sync agent: replicates outbox records between tiers over gRPC (and a file ferry for one-way gateways)."""
