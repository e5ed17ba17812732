"""Demos: `python -m processor.demo <command>` (see `__main__.py` for the list)."""
