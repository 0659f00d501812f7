"""The analyst guide in docs/ is generated from the definitions the warehouse is built from."""


from hub.inspect.analyst_guide import render
from tests import REPO


def test_analyst_guide_is_current() -> None:
    doc = REPO / "docs" / "analyst-guide.md"
    assert doc.read_text(encoding="utf-8") == render(), "regenerate: python -m hub.inspect.analyst_guide > docs/analyst-guide.md"
