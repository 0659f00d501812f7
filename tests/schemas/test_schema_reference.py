"""The generated schema reference in docs/ matches the schema definitions."""


from schemas.reference import render
from tests import REPO


def test_schema_reference_is_current() -> None:
    doc = REPO / "docs" / "schema-reference.md"
    assert doc.read_text(encoding="utf-8") == render(), "regenerate: python -m schemas.reference > docs/schema-reference.md"
