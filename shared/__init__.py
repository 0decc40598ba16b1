"""Contracts and infrastructure shared by the service and the workers (no torch, no FastAPI)."""
