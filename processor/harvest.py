"""python -m processor.harvest: low-scoring production results -> golden-set candidates.

The logic lives in `processor.offline.harvest`; this module is only the entry point.
"""

from __future__ import annotations

import sys

from processor.offline.harvest import main

if __name__ == "__main__":
    sys.exit(main())
