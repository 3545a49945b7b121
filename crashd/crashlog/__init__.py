"""The kernel-log crash summary and signature, shared by ingest, the CLI and the reader."""

__all__ = []
