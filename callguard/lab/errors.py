"""The lab's one exception: a sentence saying what is missing or what went wrong."""


class LabError(Exception):
    """Printed as one line by the CLI."""
