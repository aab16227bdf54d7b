"""Kafka plumbing: topics, admin, clients, the batch channel, outbox and offsets."""
