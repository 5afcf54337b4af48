"""Kernels: pure-PyTorch references beside optional fused paths with the same signature."""
