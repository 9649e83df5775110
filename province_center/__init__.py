"""Province center tier: standards authoring and publication, cross-county scoring, inspectors, exchange admin."""
