// LabAPIServer module. See docs/architecture.md.
