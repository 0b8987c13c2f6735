"""Starts what the demo and the local stack need (the emulator, later Redis, S3 and workers)."""
