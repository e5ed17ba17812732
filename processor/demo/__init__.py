"""Demo tools: `python -m processor.demo send` replays the bundled instrumentation captures."""
