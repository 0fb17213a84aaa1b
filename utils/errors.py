"""User-facing errors: the CLIs print these as one line and exit non-zero, never a traceback."""


class ChromaFillError(Exception):
    """An error caused by the user's input (file, key or value), with a message that names it."""


class ConfigError(ChromaFillError):
    """A config key is unknown, mistyped or out of range.

    `key` is the dotted path of the key at fault, so nested validators can raise with a path
    relative to their own section and the loader prefixes the rest.
    """

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}" if key else message)

    def under(self, prefix: str) -> "ConfigError":
        """The same error with `prefix` put in front of its key."""
        key = f"{prefix}.{self.key}" if self.key else prefix
        return ConfigError(key, self.message)
