"""Placeholder: filled in by its adapter's issue."""
