// MappingFile module. See docs/architecture.md.
