"""Gadget migrations."""
