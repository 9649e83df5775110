"""The demo federation: a province, its cities and counties, their sync agents and hall workloads, each its own
process on loopback (``launcher``), and ``sunshine demo`` driving them (``cli``).

It sits above every tier — it starts them all and reads what each holds — so it lives in the top tier's package;
nothing below imports it.
"""
