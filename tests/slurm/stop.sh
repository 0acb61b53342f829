#!/usr/bin/env bash
# Tear down the test cluster that tests/slurm/start.sh started: cancel its jobs, stop slurmd,
# slurmctld and munged (by the pid files in STATE_DIR), remove STATE_DIR.
#
#   tests/slurm/stop.sh [STATE_DIR]      # default $NEURODSR_SLURM_DIR or /tmp/neurodsr-slurm
set -uo pipefail

STATE="${1:-${NEURODSR_SLURM_DIR:-/tmp/neurodsr-slurm}}"
[ -d "$STATE" ] || exit 0
export SLURM_CONF="$STATE/slurm.conf"

if [ -f "$SLURM_CONF" ] && [ -f "$STATE/slurmctld.pid" ]; then
    timeout 10 scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
fi

stop_pid() { # pid file, name
    local file="$1" pid
    [ -f "$file" ] || return 0
    pid="$(cat "$file")"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 30); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.5
    done
    echo "slurm/stop.sh: $2 (pid $pid) did not stop; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
}

stop_pid "$STATE/slurmd.pid" slurmd
stop_pid "$STATE/slurmctld.pid" slurmctld
stop_pid "$STATE/munge/munged.pid" munged
rm -rf "$STATE"
