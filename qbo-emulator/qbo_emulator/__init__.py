"""A local emulator of the QuickBooks Online Accounting API."""

__version__ = "0.1.0"
