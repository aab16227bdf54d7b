"""Count stage: dedupe and count events in event-time buckets, close buckets."""
