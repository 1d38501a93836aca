"""Keras 3 functional builders, one module per published network."""
