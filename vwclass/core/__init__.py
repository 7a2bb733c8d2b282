"""The pure core: a class spec in, Kubernetes manifests and node configuration out, no I/O."""
