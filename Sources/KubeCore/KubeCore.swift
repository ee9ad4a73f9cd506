// KubeCore module. See docs/architecture.md.
