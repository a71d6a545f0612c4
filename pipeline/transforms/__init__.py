"""Beam adapters: one stage per module, each a composite PTransform calling ``filters/``."""
