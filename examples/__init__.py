"""Examples for trainers: reading ``DIR/masked/`` and training a small Switch Transformer."""
