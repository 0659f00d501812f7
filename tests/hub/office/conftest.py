from __future__ import annotations

from pathlib import Path

import pytest

from hub.cli import main
from tests.hub.office.kit_homes import AS_OF


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo exchange, run once per module; tests change copies of it (``copy_of``)."""
    home = tmp_path_factory.mktemp("kitdemo")
    assert main(["demo", "--home", str(home), "--as-of", AS_OF]) == 0
    return home
