"""Inspect: the read side, for auditors and analysts.

    trace          a record from its source row to the offices that received it
    audit_report   what offices received, what sources sent and what was quarantined
    reproduce      a bundle rebuilt from the lakehouse snapshot it names, digests compared
    catalog        every warehouse table and column, documented
    analyst_guide  docs/analyst-guide.md, generated from the catalog
"""
