"""Dashboards: statistics across seeds, leaderboards with significance tests, learned
parameter distributions, response regions, sweeps and exports."""
