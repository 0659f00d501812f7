"""Publish: what each office may receive, as signed bundles, delivered to its inbox.

    agreements   a share as SQL: deny by default, filters bound as parameters
    extracts     a full snapshot or the changes since an office's last bundle
    bundle       writing, signing and placing a bundle (docs/bundle-format.md)
    receipts     which row version went to which bundle row; deliveries from the audit log
    keys         the signing keyring: rotate, retire, export
    stage        the stage: every office's bundle on one warehouse opening (``publish_offices``)
    delivery     the stage: bundles to an office's SFTP inbox, in sequence (``deliver``)
    verify       what an office runs on a bundle it received
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.publish.delivery import deliver
    from hub.publish.stage import OfficePublished, publish, publish_offices

_STAGE = {
    "OfficePublished": "hub.publish.stage", "deliver": "hub.publish.delivery", "publish": "hub.publish.stage",
    "publish_offices": "hub.publish.stage",
}
__all__ = ["OfficePublished", "deliver", "publish", "publish_offices"]


def __getattr__(name: str) -> Any:
    """The stage, imported on first use, so the package's other modules load without it."""
    if name not in _STAGE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_STAGE[name]), name)
