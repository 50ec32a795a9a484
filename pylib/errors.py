"""Error types for problems the user can fix (bad files, bad config).

Entry points print these as one paragraph and exit 2; anything else is a bug and shows a traceback.
"""


class UserError(Exception):
    """A problem with the user's input: the message names the file or key and says how to fix it."""


class DataError(UserError, ValueError):
    """A data file is malformed (wrong size, NaN, bad header, duplicate id, ...)."""


class ConfigError(UserError, ValueError):
    """A configuration file or override is invalid (unknown key, wrong type, mismatch)."""
