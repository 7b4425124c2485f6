"""poolstats: the statistics and account service of a Bitcoin mining pool."""

__version__ = "0.1.0"
