// Observability module. See docs/architecture.md.
