# Licensed under a 3-clause BSD style license - see LICENSE
"""Pure readers: service answers and product files in, astropy objects out. No HTTP here."""
