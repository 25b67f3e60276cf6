"""Regulatory reports: green-loan statistics and the JR/T 0227-2021 environmental disclosure.

This room is an engine: it takes the green book (``service/green_book.py``) as plain values and
returns figures that keep the loan ids behind them, and documents that the renderers turn into
HTML, XLSX, CSV and PDF.  It never imports the store; ``service/reports.py`` reads and writes.
"""
