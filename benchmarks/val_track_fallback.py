"""val_track.py with the fallback GTF alphas of ``forcing="select"`` replaced (session 13).

The automatic forcing grid (:mod:`neurodsr.training.candidates`) falls back to GTF alphas
``FALLBACK_ALPHAS`` (0.05, 0.1, 0.2) and STF 10, 25 where the data's lambda_max is not
"chaotic", which is the case on the shared recordings. This runs benchmarks/val_track.py
with other fallback alphas, to ask whether weaker candidates help there:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/val_track_fallback.py 0.01,0.03,0.1 \\
        --sets shared:eeg_delay_embedded_10d shared:temperature_delay_embedded_5d \\
        --repeats 2 --ensemble 1 --max-minutes 1.5 --no-range-replay \\
        --variant forcing=select --out benchmarks/val_track_select_low.jsonl.gz

The first argument is the comma-separated alphas; the rest are val_track.py's options.
"""

from __future__ import annotations

import sys
from pathlib import Path

import neurodsr.training.candidates as candidates

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    candidates.FALLBACK_ALPHAS = tuple(float(a) for a in sys.argv[1].split(","))
    sys.argv = [sys.argv[0], *sys.argv[2:]]
    import val_track  # benchmarks/val_track.py, run with the patched fallback

    val_track.main()


if __name__ == "__main__":
    main()
