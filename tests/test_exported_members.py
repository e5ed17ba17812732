"""The package's public surface is exactly its `__all__` (httpx's guard against accidental exports)."""

from __future__ import annotations

import processor


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in vars(processor) if not name.startswith("_") or name == "__version__"}
    public.discard("annotations")  # from __future__
    modules = {name for name, value in vars(processor).items() if type(value).__name__ == "module"}
    assert set(processor.__all__) == public - modules
    assert processor.__all__ == ["EvalCase", "Outcome", "Score", "__version__"]
