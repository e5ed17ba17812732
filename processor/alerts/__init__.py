"""Prometheus alert rules generated from the evalstream config: `python -m processor.alerts`.

`config.py` is the `alerts` section, `rules.py` writes the rules (import it directly: it reads the
whole `processor.config.Config`, which itself imports `AlertsConfig`).
"""
