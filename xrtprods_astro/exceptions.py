# Licensed under a 3-clause BSD style license - see LICENSE
"""
Exceptions and warnings raised by `xrtprods_astro`.

They subclass the matching `astroquery.exceptions` classes, so code written
against astroquery's exceptions also catches ours.

Products that cannot be retrieved follow one rule, whatever the path
(``XRTProducts.*_data(job_id)``, ``XRTJob.lightcurve()`` and the other job
methods, ``XRTProducts.get_*``); each error is a `ProductUnavailableError`:

* the product is not complete yet (queued or running): `ProductNotReadyError`;
  wait and ask again;
* the job was not asked for this product (e.g. the images of a job without
  ``image``): `ProductNotRequestedError`;
* the product failed or was cancelled: `ProductFailedError` (its ``status``
  says which); it will not change, so submit again (``reuse=False``).

Each carries ``job_id`` (an int), ``product`` (the friendly key, e.g.
``"lightcurve"``) and ``status`` (the last
`~xrtprods_astro.job.ProductStatus`, or None).
"""
import builtins

from astropy.utils.exceptions import AstropyWarning
from astroquery import exceptions as _aq

__all__ = ["XRTProductsError", "InvalidRequestError", "RemoteServiceError",
           "UnknownUserError", "JobLimitError", "ServiceUnavailableError",
           "SubmissionUnknownError", "JobTimeoutError", "ProductUnavailableError",
           "ProductNotReadyError", "ProductNotRequestedError", "ProductFailedError", "ReaderError",
           "ResolverError", "XRTProductsWarning"]


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


#: Where a UKSSDC user registers the e-mail address the service knows them by.
REGISTER_URL = "https://www.swift.ac.uk/user_objects/register.php"


class UnknownUserError(RemoteServiceError):
    """The service does not recognise the e-mail address as a registered user.

    The message ends with where to register (`REGISTER_URL`): the service's own text
    says only that the address is not recognised.
    """

    def __init__(self, message, groups=(), endpoint=""):
        super().__init__(message, groups, endpoint)
        hint = (f"Register the address at {REGISTER_URL} (and confirm it from the e-mail UKSSDC "
                "sends), or give the address you registered (--email, conf.email or XRTPRODS_EMAIL).")
        self.args = (f"{self.args[0]}\n{hint}",)


class JobLimitError(RemoteServiceError):
    """The service refused a submission: too many active jobs for this user."""


class ServiceUnavailableError(XRTProductsError, ConnectionError):
    """The service could not be reached or kept failing after every retry."""


class SubmissionUnknownError(ServiceUnavailableError):
    """A submission was sent but its outcome is unknown and could not be
    reconciled with the job list; nothing was resubmitted."""


class JobTimeoutError(XRTProductsError, _aq.TimeoutError, builtins.TimeoutError):
    """A job did not finish within the time allowed."""


class ProductUnavailableError(XRTProductsError):
    """A product of a job cannot be retrieved; the base of the three cases of the module's rule.

    Attributes
    ----------
    job_id : int or None
    product : str or None
        The product's friendly key (``"lightcurve"``, ``"image"``...).
    status : `~xrtprods_astro.job.ProductStatus` or None
    """

    def __init__(self, message, *, job_id=None, product=None, status=None):
        super().__init__(message)
        self.job_id = job_id
        self.product = product
        self.status = status


class ProductNotReadyError(ProductUnavailableError):
    """A product was asked for before it finished (it is queued or running)."""


class ProductNotRequestedError(ProductUnavailableError, LookupError):
    """A product was asked for that the job was not submitted with."""


class ProductFailedError(ProductUnavailableError):
    """A product failed or was cancelled; it will not change."""


class ReaderError(XRTProductsError, ValueError):
    """A product file or service answer could not be read."""


class ResolverError(XRTProductsError, _aq.ResolverError):
    """A target name could not be resolved to a position."""


class XRTProductsWarning(AstropyWarning):
    """Warnings issued by `xrtprods_astro`."""
