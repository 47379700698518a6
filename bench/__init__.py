"""Benchmarks (`make bench`): each compares Argus with a baseline measured in the same run."""
