"""The home's secrets: the identifier hash key is created private and refused when others can reach it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hub.errors import SigningKeyError
from hub.home import Home


def test_the_hash_key_is_made_private_and_refused_once_others_can_reach_it(tmp_path: Path) -> None:
    home = Home(tmp_path)
    key = home.hash_key("HUB_TEST_NO_SUCH_VARIABLE")
    path = home.private / "hash.key"
    assert len(key) == 64 and oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(home.private.stat().st_mode & 0o777) == "0o700"
    assert home.hash_key("HUB_TEST_NO_SUCH_VARIABLE") == key  # the same key every time
    os.chmod(home.private, 0o755)
    with pytest.raises(SigningKeyError, match=f"{home.private} is open to others .*run: chmod 700 {home.private}"):
        home.hash_key("HUB_TEST_NO_SUCH_VARIABLE")
    os.chmod(home.private, 0o700)
    os.chmod(path, 0o644)
    with pytest.raises(SigningKeyError, match=f"run: chmod 600 {path}"):
        home.hash_key("HUB_TEST_NO_SUCH_VARIABLE")


def test_a_keyring_made_before_the_hash_key_leaves_private_owner_only(tmp_path: Path) -> None:
    from hub.publish import keys

    home = Home(tmp_path)
    keys.rotate(home)  # as 'hub keys rotate' on a new home does
    assert oct(home.private.stat().st_mode & 0o777) == "0o700"
    assert len(home.hash_key("HUB_TEST_NO_SUCH_VARIABLE")) == 64  # not refused
