"""Benchmarks: the codec (codec.py) and the hub under load (loadgen/); see BENCHMARKS.md."""
