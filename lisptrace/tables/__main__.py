"""``python -m lisptrace.tables > docs/tables.md``: print the table documentation."""

from lisptrace.tables.schema import schema_markdown

print(schema_markdown(), end="")
