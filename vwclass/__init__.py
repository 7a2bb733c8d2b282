"""vwclass: one isolated virtual Waggle node per student, on any conformant Kubernetes cluster."""

__version__ = "0.1.0"
