// HTTPServer module. See docs/architecture.md.
