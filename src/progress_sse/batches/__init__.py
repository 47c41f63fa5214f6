"""Batches: an ordered set of child runs tracked, cancelled and resumed as one."""
