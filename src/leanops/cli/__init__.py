"""Command line: `leanops ...`."""
