"""The inspectors' API (监察人员接口) of a city or a province node — the same code, scoped by division prefix.

``scope`` decides what a request may see (pure); ``figures`` holds the plain values and month arithmetic (pure);
``queries`` is the set-based SQL over the replicas; ``service`` the read-only use cases; ``views`` the JSON
shapes; ``http`` the FastAPI app; ``context`` what the app runs on, built by the node's composition root
(``city_aggregator.bootstrap``). See ``docs/inspection.md``.
"""
