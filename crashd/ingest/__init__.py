"""Stage 3, the next boot: pstore and saved dumps become crash records in the store."""

__all__ = []
