// CNI module. See docs/architecture.md.
