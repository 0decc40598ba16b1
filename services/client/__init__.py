"""A thin typed Python client for the Distillery HTTP API (what `distillery client` is built on).

from services.client import Client

with Client("http://localhost:8000", key) as api:
    dataset = api.upload("train.tsv", task="sst-2")
    job = api.augment(dataset.id, n=4, seed=7)
    job = api.wait(job.id)
    api.download(job.id, "train-aug.tsv")
"""

from services.client.api import TERMINAL_STATUSES, ApiError, Client

__all__ = ["TERMINAL_STATUSES", "ApiError", "Client"]
