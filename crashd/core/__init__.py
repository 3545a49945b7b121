"""The shared foundation: paths, errors, settings and config, logging, notify, journal, tools."""
