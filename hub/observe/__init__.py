"""Observe: what happened, for auditors and lineage tools.

    audit            the hash-chained audit log and its signed checkpoints
    lineage          OpenLineage run events per stage
    column_lineage   which source columns each shared and published column comes from
    run              the run context every stage shares, and the stage recorder
"""
