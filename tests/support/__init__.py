"""Shared test support: harnesses that run real components (Kubernetes, RabbitMQ) and small helpers."""
