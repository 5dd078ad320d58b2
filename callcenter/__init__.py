"""12345 government service hotline backend."""

__version__ = "0.1.0"
