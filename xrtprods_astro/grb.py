# Licensed under a 3-clause BSD style license - see LICENSE
"""
The ready-made GRB products of the UKSSDC GRB repository, the astropy way.

`GRBClass` speaks the GRB functions of the UKSSDC common API (``API/main.php``): name to
targetID, the repository's light curves, positions, spectra and burst analyser. `GRBs` is the ready instance.
No job is needed: the repository holds products made automatically for every Swift GRB.

A GRB can be given as a name in any common spelling (``"GRB 060729"``, ``"GRB060729"``,
``"grb 080319b"``, ``"060729"``) or as a Swift targetID (an int, or an 8-digit string such as
``"00221755"``). Names are sent in the documented form ``GRB YYMMDD[A-Z]``; a name the repository
does not know raises `~xrtprods_astro.exceptions.ResolverError` before any product is asked
for, so an unknown GRB is never sent on as ``null`` (the official client does that).

What comes back:

* light curves as `~xrtprods_astro.readers.lightcurve.LightCurve` (the type a product-generator
  job gives), count rates in ct / s, times as `~astropy.time.Time` with T0 from the repository;
  flux light curves in erg cm^-2 s^-1 from the repository's ``flux.qdp``;
* positions as `~xrtprods_astro.readers.positions.Position` (SkyCoord and 90% error radius);
* spectral fits as a Table with units and frozen parameters flagged, and the spectrum archives
  downloaded, verified and read as HDULists;
* the burst analyser (BAT and XRT fluxes in erg cm^-2 s^-1, flux densities in Jy, photon indices)
  as a `~xrtprods_astro.readers.lightcurve.LightCurve` with times from T0, the BAT trigger.

Only the GRB name lookup may come from the cache: the repository's products grow as Swift keeps
observing, so they are asked for again unless ``cache=True``.
"""
import logging
import numbers
import os
import re
import threading
from pathlib import Path
from urllib.parse import urlparse

from astroquery.query import BaseQuery

from .exceptions import (InvalidRequestError, ProductUnavailableError, ReaderError, RemoteServiceError,
                         ResolverError, ServiceUnavailableError)
from .jobcontrol import private_cache_folder
from .transport import Transport, check_url

__all__ = ["GRBClass", "GRBs", "grb_name"]

log = logging.getLogger("xrtprods_astro.grb")

# "GRB 060729", "GRB060729", "grb_080319B", "GRB-080319b", "060729", "080319B".
_NAME = re.compile(r"^(?:GRB[\s_-]*)?(\d{2})(\d{2})(\d{2})\s*([A-Za-z]?)$", re.IGNORECASE)
_YES_NO_BOTH = "True, False or 'both'"
#: The burst analyser's instruments and BAT binnings as the service takes them (spec §7.1).
BURST_INSTRUMENTS = ("bat", "xrt", "uvot")
BURST_BAT_BINNINGS = ("snr4", "snr5", "snr6", "snr7", "timedel0.004", "timedel0.064", "timedel1", "timedel10")
_T0_LINE = re.compile(r"\bT0\b.*?\bMET\s*=\s*([0-9]+(?:\.[0-9]*)?)\s*s?\s*,\s*=\s*(.+?)\s*$", re.IGNORECASE)


def grb_name(text):
    """The documented spelling ``GRB YYMMDD[A-Z]`` of a GRB name, or None if ``text`` is not one.

    Parameters
    ----------
    text : str
        ``"GRB 060729"``, ``"GRB060729"``, ``"grb 080319b"``, ``"080319B"``...

    Returns
    -------
    str or None

    Examples
    --------
    >>> from xrtprods_astro.grb import grb_name
    >>> grb_name("grb080319b")
    'GRB 080319B'
    >>> grb_name("Swift J1644+57") is None
    True
    """
    m = _NAME.match(str(text).strip())
    if m is None:
        return None
    yy, mm, dd, letter = m.groups()
    if not (1 <= int(mm) <= 12 and 1 <= int(dd) <= 31):
        return None
    return f"GRB {yy}{mm}{dd}{letter.upper()}"


def _choice(value, name):
    if isinstance(value, str) and value.strip().lower() == "both":
        return "both"
    if isinstance(value, bool):
        return "yes" if value else "no"
    raise InvalidRequestError(f"{name}: expected {_YES_NO_BOTH}, got {value!r}")


def _classify(grb):
    """``("target", int)`` or ``("name", canonical name)`` for one GRB as the user gave it.

    Ints are targetIDs; strings are names, except 8-digit strings (``"00221755"``, the
    repository's own spelling of targetIDs) and digit strings that are not a date.
    """
    if isinstance(grb, bool) or grb is None:
        raise InvalidRequestError(f"grb: {grb!r} is neither a GRB name nor a targetID")
    if isinstance(grb, numbers.Integral):
        if int(grb) <= 0:
            raise InvalidRequestError(f"grb: the targetID {grb!r} must be a positive integer")
        return "target", int(grb)
    if not isinstance(grb, str):
        raise InvalidRequestError(f"grb: expected a GRB name (str) or a targetID (int), got "
                                  f"{type(grb).__name__} {grb!r}")
    text = grb.strip()
    name = grb_name(text)
    if text.isdigit() and (len(text) == 8 or name is None) and int(text) > 0:
        return "target", int(text)
    if name is None:
        raise InvalidRequestError(f"grb: {grb!r} is not a GRB name or a targetID; expected a name such "
                                  "as 'GRB 060729', 'GRB060729', '080319B' or a targetID such as "
                                  "221755 or '00221755'")
    return "name", name


class GRBClass(BaseQuery):
    """Client of the UKSSDC GRB repository (light curves, positions, spectra of Swift GRBs).

    Parameters
    ----------
    server : str, optional
        Root URL of the UKSSDC site, or ``"local"``; default ``conf.server``.
    timeout : float, optional
        Time limit of one HTTP call in seconds; default ``conf.timeout``.

    Notes
    -----
    Every call goes through the package's `~xrtprods_astro.transport.Transport`
    (retries, time limits, verified downloads), as the product generator's do.
    """

    def __init__(self, *, server=None, timeout=None):
        BaseQuery.__init__(self)
        self._server = server
        self._transport = Transport(self)
        self._transport.timeout = timeout
        self._targets = {}   # (server, canonical name) -> targetID: a name never changes its GRB
        self._t0 = {}        # (server, targetID) -> (T0 MET, UKSSDC's UTC text) or None
        self._memo_lock = threading.Lock()

    def __deepcopy__(self, memo):
        # astroquery's cache deep-copies responses whose hooks hold this client: a handle, not a value.
        return self

    @property
    def cache_location(self):
        """Folder of cached answers, readable by the user only."""
        return private_cache_folder(self._cache_location, self.name)

    @cache_location.setter
    def cache_location(self, location):
        self._cache_location = Path(location)

    @property
    def server(self):
        """Root URL of the UKSSDC site (``"local"`` starts the bundled service on first use)."""
        from .localmode import server_url
        server = server_url(self._server).rstrip("/")
        check_url(server, "server")
        return server

    @server.setter
    def server(self, value):
        from .localmode import check_server
        if value is not None:
            check_server(value, "server")
        self._server = value

    def _api_url(self):
        return f"{self.server}/API/main.php"

    def _call(self, func, payload, **kwargs):
        return self._transport.call_common(self._api_url(), func, payload, **kwargs)

    # -- names --------------------------------------------------------------------------------
    def _lookup(self, name):
        """The targetID of a canonical GRB name, or None when the repository does not know it."""
        key = (self.server, name)
        with self._memo_lock:
            if key in self._targets:
                return self._targets[key]
        data = self._call("GRBNameToTargetID", {"name": name})
        if "NOTFOUND" in data:
            return None
        if "targetID" not in data:
            raise ResolverError(f"GRBNameToTargetID answered {sorted(data)} for {name!r}: neither "
                                "targetID nor NOTFOUND")
        try:
            target = int(str(data["targetID"]).strip())
        except ValueError:
            raise ResolverError(f"GRBNameToTargetID answered targetID={data['targetID']!r} for "
                                f"{name!r}, which is not an integer") from None
        with self._memo_lock:
            self._targets[key] = target
        return target

    def resolve(self, grbs, *, unknown="raise"):
        """The targetIDs of GRBs given by name or targetID, with one lookup per distinct name.

        Parameters
        ----------
        grbs : str, int or sequence of them
            Names in any common spelling (``"GRB 060729"``, ``"GRB060729"``, ``"060729"``) or
            targetIDs (``221755``, ``"00221755"``). Every item is checked before anything is sent.
        unknown : {"raise", "mask"}
            What to do with names the repository does not know: raise
            `~xrtprods_astro.exceptions.ResolverError` naming all of them (default), or keep them
            with a masked ``target_id``.

        Returns
        -------
        `~astropy.table.Table`
            One row per item, in order: ``query`` (as given), ``grb`` (the documented spelling,
            empty for a targetID), ``target_id`` (int).

        Raises
        ------
        `~xrtprods_astro.exceptions.InvalidRequestError`
            An item is neither a name nor a targetID (nothing is sent), or ``unknown`` is not
            allowed.
        `~xrtprods_astro.exceptions.ResolverError`
            Some names are not in the repository (``unknown="raise"``).
        """
        import numpy as np
        from astropy.table import MaskedColumn, Table
        if unknown not in ("raise", "mask"):
            raise InvalidRequestError(f"unknown: {unknown!r} is not allowed; allowed: 'raise', 'mask'")
        items = [grbs] if isinstance(grbs, (str, numbers.Integral)) else list(grbs)
        kinds, problems = [], []
        for item in items:
            try:
                kinds.append(_classify(item))
            except InvalidRequestError as exc:
                problems.extend(exc.problems)
        if problems:
            raise InvalidRequestError(problems, header="These GRBs cannot be looked up:")
        targets, missing = [], []
        for item, (kind, value) in zip(items, kinds):
            target = value if kind == "target" else self._lookup(value)
            if target is None:
                missing.append(str(item))
            targets.append(target)
        if missing and unknown == "raise":
            raise ResolverError("No confirmed GRB of these names is in the XRT GRB repository: "
                                + ", ".join(repr(m) for m in missing)
                                + " (names are looked up as 'GRB YYMMDD' plus the letter, if any)")
        return Table([[str(i) for i in items], [v if k == "name" else "" for k, v in kinds],
                      MaskedColumn([t or 0 for t in targets], dtype=np.int64,
                                   mask=[t is None for t in targets])],
                     names=["query", "grb", "target_id"])

    def target_id(self, grb):
        """The targetID of one GRB (name in any common spelling, or targetID).

        Raises
        ------
        `~xrtprods_astro.exceptions.ResolverError`
            The repository does not know the name.
        """
        return int(self.resolve([grb])["target_id"][0])

    def _many(self, grbs, func, **kwargs):
        """``{query: func(target_id, name, **kwargs)}``: all names resolved before any product call."""
        table = self.resolve(grbs)
        out, done = {}, {}
        for row in table:
            key = row["query"]
            tid = int(row["target_id"])
            # Two spellings of one GRB keep both keys (the official client loses one) but share one call.
            if tid not in done:
                done[tid] = func(tid, row["grb"] or None, **kwargs)
            out[key] = done[tid]
        return out

    # -- light curves ---------------------------------------------------------------------------
    def _t0_utc(self, target_id, folder_url):
        """(T0 MET, UKSSDC's UTC for it as text) from the header of the repository's ``curve.qdp``,
        or None; the light curve's JSON gives T0 in MET only, without the clock correction."""
        key = (self.server, target_id)
        with self._memo_lock:
            if key in self._t0:
                return self._t0[key]
        found = None
        try:
            text = self._transport.get_text(f"{folder_url}/curve.qdp")
        except (RemoteServiceError, ServiceUnavailableError) as exc:
            # A missing header costs the clock correction (the reader then says so), never the data.
            log.debug("no curve.qdp header for targetID %s: %s", target_id, exc)
            text = ""
        for line in text.splitlines()[:20]:
            m = _T0_LINE.search(line)
            if m:
                found = (m.group(1), m.group(2))
                break
        with self._memo_lock:
            self._t0[key] = found
        return found

    def _folder(self, target_id, data=None, kind="xrt_curves"):
        """The URL folder of a GRB's files: the one the service named, else the site's."""
        for name in (data or {}).get("Datasets", []):
            url = (data.get(f"{name}Data") or {}).get("URL")
            if url:
                return url.rsplit("/", 1)[0]
        return f"{self.server}/{kind}/{target_id:08d}"

    def _lightcurve(self, target_id, name, *, incbad, nosys, cache, utcf):
        from .readers.lightcurve import read_lightcurve_json
        payload = {"type": "GRB", "objectID": target_id, "incbad": incbad, "nosys": nosys}
        data = self._call("downloadLightCurve", payload, required=("Datasets",), cache=cache)
        if "NOLC" in data or not data.get("Datasets"):
            raise ProductUnavailableError(f"The GRB repository has no light curve for "
                                          f"{name or 'targetID %d' % target_id}.", product="lightcurve")
        t0_date = None
        if utcf is None:
            stated = self._t0_utc(target_id, self._folder(target_id, data))
            t0_date = f"{stated[0]}\n{stated[1]}\n" if stated else None
        lc = read_lightcurve_json(data, utcf=utcf, t0_date=t0_date)
        lc.meta.update(grb=name, target_id=target_id)
        return lc

    def get_lightcurve(self, grb, *, incbad=True, nosys=False, cache=False, utcf=None):
        """The repository light curve of one GRB.

        Parameters
        ----------
        grb : str or int
            A GRB name in any common spelling, or its targetID.
        incbad : bool or "both"
            True (default, as the official client): the datasets that include bins with an
            unverified centroid (``*_incbad``); False: those without; "both": all.
        nosys : bool or "both"
            False (default): WT rates with their systematic error; True: the ``*_nosys``
            datasets; "both": all.
        cache : bool
            Allow a cached answer (the repository's curves grow while Swift observes: off by
            default).
        utcf : float or `~astropy.units.Quantity`, optional
            Swift's clock correction; by default the one UKSSDC states with T0 in the header of
            the repository's ``curve.qdp``.

        Returns
        -------
        `~xrtprods_astro.readers.lightcurve.LightCurve`
            Datasets ``WT``, ``PC``, ``PCUL``, ``WTHR``, ``PCHard``... (with their suffixes), count
            rates in ct / s, ``time`` a `~astropy.time.Time`, ``t_since_t0`` in s;
            ``meta["t0"]`` is T0 as a Time, ``meta["grb"]`` and ``meta["target_id"]`` say which GRB.

        Raises
        ------
        `~xrtprods_astro.exceptions.InvalidRequestError`
            A parameter is not valid (nothing is sent).
        `~xrtprods_astro.exceptions.ResolverError`
            The name is not in the repository (no light curve is asked for).
        `~xrtprods_astro.exceptions.ProductUnavailableError`
            The repository has no light curve for this GRB.
        """
        incbad, nosys = _choice(incbad, "incbad"), _choice(nosys, "nosys")
        tid = self.target_id(grb)
        kind, value = _classify(grb)
        return self._lightcurve(tid, value if kind == "name" else None, incbad=incbad, nosys=nosys,
                                cache=bool(cache), utcf=utcf)

    def get_lightcurves(self, grbs, *, incbad=True, nosys=False, cache=False):
        """The light curves of several GRBs: ``{grb as given: LightCurve}``.

        Every name is looked up before any light curve is asked for, so one unknown name stops
        the call at once with a `~xrtprods_astro.exceptions.ResolverError` naming all the
        unknown ones. Parameters as for `get_lightcurve`.
        """
        incbad, nosys = _choice(incbad, "incbad"), _choice(nosys, "nosys")
        return self._many(grbs, self._lightcurve, incbad=incbad, nosys=nosys, cache=bool(cache), utcf=None)

    def get_flux_lightcurve(self, grb, *, cache=False):
        """The repository's flux light curve of one GRB (0.3-10 keV, erg cm^-2 s^-1).

        The common API has no function for it (spec §13.8): this reads the repository's own
        ``flux.qdp`` (``<server>/xrt_curves/<8-digit targetID>/flux.qdp``). Whether the file holds
        fluxes is decided from its content (its column names and header), never from its name.

        Returns
        -------
        `~xrtprods_astro.readers.lightcurve.LightCurve`
            Datasets ``WT``, ``PC``, ``PCUL`` of kind ``flux`` with ``flux``, ``flux_err_pos``,
            ``flux_err_neg`` in erg / (cm2 s); ``meta["quantity"] == "flux"``.

        Raises
        ------
        `~xrtprods_astro.exceptions.ReaderError`
            The file does not hold fluxes.
        """
        from .readers.lightcurve import read_lightcurve_qdp
        tid = self.target_id(grb)
        kind, value = _classify(grb)
        folder = f"{self.server}/xrt_curves/{tid:08d}"
        url = f"{folder}/flux.qdp"
        text = self._transport.get_text(url, cache=bool(cache))
        # Newer flux.qdp files have no header block, so no T0: take it, with UKSSDC's UTC for it,
        # from the header of the GRB's curve.qdp (a file that states its own T0 keeps it).
        t0, utcf = None, None
        if "T0 for this burst" not in text:
            t0, utcf = self._t0_utcf(tid)
        # Bytes, not str: a str source may be taken for a path.
        lc = read_lightcurve_qdp(text.encode("utf-8"), url=url, t0=t0, utcf=utcf)
        if lc.meta.get("quantity") != "flux":
            raise ReaderError(f"{url}: the file holds no flux columns (quantity "
                              f"{lc.meta.get('quantity')!r}); it is not read as a flux light curve")
        lc.meta.update(grb=value if kind == "name" else None, target_id=tid)
        return lc

    # -- burst analyser -------------------------------------------------------------------------
    @staticmethod
    def _burst_selection(value, name, allowed):
        """``"all"`` or the list of ``allowed`` values (case-insensitive) the service takes."""
        if isinstance(value, str) and value.strip().lower() == "all":
            return "all"
        items = [value] if isinstance(value, str) else list(value) if value is not None else []
        lowered = [str(i).strip().lower() for i in items]
        bad = [i for i, low in zip(items, lowered) if low not in allowed]
        if bad or not items:
            raise InvalidRequestError(f"{name}: {bad or items!r} not allowed; allowed: 'all' or some of "
                                      + ", ".join(repr(a) for a in allowed))
        return list(dict.fromkeys(lowered))

    def _burst(self, target_id, name, *, payload, cache, utcf, density_unit):
        from .readers.burst import read_burst_analyser_json
        from .times import parse_ukssdc_date
        data = self._call("downloadBurstAnalyser", {"targetID": target_id, **payload},
                          required=("Instruments",), cache=cache)
        if not data.get("Instruments"):
            raise ProductUnavailableError(f"The GRB repository has no burst-analyser data for "
                                          f"{name or 'targetID %d' % target_id}.", product="burst_analyser")
        # The answer's times are seconds since T0, the BAT trigger, which it does not state: the
        # repository states it (with UKSSDC's UTC for it) in the header of the GRB's curve.qdp.
        stated = self._t0_utc(target_id, f"{self.server}/xrt_curves/{target_id:08d}")
        t0, t0_utc = (None, None) if not stated else (float(stated[0]), parse_ukssdc_date(stated[1]))
        if stated is None:
            log.info("targetID %s: T0 is not stated by the repository; times stay seconds since T0",
                     target_id)
        return read_burst_analyser_json(data, t0=t0, utcf=utcf, t0_utc=None if utcf is not None else t0_utc,
                                        density_unit=density_unit, target=target_id, grb=name)

    def _burst_payload(self, instruments, bat_binning, bands, incbad, nosys, density_unit):
        from .readers.burst import BURST_BANDS
        if density_unit not in ("Jy", "mJy"):
            raise InvalidRequestError(f"density_unit: {density_unit!r} not allowed; allowed: 'Jy', 'mJy'")
        # Key order and values as the official client sends them (spec §3).
        return {"instruments": self._burst_selection(instruments, "instruments", BURST_INSTRUMENTS),
                "bands": self._burst_selection(bands, "bands", tuple(b.lower() for b in BURST_BANDS)),
                "BATBinning": self._burst_selection(bat_binning, "bat_binning", BURST_BAT_BINNINGS),
                "incbad": _choice(incbad, "incbad"), "nosys": _choice(nosys, "nosys")}

    def get_burst_analyser(self, grb, *, instruments="all", bat_binning="all", bands="all", incbad=True,
                           nosys=False, density_unit="Jy", cache=False, utcf=None):
        """The burst analyser of one GRB: BAT and XRT fluxes, flux densities and photon indices.

        The burst analyser (Evans et al. 2010, A&A 519, A102) converts BAT and XRT count rates to
        fluxes with the spectral evolution taken into account. One ``downloadBurstAnalyser`` call
        (plus the name lookup and, once per GRB, the header of its ``curve.qdp`` for T0).

        Parameters
        ----------
        grb : str or int
            A GRB name in any common spelling, or its targetID.
        instruments : "all" or sequence of str
            Some of ``"bat"`` (which also brings the BAT data without spectral evolution),
            ``"xrt"``, ``"uvot"``.
        bat_binning : "all" or sequence of str
            Some of ``"snr4"``... ``"snr7"`` (each with its ``_sinceT0`` variant),
            ``"timedel0.004"``, ``"timedel0.064"``, ``"timedel1"``, ``"timedel10"``. Asking for
            everything of a bright GRB can exceed the service's memory (spec §7.1): subset.
        bands : "all" or sequence of str
            Some of ``"xrtband"`` (0.3-10 keV flux), ``"batband"`` (15-50 keV flux), ``"density"``
            (unabsorbed flux density at 10 keV), ``"observedflux"`` (observed flux density).
        incbad, nosys : bool or "both"
            Which XRT datasets: as for `get_lightcurve` (defaults as the official client's).
        density_unit : {"Jy", "mJy"}
            Unit of the flux densities.
        cache : bool
            Allow a cached answer (off by default: the repository's products grow).
        utcf : float or `~astropy.units.Quantity`, optional
            Swift's clock correction; by default the one UKSSDC states with T0.

        Returns
        -------
        `~xrtprods_astro.readers.lightcurve.LightCurve`
            Datasets ``BAT_SNR4_XRTBand``, ``BAT_NoEvolution_SNR4_Density``, ``BAT_HR``,
            ``XRT_XRTBand_PC_incbad``, ``XRT_HR_PC``... (see
            `~xrtprods_astro.readers.burst.read_burst_analyser_json`): fluxes in erg / (cm2 s),
            flux densities in ``density_unit``, ``gamma`` the photon index, ``time`` a
            `~astropy.time.Time` and ``t_since_t0`` in s since T0, the BAT trigger
            (``meta["t0"]``), never a count rate.

        Raises
        ------
        `~xrtprods_astro.exceptions.InvalidRequestError`
            A parameter is not valid (nothing is sent).
        `~xrtprods_astro.exceptions.ResolverError`
            The name is not in the repository.
        `~xrtprods_astro.exceptions.ProductUnavailableError`
            The repository has no burst-analyser data for this GRB.
        """
        payload = self._burst_payload(instruments, bat_binning, bands, incbad, nosys, density_unit)
        tid = self.target_id(grb)
        kind, value = _classify(grb)
        return self._burst(tid, value if kind == "name" else None, payload=payload, cache=bool(cache),
                           utcf=utcf, density_unit=density_unit)

    def get_burst_analysers(self, grbs, *, instruments="all", bat_binning="all", bands="all", incbad=True,
                            nosys=False, density_unit="Jy", cache=False):
        """The burst analyser of several GRBs: ``{grb as given: LightCurve}``.

        Every parameter and every name is checked before any burst-analyser data is asked for.
        Parameters as for `get_burst_analyser`.
        """
        payload = self._burst_payload(instruments, bat_binning, bands, incbad, nosys, density_unit)
        return self._many(grbs, self._burst, payload=payload, cache=bool(cache), utcf=None,
                          density_unit=density_unit)

    def download_burst_analyser(self, grb, dest_dir, *, overwrite=False):
        """Download the burst analyser's own files of one GRB (the website's tar) into ``dest_dir``.

        The tar whose URL ``getBurstAnalyserTarURL`` gives is downloaded through the package's
        verified download path (streamed, checked, renamed only when complete).

        Returns
        -------
        `~pathlib.Path`
            The downloaded archive.
        """
        tid = self.target_id(grb)
        data = self._call("getBurstAnalyserTarURL", {"targetID": tid}, required=("URL",))
        url = str(data["URL"])
        check_url(url, "URL")
        name = os.path.basename(urlparse(url).path) or f"batxrtfiles_{tid:08d}.tar.gz"
        path = Path(dest_dir) / name
        if path.is_file() and not overwrite:
            log.info("%s is already here (overwrite=True downloads it again)", path)
            return path
        return Path(self._transport.download(url, path, overwrite=overwrite))

    # -- positions ------------------------------------------------------------------------------
    def _positions(self, target_id, name, *, kinds):
        from .readers.grb import read_grb_positions
        data = self._call("getGRBPositions", {"posToGet": kinds, "targetID": target_id})
        return read_grb_positions(data, target_id=target_id)

    @staticmethod
    def _position_kinds(kinds):
        from .readers.grb import GRB_POSITION_KINDS
        if isinstance(kinds, str) and kinds.strip().lower() == "all":
            return "all"
        items = [kinds] if isinstance(kinds, str) else list(kinds)
        bad = [k for k in items if str(k).strip().lower() not in GRB_POSITION_KINDS]
        if bad or not items:
            raise InvalidRequestError(f"kinds: {bad or items!r} not allowed; allowed: 'all' or some of "
                                      + ", ".join(repr(k) for k in GRB_POSITION_KINDS))
        return [GRB_POSITION_KINDS[str(k).strip().lower()] for k in items]

    def get_positions(self, grb, kinds="all"):
        """The XRT positions of one GRB.

        Parameters
        ----------
        grb : str or int
            A GRB name in any common spelling, or its targetID.
        kinds : "all" or sequence of str
            Some of ``"best"``, ``"enhanced"``, ``"standard"``, ``"sper"``, ``"onboard"``.

        Returns
        -------
        dict
            Kind -> `~xrtprods_astro.readers.positions.Position`: ``coord`` a SkyCoord (ICRS),
            ``err90`` the 90% error radius in arcsec; a kind the repository lacks has ``found``
            False and a ``reason``.
        """
        kinds = self._position_kinds(kinds)
        return self._positions(self.target_id(grb), None, kinds=kinds)

    def get_position(self, grb):
        """The best position of one GRB (enhanced, else standard, else SPER, else on-board)."""
        return self.get_positions(grb, ["best"])["best"]

    def get_positions_many(self, grbs, kinds="all"):
        """`get_positions` for several GRBs: ``{grb as given: {kind: Position}}``."""
        kinds = self._position_kinds(kinds)
        return self._many(grbs, self._positions, kinds=kinds)

    # -- spectra --------------------------------------------------------------------------------
    def _spectrum_data(self, target_id, cache):
        return self._call("downloadSpectrum", {"type": "GRB", "objectID": target_id}, cache=cache)

    def _t0_utcf(self, target_id):
        """(T0 MET, the clock correction UTCF at T0) as the repository states them, or Nones."""
        from .times import parse_ukssdc_date, utcf_from_utc
        stated = self._t0_utc(target_id, f"{self.server}/xrt_curves/{target_id:08d}")
        if not stated:
            return None, None
        utc = parse_ukssdc_date(stated[1])
        return float(stated[0]), (None if utc is None else utcf_from_utc(float(stated[0]), utc))

    def _utcf(self, target_id):
        return self._t0_utcf(target_id)[1]

    def get_spectral_fits(self, grb, *, cache=False):
        """The repository's automatic spectral fits of one GRB.

        Returns
        -------
        `~astropy.table.Table`
            One row per interval (``interval0``: all data; ``late_time``...), mode and model, with
            units on every physical column and boolean ``*_frozen`` columns flagging the
            parameters held fixed (see `~xrtprods_astro.readers.grb.read_grb_spectral_fits`).
            An empty table with ``meta["no_spectrum"]`` True when there is no spectrum.
        """
        from .readers.grb import read_grb_spectral_fits
        tid = self.target_id(grb)
        kind, value = _classify(grb)
        data = self._spectrum_data(tid, bool(cache))
        return read_grb_spectral_fits(data, target_id=tid, grb=value if kind == "name" else None,
                                      utcf=self._utcf(tid))

    def get_spectra(self, grb, dest_dir, *, intervals=None, overwrite=False):
        """Download the repository's spectrum archives of one GRB and read them.

        Each ``<interval>.tar.gz`` is downloaded through the package's verified download path
        (streamed, checked as a gzip tar, renamed only when complete), then unpacked safely into
        ``dest_dir/<interval>/``.

        Parameters
        ----------
        grb : str or int
        dest_dir : path-like
        intervals : sequence of str, optional
            Interval names (``"interval0"``, ``"late_time"``); default all.
        overwrite : bool
            Download again archives already in ``dest_dir`` (by default they are read as they
            are: only a complete, verified download ever takes an archive's name).

        Returns
        -------
        dict
            Interval name -> `~xrtprods_astro.readers.spectrum.SpectrumProducts` (per mode the
            grouped spectrum, background, ARF and RMF as HDULists, the fit summaries).
        """
        from .readers.spectrum import read_spectrum_archive
        if intervals is not None:
            intervals = [intervals] if isinstance(intervals, str) else list(intervals)
        tid = self.target_id(grb)
        data = self._spectrum_data(tid, False)
        if "NoSpectrum" in data:
            raise ProductUnavailableError(f"The GRB repository has no spectrum for {grb!r}.",
                                          product="spectrum")
        rnames = [str(r) for r in data.get("rnames", [])]
        if intervals is not None:
            unknown = [i for i in intervals if i not in rnames]
            if unknown:
                raise InvalidRequestError(f"intervals: {unknown} not among this GRB's intervals "
                                          f"{rnames}")
            rnames = [r for r in rnames if r in intervals]
        dest = Path(dest_dir)
        out = {}
        for rname in rnames:
            url = (data.get(rname) or {}).get("DataFile")
            if not url:
                log.info("%s: interval %s has no DataFile; skipped", grb, rname)
                continue
            name = os.path.basename(urlparse(url).path) or f"{rname}.tar.gz"
            path = dest / name
            if path.is_file() and not overwrite:
                # Only a verified download is ever renamed to this name: a re-run reads it again.
                log.info("%s is already here; reading it (overwrite=True downloads it again)", path)
            else:
                path = self._transport.download(url, path, overwrite=overwrite)
            try:
                out[rname] = read_spectrum_archive(path, dest / rname)
            except ReaderError as exc:
                raise ReaderError(f"{path}: {exc} (overwrite=True downloads it again)") from exc
        return out


#: The ready instance.
GRBs = GRBClass()
