"""Alembic environment and versions for the one Sunshine schema (every tier). Run via ``sunshine db upgrade``."""
