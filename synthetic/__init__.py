"""CHM's synthetic data: the deterministic demo set (v1) and the bulk loader for benchmarks."""
