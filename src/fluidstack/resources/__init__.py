"""Old home of the platform API's endpoint tables, now :mod:`fluidstack.platform.endpoints`.

Its modules keep working as aliases: ``resources.spend`` (documented in the guides) as
is, the others with a ``DeprecationWarning`` naming the new path.
"""
