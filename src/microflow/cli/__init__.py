"""Thin command-line layer over the Python API. One module per sub-command."""
