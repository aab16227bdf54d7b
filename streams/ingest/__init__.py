"""Ingest stage: validate input events, dead-letter the bad ones, re-key the rest."""
