"""Quality benchmarks: the TinyBERT recipe on real GLUE data (teacher vs students, with and without augmentation).

One command per experiment (``teacher``, ``students``), one driver (``run``); see docs/benchmarks.md.
"""
