"""Sunshine shared kernel: identities, calendar and case clock, standards, storage base, config, logging, errors.

Every tier (county node, city aggregator, province center, sync agent) builds on this package. It holds no tier
logic.
"""

__version__ = "0.1.0"
