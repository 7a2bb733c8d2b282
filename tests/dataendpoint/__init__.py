"""Tests of the data endpoint against a real RabbitMQ, real pywaggle and real sage-data-client."""
