"""The analyst guide in docs/ is generated from the definitions the warehouse is built from."""

from pathlib import Path

from hub.analyst_guide import render


def test_analyst_guide_is_current() -> None:
    doc = Path(__file__).parent.parent / "docs" / "analyst-guide.md"
    assert doc.read_text(encoding="utf-8") == render(), "regenerate: python -m hub.analyst_guide > docs/analyst-guide.md"
