"""Activation search on the worker side: candidates compiled and grouped by the function
they compute (functions.py) and the zero-cost features a surrogate ranks them by
(features.py)."""
