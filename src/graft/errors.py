"""Errors graft reports to users as one clear line (the CLI prints them without a traceback)."""


class GraftError(Exception):
    """Base class: the message is complete and meant for the user."""


class WeightsNotFound(GraftError):
    """No weight source could provide a backbone's pretrained weights."""


class DataError(GraftError):
    """The training/evaluation data cannot be used as given (names the file or line)."""


class BundleError(GraftError):
    """A saved model directory is missing, incomplete or has been tampered with."""
