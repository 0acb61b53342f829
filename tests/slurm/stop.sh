#!/usr/bin/env bash
# Tear down the test cluster that tests/slurm/start.sh started: cancel its jobs, stop slurmd,
# slurmctld and munged (by the pid files in its state folder), remove the /etc/slurm links
# (when they are still its own) and the state folder.
#
#   tests/slurm/stop.sh [DIR]      # as given to start.sh (default $NEURODSR_SLURM_DIR, else
#                                  # /tmp/neurodsr-slurm); the state is DIR/neurodsr-test-cluster
set -uo pipefail

STATE="$(realpath -m "${1:-${NEURODSR_SLURM_DIR:-/tmp/neurodsr-slurm}}")/neurodsr-test-cluster"
[ -d "$STATE" ] || exit 0
export SLURM_CONF="$STATE/slurm.conf"

if [ -f "$SLURM_CONF" ] && [ -f "$STATE/slurmctld.pid" ]; then
    timeout 10 scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
fi

stop_pid() { # pid file, name
    local file="$1" pid
    [ -f "$file" ] || return 0
    pid="$(cat "$file")"
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
        return 0
    fi
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
for name in slurm.conf gres.conf; do
    link="/etc/slurm/$name"
    if [ -L "$link" ] && [ "$(readlink "$link")" = "$STATE/$name" ]; then
        rm -f "$link"
    fi
done
rm -rf "$STATE"
exit 0
