"""The extranet node's adapters: its store (the ``ext_*`` tables) and the appliers of the county's public stream."""
