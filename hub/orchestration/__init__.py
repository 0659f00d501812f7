"""Orchestration: the exchange as Dagster definitions, built from ``hub.yaml``.

    resources     the ``hub`` resource, the warehouse pool, errors as retries and failures
    keys          asset keys, named once
    assets        landing, normalized tables, marts, extracts, deliveries
    metadata      what the UI shows of each materialization (schemas, column lineage, batches)
    checks        asset checks that guard publication
    sensors       new files in an SFTP drop request a sync
    definitions   the one ``Definitions``: assets, checks, jobs, schedules, sensors
"""
