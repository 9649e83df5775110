"""In-memory fakes of the county's repository ports and unit of work, for service tests that need no database.

They subclass the real ports (:mod:`county_node.ports`, :mod:`county_node.unit_of_work`), so mypy holds them to
the same interface; ``tests/integration/test_county_repositories.py`` holds them to the same behaviour, running one
contract suite against them and the SQL adapters on SQLite and PostgreSQL.
"""

from tests.fakes.county import FakeCountyDatabase, FakeCountyRepositories, FakeCountyUnitOfWork, FakeCountyUnits

__all__ = ["FakeCountyDatabase", "FakeCountyRepositories", "FakeCountyUnitOfWork", "FakeCountyUnits"]
