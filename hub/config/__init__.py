"""``hub.yaml``: institutions, sources, offices and sharing agreements, validated on load.

    base       the strict model and the identifier, environment-name and cron validators
    sources    institutions; a source is a database table or an SFTP drop (``Source``)
    offices    offices, their delivery and outbox, sharing agreements
    settings   the hub's settings, the marts' thresholds, lineage targets, the warehouse, Dagster's profile
    include    ``include:``: institutions, sources, offices and agreements kept in other files
    load       ``HubConfig``, ``load_config`` and ``secret``
"""

from hub.config.load import HubConfig, load_config, secret
from hub.config.offices import Agreement, Condition, Delivery, Office, Share, Treatment
from hub.config.settings import (
    DEFAULT_REPLY_DAYS,
    HubSettings,
    LineageSettings,
    MartSettings,
    OrchestrationSettings,
    S3Settings,
    WarehouseSettings,
)
from hub.config.sources import (
    DatabaseSettings,
    DatabaseSource,
    FileFormat,
    Institution,
    SftpDropSource,
    SftpEndpoint,
    SoftDelete,
    Source,
)

__all__ = [
    "DEFAULT_REPLY_DAYS", "Agreement", "Condition", "DatabaseSettings", "DatabaseSource", "Delivery", "FileFormat",
    "HubConfig", "HubSettings", "Institution", "LineageSettings", "MartSettings", "Office", "OrchestrationSettings", "SftpDropSource",
    "S3Settings", "SftpEndpoint", "Share", "SoftDelete", "Source", "Treatment", "WarehouseSettings", "load_config",
    "secret",
]
