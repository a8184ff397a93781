"""The import rules of docs/import-rules.md, as pure functions: no database, no clock, no I/O."""
