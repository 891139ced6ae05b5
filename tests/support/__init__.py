"""Test support: real Kafka and FerretDB helpers, event factories, service processes."""
