"""Self-supervised losses as pure functions of tensors, one module per family, each citing its equation."""
