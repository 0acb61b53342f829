#!/usr/bin/env bash
# A real single-node SLURM cluster on this host, for the tests (tests/test_slurm.py, .ci/run).
#
#   tests/slurm/start.sh [STATE_DIR]     # default $NEURODSR_SLURM_DIR or /tmp/neurodsr-slurm
#   export SLURM_CONF=STATE_DIR/slurm.conf   # (or: source STATE_DIR/env) then sbatch, sinfo, ...
#   tests/slurm/stop.sh [STATE_DIR]      # stops the daemons and removes STATE_DIR
#
# Installs Debian's slurm-wlm and munge when missing (apt-get; needs root), writes a slurm.conf
# for this host (loopback only: the controller and the node listen on 127.0.0.1; the node's
# CPUs, cores and memory as `slurmd -C` reports them), with two partitions on the one node:
# `cpu` (the default) and `gpu`. The `gpu` partition has no GPU: the node declares one counted
# GPU GRES without a device file, so that jobs asking `--gpus=1` (the profile's training jobs)
# are scheduled as on a real GPU partition and then train on the CPU (`device: auto`).
# No accounting database: job records go to STATE_DIR/jobcomp.txt (jobcomp/filetxt), and the
# Snakemake executor queries job states with squeue (MinJobAge keeps finished jobs visible).
# Process tracking by /proc (proctrack/linuxproc) and no task plugin: no systemd or cgroup
# control is needed, as in a container. All state, logs, sockets and keys live in STATE_DIR; the
# daemons run as the invoking user (root in CI). Waits until `sinfo` shows the node idle; exits
# non-zero with the reason (and the daemons' logs) when the cluster cannot start.
set -euo pipefail

STATE="${1:-${NEURODSR_SLURM_DIR:-/tmp/neurodsr-slurm}}"
NODE="$(hostname -s)"
USER_NAME="$(id -un)"
CTLD_PORT="${NEURODSR_SLURM_PORT:-6817}"

say() { echo "slurm/start.sh: $*" >&2; }
fail() {
    say "ERROR: $*"
    for log in "$STATE"/log/*.log; do
        [ -f "$log" ] && { echo "--- $log (tail)" >&2; tail -n 20 "$log" >&2; }
    done
    exit 1
}

# 1. The software.
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        fail "slurm-wlm and munge are not installed and cannot be (needs root and apt-get):" \
            "install them (apt-get install slurm-wlm munge) and run this again"
    fi
    say "installing slurm-wlm and munge (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || fail "apt-get update failed"
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >&2 \
        || fail "apt-get install slurm-wlm munge failed"
fi

# a cluster left over from an earlier start in the same STATE: stop it first
"$(dirname "$0")/stop.sh" "$STATE"
mkdir -p "$STATE"/{log,spool/ctld,spool/d,munge}
chmod 711 "$STATE/munge"   # munged wants its socket reachable

# 2. munge: its own key, socket and files in STATE (the system's munged, if any, is left alone).
dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1 count=1024 status=none
chmod 400 "$STATE/munge/munge.key"
MUNGE_SOCKET="$STATE/munge/munge.socket"
munged --force --key-file="$STATE/munge/munge.key" --socket="$MUNGE_SOCKET" \
    --pid-file="$STATE/munge/munged.pid" --log-file="$STATE/log/munged.log" \
    --seed-file="$STATE/munge/munge.seed" >&2 \
    || fail "munged did not start"

# 3. slurm.conf for this host.
HW="$(slurmd -C | head -n 1)"   # NodeName=... CPUs=2 Boards=1 SocketsPerBoard=1 ... RealMemory=M
HW="${HW#NodeName=* }"          # the hardware fields only
cat >"$STATE/slurm.conf" <<EOF
# Written by neurodsr tests/slurm/start.sh: a single-node test cluster on loopback.
ClusterName=neurodsr-test
SlurmctldHost=${NODE}(127.0.0.1)
SlurmctldPort=${CTLD_PORT}
SlurmdPort=$((CTLD_PORT + 1))
SlurmUser=${USER_NAME}
SlurmdUser=${USER_NAME}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=${MUNGE_SOCKET}
StateSaveLocation=${STATE}/spool/ctld
SlurmdSpoolDir=${STATE}/spool/d
SlurmctldPidFile=${STATE}/slurmctld.pid
SlurmdPidFile=${STATE}/slurmd.pid
SlurmctldLogFile=${STATE}/log/slurmctld.log
SlurmdLogFile=${STATE}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no systemd, no cgroup control (containers): /proc process tracking, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
MpiDefault=none
MailProg=/bin/true
LaunchParameters=use_interactive_step
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
# no accounting database: job records to a text file; finished jobs stay visible to squeue
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=${STATE}/jobcomp.txt
MinJobAge=600
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=5
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=10
Waittime=0
NodeName=${NODE} NodeAddr=127.0.0.1 NodeHostname=${NODE} ${HW} Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes=${NODE} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
PartitionName=gpu Nodes=${NODE} Default=NO MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
# the GPU GRES is a count only (no device file): a GPU partition's scheduling, without a GPU
echo "NodeName=${NODE} Name=gpu File=/dev/null Count=1" >"$STATE/gres.conf"
cat >"$STATE/env" <<EOF
export SLURM_CONF=${STATE}/slurm.conf
EOF
export SLURM_CONF="$STATE/slurm.conf"

# 4. The daemons (each daemonizes; the pid files are in STATE).
slurmctld -f "$SLURM_CONF" -i >&2 || fail "slurmctld did not start"
slurmd -f "$SLURM_CONF" -N "$NODE" >&2 || fail "slurmd did not start"

# 5. Wait until the node is idle.
for _ in $(seq 1 30); do
    state="$(sinfo --noheader --Format=StateLong --nodes="$NODE" 2>/dev/null | head -n 1 | tr -d ' ' || true)"
    if [ "$state" = "idle" ]; then
        say "cluster up: node $NODE idle, partitions $(sinfo --noheader -o %P | tr '\n' ' ')"
        say "use it with: export SLURM_CONF=$SLURM_CONF"
        echo "$SLURM_CONF"
        exit 0
    fi
    case "$state" in drain* | down*) scontrol update nodename="$NODE" state=resume 2>/dev/null || true ;; esac
    sleep 1
done
fail "the node $NODE did not become idle within 30 s (sinfo: ${state:-no answer})"
