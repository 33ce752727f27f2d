# Licensed under a 3-clause BSD style license - see LICENSE
"""
Fault injection for the local XRT products service.

Clients must survive a flaky network and an overloaded service: HTTP 5xx
answers, an HTML error page served with status 200, slow answers, connections
closed without an answer (also after a submission created its job, the
"outcome unknown" case) and archives cut short. `FaultInjector` decides, per
request and from a seeded random generator, which of these happens, so a test
that sets a seed sees the same faults every run. Scripted faults
(`FaultInjector.script`) hit the next N requests of an endpoint for tests that
need certainty rather than rates. Everything is off by default.
"""
import random
import threading
from collections import Counter
from dataclasses import dataclass, fields

__all__ = ["ENDPOINTS", "FAULT_KINDS", "FaultConfig", "FaultInjector"]

#: Endpoint names used for rates, scripted faults and request counters.
ENDPOINTS = ("submit", "cancel", "status", "psf", "enh", "xastrom", "sourceDet", "lc", "spec",
             "oldProduct", "listOldJobs", "numJobs", "main", "archive", "file")

#: Kinds of fault: HTTP error statuses, an HTML page with status 200, a dropped connection before or
#: after the request was processed, and a body cut short (GET of archives and files only).
FAULT_KINDS = ("http500", "http502", "http503", "html", "drop", "drop_after", "truncate")


def _rate_for(rate, endpoint):
    if isinstance(rate, dict):
        return float(rate.get(endpoint, rate.get("*", 0.0)))
    return float(rate)


@dataclass
class FaultConfig:
    """What can go wrong, and how often. Rates are probabilities per request.

    Each rate is a float applying to every endpoint, or a dict ``{endpoint: rate}`` where the key
    ``"*"`` gives the rate of endpoints not listed (endpoint names are in `ENDPOINTS`).

    Parameters
    ----------
    error_rate : float or dict
        Probability of an HTTP error answer; its status is drawn from ``error_statuses``.
    error_statuses : tuple of int
        Statuses used for HTTP errors (500, 502, 503 by default).
    html_rate : float or dict
        Probability of an HTML error page sent with HTTP status 200 instead of JSON.
    drop_rate : float or dict
        Probability of closing the connection after reading the request, without doing anything.
    drop_after_rate : float or dict
        Probability of doing the work (a submission creates its job) and then closing the connection
        without an answer.
    truncate_rate : float or dict
        Probability that an archive or file download announces its full Content-Length but sends only
        half of the body before closing.
    latency : float
        Seconds added to every answer.
    latency_jitter : float
        Up to this many extra seconds, drawn uniformly per request.
    seed : int
        Seed of the random generator, so a run's faults are reproducible.
    """

    error_rate: object = 0.0
    error_statuses: tuple = (500, 502, 503)
    html_rate: object = 0.0
    drop_rate: object = 0.0
    drop_after_rate: object = 0.0
    truncate_rate: object = 0.0
    latency: float = 0.0
    latency_jitter: float = 0.0
    seed: int = 0

    def __post_init__(self):
        for name in ("error_rate", "html_rate", "drop_rate", "drop_after_rate", "truncate_rate"):
            rate = getattr(self, name)
            values = rate.values() if isinstance(rate, dict) else [rate]
            if isinstance(rate, dict):
                unknown = set(rate) - set(ENDPOINTS) - {"*"}
                if unknown:
                    raise ValueError(f"{name}: unknown endpoint(s) {sorted(unknown)}; allowed: "
                                     f"'*', {', '.join(ENDPOINTS)}")
            for value in values:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                    raise ValueError(f"{name} must be a probability between 0 and 1, got {value!r}")
        for status in self.error_statuses:
            if not isinstance(status, int) or not 400 <= status <= 599:
                raise ValueError(f"error_statuses must be HTTP error codes (400-599), got {status!r}")
        if self.latency < 0 or self.latency_jitter < 0:
            raise ValueError("latency and latency_jitter must be >= 0 seconds")


class FaultInjector:
    """Thread-safe fault decisions and request counters for one service.

    Parameters
    ----------
    config : `FaultConfig`, dict or None
        Initial configuration (None: no faults).
    """

    def __init__(self, config=None):
        self._lock = threading.Lock()
        self.counts = Counter()
        self._scripted = {}
        self.configure(config)

    def configure(self, config=None, **changes):
        """Replace the configuration, or change some of its fields.

        Parameters
        ----------
        config : `FaultConfig`, dict or None
            A whole new configuration; None keeps the current one when ``changes`` are given and
            switches faults off otherwise.
        **changes
            Fields of `FaultConfig` to change, e.g. ``error_rate={"submit": 0.5}``.
        """
        with self._lock:
            if config is None and not changes:
                config = FaultConfig()
            elif config is None:
                config = self.config
            elif isinstance(config, dict):
                config = FaultConfig(**config)
            elif not isinstance(config, FaultConfig):
                raise TypeError(f"faults must be a FaultConfig, a dict or None, got {type(config).__name__}")
            if changes:
                allowed = {f.name for f in fields(FaultConfig) if not f.name.startswith("_")}
                unknown = set(changes) - allowed
                if unknown:
                    raise TypeError(f"unknown fault option(s) {sorted(unknown)}; allowed: "
                                    f"{', '.join(sorted(allowed))}")
                values = {name: getattr(config, name) for name in allowed}
                values.update(changes)
                config = FaultConfig(**values)
            reseed = not hasattr(self, "config") or config.seed != self.config.seed or not changes
            self.config = config
            if reseed:
                self._rng = random.Random(config.seed)

    def script(self, endpoint, kind, count=1):
        """Make the next ``count`` requests of ``endpoint`` fail with ``kind``, whatever the rates.

        Parameters
        ----------
        endpoint : str
            One of `ENDPOINTS`.
        kind : str
            One of `FAULT_KINDS`.
        count : int
            How many consecutive requests to hit.
        """
        if endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {', '.join(ENDPOINTS)}, got {endpoint!r}")
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}, got {kind!r}")
        with self._lock:
            self._scripted.setdefault(endpoint, []).extend([kind] * int(count))

    def clear(self):
        """Switch every fault off and forget scripted ones (counters are kept)."""
        with self._lock:
            self._scripted.clear()
        self.configure(None)

    def reset_counts(self):
        """Zero the per-endpoint request counters."""
        with self._lock:
            self.counts.clear()

    def decide(self, endpoint):
        """Count one request of ``endpoint`` and draw its fate.

        Returns
        -------
        kind : str or None
            One of `FAULT_KINDS`, or None for a normal answer. ``truncate`` is only drawn for
            ``archive`` and ``file`` requests.
        delay : float
            Seconds to wait before answering.
        """
        with self._lock:
            self.counts[endpoint] += 1
            cfg = self.config
            delay = cfg.latency + (self._rng.uniform(0, cfg.latency_jitter) if cfg.latency_jitter else 0.0)
            queue = self._scripted.get(endpoint)
            if queue:
                return queue.pop(0), delay
            # One draw per kind, in a fixed order, so the sequence is reproducible for a seed.
            order = [("drop", cfg.drop_rate), ("drop_after", cfg.drop_after_rate), ("html", cfg.html_rate),
                     ("error", cfg.error_rate)]
            if endpoint in ("archive", "file"):
                order.append(("truncate", cfg.truncate_rate))
            for kind, rate in order:
                rate = _rate_for(rate, endpoint)
                if rate and self._rng.random() < rate:
                    if kind == "error":
                        return f"http{self._rng.choice(cfg.error_statuses)}", delay
                    return kind, delay
            return None, delay

    def snapshot(self):
        """A copy of the request counters, ``{endpoint: count}``."""
        with self._lock:
            return dict(self.counts)
