# Licensed under a 3-clause BSD style license - see LICENSE
"""
The observation-data functions of the local service's ``API/main.php``: ``getObsByTarg`` and
``listObsFiles`` (shared/spec/ukssdc-catalogues.md §5), and the archive files they point at.

The observations are those of the simulated sky: every targetID of `server.catalogue.CATALOGUE`
has the obsIDs of its schedule (`server.sky.schedule`), the very ones the product generator builds
products from and the ``obs``/``swiftmastr`` table of `server.sxps` lists.

* ``getObsByTarg``: ``{"targetID": 282445}`` (int or string, any zero padding) ->
  ``{"obsList": ["00282445000", ...]}``; a targetID with no observations answers an empty list.
* ``listObsFiles``: ``{"obsid", "source", "dirs"}`` -> ``{"url": <base>, "fileList": {"dirs": [...],
  "files": [...]}}``: ``dirs`` parent first, every intermediate folder listed, the top level as
  ``""``, folders with a trailing slash (as the documented output); ``files`` relative to the
  observation's folder, fetched as ``GET <url>/<file>``. ``source`` is case-insensitive. An
  obsID of the right form that is not in the archive answers a ``fileList`` without ``dirs`` and
  ``files``: that is what the official client's "Cannot find obs" branch reads (the real answer
  is not documented, spec §9 q6).
* Archive bases (spec §9 q6: only the UK reprocessed one is evidenced):
  ``uk_reproc`` ``<server>/archive/reproc/<obsid>``, ``uk`` ``<server>/archive/obs/<obsid>``,
  ``us`` ``<server>/FTP/swift/data/obs/<YYYY_MM>/<obsid>`` (HEASARC's layout) and ``italy``
  ``<server>/italy/swift/data/obs/<obsid>``, all served by this service.

The files are small real FITS files, gzip-compressed: XRT event lists (``EVENTS`` and ``GTI``;
at most `MAX_EVENTS` events, a thinned sample of the simulated photons, said by ``EVTHIN``),
housekeeping and auxiliary tables, BAT and UVOT housekeeping, TDRSS messages (the GRB's first
observation only) and a text log. They are made on first request, once per mirror and file, and
deterministic for the service's seed; the mirrors differ only in ``ORIGIN``/``PROCVER``.

Knobs for tests: ``missing`` (paths listed but answered 404), ``corrupt`` (paths served with a
broken gzip trailer), ``extra`` (``{obsid: [path, ...]}`` listed as well, e.g. hostile paths) and
``gets`` (every file GET: ``(path, Range header)``).
"""
import gzip
import io
import re
import threading
from pathlib import Path

import numpy as np

from .catalogue import entry_for_target
from .sky import (_rng, met_to_utc, sample_background_energies, sample_energies, schedule, source_rate,
                  total_nh)

__all__ = ["ObsDataService", "ObsDataAPIError", "FUNCTIONS", "MIRRORS", "DIRS", "URL_PREFIXES",
           "MAX_EVENTS"]

FUNCTIONS = ("getObsByTarg", "listObsFiles")
#: The ``source`` values (spec §5).
MIRRORS = ("uk_reproc", "uk", "us", "italy")
#: The ``dirs`` values: instruments, then the optional folders.
DIRS = ("bat", "xrt", "uvot", "auxil", "tdrss", "log")
#: URL path of each mirror's archive on this service.
_BASES = {"uk_reproc": "/archive/reproc", "uk": "/archive/obs", "us": "/FTP/swift/data/obs",
          "italy": "/italy/swift/data/obs"}
#: GET paths under which archive files are served (server/app.py routes them here).
URL_PREFIXES = tuple(base + "/" for base in _BASES.values())
_ORIGIN = {"uk_reproc": ("UKSSDC", "reprocessed"), "uk": ("UKSSDC", "quick-look"),
           "us": ("HEASARC", "quick-look"), "italy": ("ASDC", "quick-look")}
#: Most events in one simulated event list (the files stay small).
MAX_EVENTS = 4000
_OBSID = re.compile(r"[0-9]{1,11}")


class ObsDataAPIError(Exception):
    """An error answer of the common API: ``code`` (ERROR) and ``text`` (ERRORTEXT)."""

    def __init__(self, code, text):
        super().__init__(text)
        self.code, self.text = code, text


def _digits(value, key, width):
    """``value`` (int or numeric string, any zero padding) as a zero-padded string of ``width``."""
    if isinstance(value, bool) or value is None:
        raise ObsDataAPIError(2, f"{key} is {value!r}, but must be an integer ({width} digits).")
    text = str(value).strip()
    if not _OBSID.fullmatch(text) or len(text.lstrip("0")) > width:
        raise ObsDataAPIError(2, f"{key} is {str(value)[:40]!r}, but must be an integer "
                                 f"({width} digits).")
    return "%0*d" % (width, int(text))


def _observations(targ):
    """{obsid: [Snapshot, ...]} of a targetID (8 digits), in time order."""
    out = {}
    for snap in schedule(targ):
        out.setdefault(snap.obsid, []).append(snap)
    return out


def _files(obsid, snaps, entry):
    """{dir: [relative path, ...]} of one observation's archive folder."""
    modes = sorted({s.mode for s in snaps}, key=("WT", "PC").index)
    first_grb = entry.kind == "GRB" and obsid.endswith("000")
    xrt = [f"xrt/event/sw{obsid}x{'pcw3' if m == 'PC' else 'wtw2'}po_cl.evt.gz" for m in modes]
    xrt += [f"xrt/hk/sw{obsid}xhd.hk.gz", f"xrt/hk/sw{obsid}xtr.hk.gz"]
    bat = [f"bat/hk/sw{obsid}bdecb.hk.gz"]
    if first_grb:
        bat.insert(0, f"bat/event/sw{obsid}bevshsp_uf.evt.gz")
    return {"bat": bat, "xrt": xrt, "uvot": [f"uvot/hk/sw{obsid}uac.hk.gz"],
            "auxil": [f"auxil/sw{obsid}sat.fits.gz", f"auxil/sw{obsid}pat.fits.gz",
                      f"auxil/sw{obsid}sao.fits.gz"],
            "tdrss": [f"tdrss/sw{obsid}msbal.fits.gz"] if first_grb else [],
            "log": [f"log/sw{obsid}xrt.log"]}


class ObsDataService:
    """The observation lists, file lists and archive files of the simulated sky.

    Parameters
    ----------
    root : path-like
        Folder the files are made in (one sub-folder per mirror).
    seed : int
        The service's seed (the events drawn).
    """

    def __init__(self, root, seed=0):
        self.root = Path(root)
        self.seed = int(seed)
        #: Listed paths ("<obsid>/<file>") answered 404, as an archive that lost a file.
        self.missing = set()
        #: Paths ("<obsid>/<file>") served with a broken gzip trailer.
        self.corrupt = set()
        #: {obsid: [relative path, ...]} listed after the real files (e.g. hostile names).
        self.extra = {}
        #: (URL path, Range header or None) of every archive-file GET, in order.
        self.gets = []
        #: Every listObsFiles body received, in order.
        self.listings = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ API
    def answer(self, body, base_url):
        """The answer to ``getObsByTarg`` or ``listObsFiles`` (without the envelope's APIVersion).

        Raises
        ------
        ObsDataAPIError
        """
        if body.get("APIFunc") == "getObsByTarg":
            targ = _digits(body.get("targetID"), "targetID", 8)
            return {"OK": 1, "obsList": list(_observations(targ))}
        with self._lock:
            self.listings.append(dict(body))
        obsid = _digits(body.get("obsid"), "obsid", 11)
        source = body.get("source")
        if not isinstance(source, str) or source.lower() not in MIRRORS:
            raise ObsDataAPIError(2, f"source is {str(source)[:40]!r}, but must be one of: "
                                     + ", ".join(MIRRORS))
        source = source.lower()
        dirs = body.get("dirs")
        if dirs is None:
            dirs = []
        if not isinstance(dirs, list) or any(not isinstance(d, str) or d.lower() not in DIRS for d in dirs):
            raise ObsDataAPIError(2, f"dirs is {str(dirs)[:80]}, but must be a list of: " + ", ".join(DIRS))
        snaps = _observations(obsid[:8]).get(obsid)
        url = f"{base_url}{self._base(source, obsid, snaps)}"
        if snaps is None:
            return {"OK": 1, "url": url, "fileList": {}}
        tree = _files(obsid, snaps, entry_for_target(obsid[:8]))
        out_dirs, files = [""], []
        for d in dict.fromkeys(d.lower() for d in dirs):   # each once, in the order asked
            listed = tree[d]
            if not listed:
                continue
            for path in listed:
                parts = path.split("/")[:-1]
                for i in range(1, len(parts) + 1):
                    folder = "/".join(parts[:i]) + "/"
                    if folder not in out_dirs:
                        out_dirs.append(folder)
            files.extend(listed)
        files.extend(self.extra.get(obsid, ()))
        return {"OK": 1, "url": url, "fileList": {"dirs": out_dirs, "files": files}}

    @staticmethod
    def _base(source, obsid, snaps):
        if source == "us":
            start = met_to_utc(snaps[0].tstart) if snaps else None
            month = start.strftime("%Y_%m") if start else "0000_00"
            return f"{_BASES['us']}/{month}/{obsid}"
        return f"{_BASES[source]}/{obsid}"

    # ------------------------------------------------------------------ files
    def file_for(self, path, range_header=None):
        """The file on disk for a GET of URL ``path``, made on first use; None (HTTP 404) if none."""
        with self._lock:
            self.gets.append((path, range_header))
        for source, base in _BASES.items():
            if path.startswith(base + "/"):
                rest = path[len(base) + 1:]
                break
        else:
            return None
        if source == "us":
            month, _, rest = rest.partition("/")
            if not re.fullmatch(r"[0-9]{4}_[0-9]{2}", month):
                return None
        obsid, _, rel = rest.partition("/")
        if not re.fullmatch(r"[0-9]{11}", obsid):
            return None
        snaps = _observations(obsid[:8]).get(obsid)
        if snaps is None or f"{obsid}/{rel}" in self.missing:
            return None
        if source == "us" and self._base(source, obsid, snaps) != path[:-len(rel) - 1]:
            return None
        entry = entry_for_target(obsid[:8])
        if rel not in [p for listed in _files(obsid, snaps, entry).values() for p in listed]:
            return None
        broken = f"{obsid}/{rel}" in self.corrupt
        target = self.root / source / obsid / (rel + (".corrupt" if broken else ""))
        with self._lock:
            if not target.exists():
                data = self._make(rel, obsid, snaps, entry, source)
                if broken:
                    # The gzip trailer's CRC32 flipped: the bytes arrive whole but are not the file.
                    data = data[:-8] + bytes(b ^ 0xFF for b in data[-8:-4]) + data[-4:]
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(target.name + ".tmp")
                tmp.write_bytes(data)
                tmp.replace(target)
        return target

    def _make(self, rel, obsid, snaps, entry, source):
        name = rel.rsplit("/", 1)[-1]
        if name.endswith(".log"):
            lines = [f"Swift observation {obsid} of {entry.name} (targetID {obsid[:8]})",
                     f"Archive: {_ORIGIN[source][0]} ({_ORIGIN[source][1]})"]
            lines += [f"Snapshot {s.snapnum}: XRT {s.mode} {s.tstart:.3f}-{s.tstop:.3f} MET"
                      for s in snaps]
            return ("\n".join(lines) + "\n").encode("ascii")
        from astropy.io import fits
        start, stop = snaps[0].tstart, snaps[-1].tstop
        header = fits.Header()
        header.update({"TELESCOP": "SWIFT", "OBS_ID": obsid, "TARG_ID": int(obsid[:8]),
                       "OBJECT": entry.name, "RA_OBJ": entry.ra, "DEC_OBJ": entry.dec,
                       "TSTART": start, "TSTOP": stop, "ORIGIN": _ORIGIN[source][0],
                       "PROCVER": "3.21.02" if source == "uk_reproc" else "3.17.05",
                       "DATE-OBS": met_to_utc(start).strftime("%Y-%m-%dT%H:%M:%S")})
        rng = _rng("obsdata", self.seed, obsid, name)
        if "/event/" in rel and rel.startswith("xrt/"):
            mode = "PC" if "xpc" in name else "WT"
            hdus = self._events(snaps, mode, entry, rng, header)
        else:
            header["INSTRUME"] = {"bat": "BAT", "uvot": "UVOTA"}.get(rel.split("/")[0], "XRT")
            hdus = [self._table(rel, name, snaps, rng, entry)]
        primary = fits.PrimaryHDU(header=header)
        buffer = io.BytesIO()
        fits.HDUList([primary, *hdus]).writeto(buffer)
        return gzip.compress(buffer.getvalue(), 6, mtime=0)

    @staticmethod
    def _events(snaps, mode, entry, rng, header):
        from astropy.io import fits
        header.update({"INSTRUME": "XRT", "DATAMODE": "PHOTON" if mode == "PC" else "WINDOWED"})
        mine = [s for s in snaps if s.mode == mode]
        expected = np.array([source_rate(entry, 0.5 * (s.tstart + s.tstop)) * s.exposure + 1e-3 * s.exposure
                             for s in mine])
        thin = min(1.0, MAX_EVENTS / max(expected.sum(), 1.0))
        times, energies = [], []
        for snap, mu in zip(mine, expected):
            n = int(rng.poisson(mu * thin))
            n_bkg = int(rng.binomial(n, min(1.0, 1e-3 * snap.exposure / mu)))
            times.append(np.sort(rng.uniform(snap.tstart, snap.tstop, n)))
            source = sample_energies(rng, n - n_bkg, entry.gamma, total_nh(entry), mode)
            energies.append(np.concatenate([source, sample_background_energies(rng, n_bkg)]))
        t = np.concatenate(times) if times else np.zeros(0)
        e = np.concatenate(energies) if energies else np.zeros(0)
        n = len(t)
        events = fits.BinTableHDU.from_columns([
            fits.Column("TIME", "D", unit="s", array=t),
            fits.Column("X", "I", unit="pixel", array=np.round(500 + rng.normal(0, 4, n)).astype(np.int16)),
            fits.Column("Y", "I", unit="pixel", array=np.round(500 + rng.normal(0, 4, n)).astype(np.int16)),
            fits.Column("PI", "J", unit="chan", array=np.floor(e * 100).astype(np.int32)),
            fits.Column("GRADE", "I", array=rng.integers(0, 13 if mode == "PC" else 3, n).astype(np.int16)),
        ], name="EVENTS")
        events.header["EVTHIN"] = (round(thin, 6), "fraction of simulated events kept")
        events.header["DATAMODE"] = header["DATAMODE"]
        gti = fits.BinTableHDU.from_columns([
            fits.Column("START", "D", unit="s", array=[s.tstart for s in mine]),
            fits.Column("STOP", "D", unit="s", array=[s.tstop for s in mine])], name="GTI")
        return [events, gti]

    @staticmethod
    def _table(rel, name, snaps, rng, entry):
        from astropy.io import fits
        start, stop = snaps[0].tstart, snaps[-1].tstop
        step = max(60.0, (stop - start) / 200.0)
        t = np.arange(start, stop, step)
        if "sat" in name or "pat" in name or "sao" in name:
            cols = [fits.Column("RA", "D", unit="deg", array=(entry.ra + rng.normal(0, 1e-3, len(t))) % 360),
                    fits.Column("DEC", "D", unit="deg", array=entry.dec + rng.normal(0, 1e-3, len(t))),
                    fits.Column("ROLL", "D", unit="deg", array=np.full(len(t), rng.uniform(0, 360)))]
            extname = "ATTITUDE" if "sao" not in name else "PREFILTER"
        elif "msbal" in name:
            cols = [fits.Column("RATE", "E", unit="count/s", array=rng.poisson(1000, len(t)).astype(float))]
            extname = "TDRSS_MSG"
        else:
            cols = [fits.Column("TEMP", "E", unit="K", array=200 + rng.normal(0, 0.5, len(t))),
                    fits.Column("VOLTAGE", "E", unit="V", array=5 + rng.normal(0, 0.01, len(t)))]
            extname = "HK"
        hdu = fits.BinTableHDU.from_columns([fits.Column("TIME", "D", unit="s", array=t)] + cols,
                                            name=extname)
        hdu.header["OBS_ID"] = name[2:13]
        return hdu
