#!/usr/bin/env bash
# The tau sweep of one system: shPLRNN and PLRNN on the full grid (100 epochs = 2000 gradient
# steps each, seeds 0-2; shPLRNN also seeds 3-5), the LSTM (generic autograd path, ~4x slower)
# on a reduced grid with 60 epochs; shPLRNN with GTF (fixed and adaptive alpha, seeds 0-5);
# then shPLRNN at a 5x budget (500 epochs) on a few taus.
# Resumable: configs already in the results files are skipped.
#   bash benchmarks/paper/run_sweeps.sh lorenz|roessler
set -euo pipefail
cd "$(dirname "$0")/../.."
sys=${1:-lorenz}
py=".venv/bin/python benchmarks/paper/sweep.py --system $sys"
$py --models shplrnn,plrnn --epochs 100 --cap-min 1.5
$py --models lstm --taus 5,30,star,none --clips 10,1000 --epochs 60 --cap-min 1.5
$py --models shplrnn --seed0 3 --epochs 100 --cap-min 1.5
for s0 in 0 3; do
    $py --models shplrnn --taus "" --clips "" --alphas 0.02,0.05,0.1,0.2,adaptive --seed0 $s0 \
        --epochs 100 --cap-min 1.5 --out "benchmarks/paper/results/gtf_$sys.jsonl"
done
if [ "$sys" = lorenz ]; then long_taus=10,20,30,star; else long_taus=5,20,star; fi
$py --models shplrnn --taus "$long_taus" --clips 10 --alphas 0.1 --epochs 500 --cap-min 4 \
    --out "benchmarks/paper/results/long_$sys.jsonl"
