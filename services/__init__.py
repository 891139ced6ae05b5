"""The casework services. Each imports :mod:`shared`, never another service."""
