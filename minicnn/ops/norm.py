"""Ops for normalization: batch norm (training and eval), layer, group and instance norm."""

__all__ = []
