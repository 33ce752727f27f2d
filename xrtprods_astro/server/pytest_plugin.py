# Licensed under a 3-clause BSD style license - see LICENSE
"""pytest plugin: fixtures that run the local XRT products service."""
