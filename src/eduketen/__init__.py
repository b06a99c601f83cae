"""eduketen: open platform for the Dutch education data chain."""

__version__ = "0.1.0"
