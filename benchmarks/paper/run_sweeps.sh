#!/usr/bin/env bash
# The tau sweep of one system: shPLRNN and PLRNN on the full grid (100 epochs = 2000 gradient
# steps each), the LSTM (generic autograd path, ~4x slower) on a reduced grid with 60 epochs.
# Resumable: configs already in the results file are skipped.
#   bash benchmarks/paper/run_sweeps.sh lorenz
set -euo pipefail
cd "$(dirname "$0")/../.."
sys=${1:-lorenz}
py=.venv/bin/python
$py benchmarks/paper/sweep.py --system "$sys" --models shplrnn,plrnn --epochs 100 --cap-min 1.5
$py benchmarks/paper/sweep.py --system "$sys" --models lstm --taus 5,30,star,none \
    --clips 10,1000 --epochs 60 --cap-min 1.5
