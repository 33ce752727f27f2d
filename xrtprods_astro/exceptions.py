# Licensed under a 3-clause BSD style license - see LICENSE
"""
Exceptions and warnings raised by `xrtprods_astro`.

They subclass the matching `astroquery.exceptions` classes, so code written
against astroquery's exceptions also catches ours.
"""
import builtins

from astropy.utils.exceptions import AstropyWarning
from astroquery import exceptions as _aq

__all__ = ["XRTProductsError", "InvalidRequestError", "RemoteServiceError",
           "UnknownUserError", "JobLimitError", "ServiceUnavailableError",
           "SubmissionUnknownError", "JobTimeoutError", "ProductNotReadyError",
           "ReaderError", "ResolverError", "XRTProductsWarning"]


class XRTProductsError(Exception):
    """Base class of every error raised by `xrtprods_astro`."""


class InvalidRequestError(XRTProductsError, _aq.InvalidQueryError, ValueError):
    """A request or parameter is not valid; raised before anything is sent.

    Parameters
    ----------
    problems : list of str
        One human-readable line per problem, each naming the parameter as the
        user typed it and saying what is allowed.
    """

    def __init__(self, problems, header="The request is not valid:"):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        lines = [header] + [f"  * {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class RemoteServiceError(XRTProductsError, _aq.RemoteServiceError):
    """The service answered with an error.

    Attributes
    ----------
    message : str
        The service's ``ERROR`` text.
    groups : list of (str, list of str)
        The service's ``listErr`` groups: a label and its items, with wire
        parameter names translated back to the user's names.
    endpoint : str
        The endpoint that answered.
    """

    def __init__(self, message, groups=(), endpoint=""):
        self.message = str(message)
        self.groups = [(label, list(items)) for label, items in groups]
        self.endpoint = endpoint
        text = self.message
        for label, items in self.groups:
            text += "\n" + label + "".join(f"\n  * {item}" for item in items)
        super().__init__(text)


class UnknownUserError(RemoteServiceError):
    """The service does not recognise the e-mail address as a registered user."""


class JobLimitError(RemoteServiceError):
    """The service refused a submission: too many active jobs for this user."""


class ServiceUnavailableError(XRTProductsError, ConnectionError):
    """The service could not be reached or kept failing after every retry."""


class SubmissionUnknownError(ServiceUnavailableError):
    """A submission was sent but its outcome is unknown and could not be
    reconciled with the job list; nothing was resubmitted."""


class JobTimeoutError(XRTProductsError, _aq.TimeoutError, builtins.TimeoutError):
    """A job did not finish within the time allowed."""


class ProductNotReadyError(XRTProductsError):
    """A product was asked for before it finished, or it failed or was cancelled."""


class ReaderError(XRTProductsError, ValueError):
    """A product file or service answer could not be read."""


class ResolverError(XRTProductsError, _aq.ResolverError):
    """A target name could not be resolved to a position."""


class XRTProductsWarning(AstropyWarning):
    """Warnings issued by `xrtprods_astro`."""
