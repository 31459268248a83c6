"""Benchmarks (not tests): each compares against a reference measured in the same run."""
