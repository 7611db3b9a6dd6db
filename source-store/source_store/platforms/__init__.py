"""Store platform modules: each maps its native API into the canonical model."""
