"""Capture files to frames to decoded messages (the per-packet path)."""
