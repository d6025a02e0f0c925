"""Errors the CLI maps to exit codes (DESIGN section 2: 2 for bad input, 1 otherwise)."""


class FacerepError(Exception):
    """Base class of facerep's own errors."""


class InputError(FacerepError):
    """Bad parameters or unusable input: the message names the key, file or item (exit 2)."""


class MissingModelError(InputError):
    """A model file is absent: the message says which, where it is published, and the parameter to set."""

    def __init__(self, what: str, source: str, parameter: str) -> None:
        super().__init__(
            f"missing model file {what}: it is published at {source}; "
            f"download it and point `{parameter}` at the local copy"
        )
