"""Adapters of the video index: the index store, the recording files, ingestion from NVRs."""
