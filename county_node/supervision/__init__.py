"""Supervision (电子监察): lights, anomaly rules, alerts, complaints and ratings of a county's cases.

``domain`` holds the pure rules (no I/O): each rule is a small function over a case's events and its clock, with
an id, a version and parameters from the standards bundle. See :mod:`county_node.supervision.domain`.
"""
