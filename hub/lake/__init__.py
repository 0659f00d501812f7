"""The lakehouse the warehouse lives in: DuckLake, reached through DuckDB.

    extensions  DuckDB connections loading extensions from their PyPI packages only
    location    where the lakehouse lives (catalog, data files, secrets) and attaching it
    upkeep      compaction, snapshot expiry, deletion of files nothing needs
    export_file a single-file DuckDB warehouse's tables to Parquet, run by the DuckDB that wrote it
"""
