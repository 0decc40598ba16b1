"""Distillery CLI."""
