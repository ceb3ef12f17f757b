"""The protobuf codec's cost: decode and encode of real bodies, per call.

Bodies are the ones captured from kubectl 1.32 (tests/unit/data/protobuf/)
and one rich Pod; each is decoded and encoded ``--rounds`` times in this
process, and the median microseconds per call and MB/s are printed as JSON.
The front door decodes one body per create or update, so the figure to
compare is a JSON ``json.loads`` of the same object, printed alongside.

    python bench/protobuf.py --rounds 2000
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kemu.api import protobuf as pb  # noqa: E402

DATA = REPO / "tests" / "unit" / "data" / "protobuf"


def _per_call(fn: Any, rounds: int) -> float:
    """Median microseconds of one call, over 5 batches of ``rounds // 5`` calls."""
    batch = max(rounds // 5, 1)
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(batch):
            fn()
        samples.append((time.perf_counter() - started) / batch * 1e6)
    return round(statistics.median(samples), 2)


def run(rounds: int) -> dict[str, Any]:
    bodies = {p.stem: p.read_bytes() for p in sorted(DATA.glob("*.bin"))}
    results = {}
    for name in ("create-deployment-bootcamp", "create-service-nodeport", "create-configmap", "create-cronjob"):
        raw = bodies[name]
        obj = pb.decode_object(raw)
        text = json.dumps(obj).encode()
        decode_us = _per_call(lambda raw=raw: pb.decode_object(raw), rounds)
        results[name] = {
            "bytes": len(raw),
            "decode_us": decode_us,
            "decode_mb_s": round(len(raw) / decode_us, 2),
            "encode_us": _per_call(lambda obj=obj: pb.encode_object(obj), rounds),
            "json_loads_us": _per_call(lambda text=text: json.loads(text), rounds),
        }
    return {"config": {"rounds": rounds}, "machine": {"python": platform.python_version()}, "bodies": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2000)
    print(json.dumps(run(parser.parse_args().rounds), indent=2))


if __name__ == "__main__":
    main()
