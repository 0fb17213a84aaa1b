"""User-facing errors: the CLIs print these as one line and exit non-zero, never a traceback."""


class ChromaFillError(Exception):
    """An error caused by the user's input (file, key or value), with a message that names it."""

    def __init__(self, message: str = "") -> None:
        super().__init__(_worker_message(message))


def _worker_message(message: str) -> str:
    """The original one-line message of an error re-raised by a DataLoader worker.

    PyTorch re-raises a worker's exception in the main process as the same type built from
    "Caught X in DataLoader worker process N.\nOriginal Traceback ..." plus the whole worker
    traceback; the CLI promises one line naming the file, which is the traceback's last line.
    """
    if not (message.startswith("Caught ") and "\nOriginal Traceback" in message):
        return message
    last = message.rstrip().splitlines()[-1]
    _kind, sep, original = last.partition(": ")
    return original if sep else last


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


def first_line(err: BaseException, limit: int = 200) -> str:
    """The first non-blank line of `err`'s message, at most `limit` characters; its type name when it has none.

    For one-line errors that quote a library's exception: many (torch, onnxruntime, urllib)
    carry a multi-line message or a traceback-like dump after the line that says what failed.
    """
    line = next((text.strip() for text in str(err).splitlines() if text.strip()), "")
    if not line:
        return type(err).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."
