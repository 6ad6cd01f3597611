"""The errors a user can fix: each message is one line naming the file, key or value at fault and what to do.

The CLI prints any error as one line (asc/app/cli.py); these classes let callers and tests tell a user's input
problem (:class:`InputError`, raised while planning, before anything is built) from a fault of the program.
"""

from __future__ import annotations


class InputError(ValueError):
    """A file, folder or value the user supplied cannot work; the message names it and the fix."""


class ConfigError(InputError):
    """A config value that cannot work; the message names the key, the value and the valid choices."""
