"""Engines (augmentation, distillation) and their queue entry points."""
