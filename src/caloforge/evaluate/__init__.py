"""Validation: observables, metrics, plots and reports comparing shower samples."""
