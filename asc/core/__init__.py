"""Facilities every floor may use: errors, config values and files, atomic writes, locks, disk, progress, provenance. Imports nothing else of asc."""
