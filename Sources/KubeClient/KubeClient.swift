// KubeClient module. See docs/architecture.md.
