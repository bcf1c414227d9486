"""Singer tap for QuickBooks Online, built with the Meltano Singer SDK."""
