"""Entry points of the province center: CLI (``standards_cli``)."""
