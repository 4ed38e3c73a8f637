"""The old home of ``fluidstack configurations`` and ``templates``, kept so that imports from here
still work: the commands live in :mod:`fluidstack.cli.platform.catalog`."""

from .platform.catalog import Offer, configurations, offers, templates

__all__ = ["Offer", "configurations", "offers", "templates"]
