"""Job orchestration: requests become queued jobs, and a pipeline's children are created, cancelled and
failed together. The API and the workers both call it; it imports neither torch nor FastAPI (errors are
domain errors, ``errors.py``, which the API maps to HTTP statuses). Import the submodules themselves:
``children`` is store-only so that the distill worker can use it without importing the submission code.
"""
