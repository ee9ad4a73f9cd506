// JSON module. See docs/architecture.md.
