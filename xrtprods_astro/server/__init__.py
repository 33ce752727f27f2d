# Licensed under a 3-clause BSD style license - see LICENSE
"""The local XRT products service: an independent implementation of the UKSSDC protocol."""
