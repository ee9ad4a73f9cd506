// KubectlPlugin module. See docs/architecture.md.
