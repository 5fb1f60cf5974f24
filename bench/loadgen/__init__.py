"""Load generator for the hub: N pairs, 2N WebSockets, an open loop of signals (issue 6).

``python -m bench.loadgen.run --rate R --pairs N`` starts Valkey and a hub,
creates the pairs, runs :mod:`bench.loadgen.generator` and prints the figures.
See BENCHMARKS.md at the repository root for the method and the results.
"""
