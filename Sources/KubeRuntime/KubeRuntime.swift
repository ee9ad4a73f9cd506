// KubeRuntime module. See docs/architecture.md.
