"""Ops for pooling: max/avg pooling with saved argmax indices, adaptive and Lp pooling."""

__all__ = []
