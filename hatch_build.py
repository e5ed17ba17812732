"""Build hook: generate Python code for proto/*.proto into processor/_proto at every build.

Generated modules are never edited or committed; an editable install regenerates them too.
"""

from __future__ import annotations

import pathlib
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


def generate(root: pathlib.Path) -> list[pathlib.Path]:
    """Run the protoc bundled with grpcio-tools over proto/; return the generated files."""
    import grpc_tools
    from grpc_tools import protoc

    proto_dir = root / "proto"
    out_dir = root / "processor" / "_proto"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "__init__.py").write_text('"""Generated from proto/ by hatch_build.py; do not edit."""\n')
    sources = sorted(proto_dir.glob("*.proto"))
    if not sources:
        return []
    include = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{proto_dir}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        *[str(s) for s in sources],
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {', '.join(s.name for s in sources)}")
    return sorted(out_dir.glob("*_pb2.py*"))


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        generate(pathlib.Path(self.root))
