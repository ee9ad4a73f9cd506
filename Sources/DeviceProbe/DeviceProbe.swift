// DeviceProbe module. See docs/architecture.md.
