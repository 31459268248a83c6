"""The experiment's vocabulary: specs, parameters, formulas, statuses, metrics, labels,
sizes and settings. Pure: no database, no scipy (the import contracts in pyproject.toml
hold it).
"""
