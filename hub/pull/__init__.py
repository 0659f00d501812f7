"""Pull: from each institution's database or SFTP drop into landing.

    sources   config → connector settings, and connector errors as the hub's
    landing   immutable Parquet batches named by content hash; progress state files
    stage     the stage: everything new from one source, landed batch by batch (``pull``)
"""

from hub.pull.stage import PullResult, pending_files, pull

__all__ = ["PullResult", "pending_files", "pull"]
