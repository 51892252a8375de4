"""Diagnostics that measure a model rather than score it (e.g. the attention-sink curves)."""
