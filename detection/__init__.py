"""Offline detection: export a forum with its ground truth, score detectors against it, report.

``detection.export.export_forum`` writes a dataset (CSV files and a manifest);
``detection.pipeline.run_detection`` loads one (murmur's or the documented
minimal format), computes per-account and per-post signals, evaluates every
detector on splits by account, and writes an HTML and a JSON report. Nothing
here opens a network connection.
"""
