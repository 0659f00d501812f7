"""The generated schema reference in docs/ matches the schema definitions."""

from pathlib import Path

from schemas.reference import render


def test_schema_reference_is_current() -> None:
    doc = Path(__file__).parent.parent / "docs" / "schema-reference.md"
    assert doc.read_text(encoding="utf-8") == render(), "regenerate: python -m schemas.reference > docs/schema-reference.md"
