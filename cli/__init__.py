"""The `actlab` command line: the composition root above api, worker and core, so it may start
every part of actlab (and generate the catalog core serves)."""
