// CNIPlugin module. See docs/architecture.md.
