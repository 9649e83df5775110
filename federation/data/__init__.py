"""Reference data shipped with Sunshine (package data, so an installed node has it without the source tree).

- ``county_items.csv``: the illustrative county catalogue (36 items, 20 departments) used by the demo, the
  workload generator, tests and benchmarks; a real county applies the province's standards bundle instead.
- ``shandong_divisions.csv``: Shandong's GB/T 2260 division codes (1 province, 17 cities, 137 counties) for
  realistic topologies.

Both are copies of the project's ``shared/data`` files (see its README for provenance and licence);
``tests/unit/test_reference_data.py`` fails when the copies drift from the originals.
"""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

__all__ = ["CATALOGUE_CSV", "DIVISIONS_CSV", "data_path"]


def data_path(name: str) -> Path:
    """Filesystem path of a shipped data file (the package is installed unzipped, so this is a real file)."""
    with as_file(files(__name__) / name) as path:
        return Path(path)


CATALOGUE_CSV = data_path("county_items.csv")
DIVISIONS_CSV = data_path("shandong_divisions.csv")
