"""Entry points of the county node: HTTP API (``http``), CLI (``cli``), demo workload (``workload``)."""
