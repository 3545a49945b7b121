"""The shared foundation: paths, errors, settings and config, logging, notify, journal, tools."""

__all__ = []
