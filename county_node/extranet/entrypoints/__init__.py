"""The extranet node's entry points: the public portal (HTTP: JSON API and pages) and ``sunshine extranet``."""
