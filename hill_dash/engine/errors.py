"""Errors a person can act on: each names the file, the field and what was expected."""


class HillError(ValueError):
    """Base class for input errors shown to the user (CLI: one line, exit code 2)."""


class DataError(HillError):
    """A data file or data set is unusable; the message names file, field and expectation."""


class StoreError(HillError):
    """A run, checkpoint or session file is missing, malformed or unsafe."""


class RunBusyError(StoreError):
    """A second chunk was asked for on a run that is already training."""
