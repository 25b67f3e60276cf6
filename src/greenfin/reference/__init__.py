"""Versioned reference data with provenance: code lists, catalogues, factors and prices.

Every data file lives in ``reference/data`` beside a note of its source (``SOURCES.md``); loaders
read them once and validate them, so a damaged file fails at start-up rather than mid-import.
"""
