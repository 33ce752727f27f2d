# Licensed under a 3-clause BSD style license - see LICENSE
"""
Tables ready to be written to files, for the command line and the demo.
"""

__all__ = ["table_for_file"]


def table_for_file(table):
    """A copy of a table whose meta FITS and ECSV can both write.

    Times in the meta become ISO text, Quantities a value and a ``<key>_unit``;
    Time columns keep nanoseconds in ECSV.

    Parameters
    ----------
    table : `~astropy.table.Table`

    Returns
    -------
    `~astropy.table.Table`
        A copy sharing the data.
    """
    from astropy import units as u
    from astropy.time import Time
    out = table.copy(copy_data=False)
    for name in out.colnames:
        if isinstance(out[name], Time):
            # ECSV writes times as text: keep them to the nanosecond, not the default millisecond.
            out[name] = out[name].copy()
            out[name].precision = 9
    meta = {}
    for key, value in table.meta.items():
        if value is None:
            continue
        if isinstance(value, Time):
            meta[key] = value.utc.isot
        elif isinstance(value, u.Quantity):
            meta[key] = float(value.value)
            meta[f"{key}_unit"] = value.unit.to_string()
        elif isinstance(value, (str, int, float, bool)):
            meta[key] = value
        else:
            meta[key] = str(value)
    out.meta = meta
    return out
