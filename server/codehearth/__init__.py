"""codehearth: a local code assistant over the Language Server Protocol."""

__version__ = "0.1.0"
