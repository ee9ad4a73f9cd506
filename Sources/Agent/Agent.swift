// Agent module. See docs/architecture.md.
