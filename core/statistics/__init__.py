"""Statistics the store and the dashboards share: AdaStop races, power, and the tuning
budget's quasi-random points. No database.
"""
