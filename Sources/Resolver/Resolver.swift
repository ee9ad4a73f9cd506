// Resolver module. See docs/architecture.md.
