"""Trainers, one module per method (custom ``train_step`` / ``strategy.run`` loops)."""
