"""City aggregator tier: receives its counties' streams, relays them up, and serves city inspectors."""
