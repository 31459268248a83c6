"""What the service keeps and how it changes: the ORM and its database, creation and the run
lifecycle, the queue, sweeps' tuning and races, retention and the artifact stores.
"""
