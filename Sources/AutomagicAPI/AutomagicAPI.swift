// AutomagicAPI module. See docs/architecture.md.
