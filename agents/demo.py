"""`make demo`: the end-to-end demo. Until the pipeline lands it only reports the
local services it found, so the command and its plumbing are exercised already."""

from __future__ import annotations

import sys

from infra.local import LocalSettings, status


def main() -> int:
    print("chargestream demo: the pipeline is not implemented yet (issues 3-5).")
    print("Local services:")
    for s in status(LocalSettings()):
        print(f"  {s.service:<13} {s.state:<9} {s.address}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
