#!/usr/bin/env bash
# A real single-node SLURM cluster on this host, for the tests (tests/test_slurm.py, .ci/run).
#
#   tests/slurm/start.sh [DIR]     # state in DIR/neurodsr-test-cluster (default DIR:
#                                  # $NEURODSR_SLURM_DIR, else /tmp/neurodsr-slurm)
#   sinfo; sbatch ...; snakemake --profile workflow/profiles/slurm ...
#   tests/slurm/stop.sh [DIR]      # stops the daemons, removes the state and the links
#
# Installs Debian's slurm-wlm and munge when missing (apt-get update + install; needs root),
# writes a slurm.conf for this host and starts munged, slurmctld and slurmd:
# - loopback only: the controller and the node are 127.0.0.1, NodeName is `hostname -s`, and
#   the node's CPUs, cores and memory are what `slurmd -C` finds on this machine;
# - two partitions on the one node: `cpu` (the default) and `gpu`. The node has no GPU: it
#   declares one GPU GRES whose device file is /dev/null, so that jobs asking `--gpus=1` (the
#   profile's training jobs) are scheduled as on a GPU partition, and then train on the CPU
#   (`device: auto` finds no CUDA);
# - no accounting database: job records go to the state folder's jobcomp.txt (jobcomp/filetxt:
#   state, partition, account, time limit, CPUs and memory of each job), and job states are
#   queried with squeue (MinJobAge keeps finished jobs visible for 10 minutes);
# - process tracking by /proc (proctrack/linuxproc), no task plugin: no systemd and no cgroup
#   control needed, as in a container.
# State, logs, munge key and socket live in the state folder; /etc/slurm/slurm.conf and
# gres.conf are links to it (see step 3). The daemons run as the invoking user (root in CI).
# Waits until `sinfo` shows the node idle and prints the path of slurm.conf; exits non-zero
# with the reason and the daemons' log tails when the cluster cannot start.
set -euo pipefail

STATE="$(realpath -m "${1:-${NEURODSR_SLURM_DIR:-/tmp/neurodsr-slurm}}")/neurodsr-test-cluster"
SYS_CONF=/etc/slurm
NODE="$(hostname -s)"
USER_NAME="$(id -un)"
CTLD_PORT="${NEURODSR_SLURM_PORT:-6817}"

say() { echo "slurm/start.sh: $*" >&2; }
fail() {
    say "ERROR: $*"
    for log in "$STATE"/log/*.log; do
        if [ -f "$log" ]; then
            echo "--- $log (tail)" >&2
            tail -n 20 "$log" >&2
        fi
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

# A cluster left over from an earlier start with the same DIR: stop it first.
"$(dirname "$0")/stop.sh" "$(dirname "$STATE")"
mkdir -p "$STATE"/{log,spool/ctld,spool/d,munge}
chmod 711 "$STATE/munge" # munged wants its socket's folder reachable by all

# 2. munge with its own key and socket (a system munged, if any, is left alone).
dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1 count=1024 status=none
chmod 400 "$STATE/munge/munge.key"
MUNGE_SOCKET="$STATE/munge/munge.socket"
munged --force --key-file="$STATE/munge/munge.key" --socket="$MUNGE_SOCKET" \
    --pid-file="$STATE/munge/munged.pid" --log-file="$STATE/log/munged.log" \
    --seed-file="$STATE/munge/munge.seed" >&2 \
    || fail "munged did not start"

# 3. slurm.conf and gres.conf for this host, where every Slurm command looks: /etc/slurm.
# SLURM_CONF pointing elsewhere is not enough: inside a job, the Snakemake job step drops every
# SLURM_* variable before its nested srun, so slurm.conf must be in the default place, as on a
# real cluster's nodes. The files stay in the state folder and /etc/slurm links to them; an
# existing slurm.conf of another cluster is not replaced (the start fails instead).
for name in slurm.conf gres.conf; do
    link="$SYS_CONF/$name"
    if [ -e "$link" ] || [ -L "$link" ]; then
        case "$(readlink "$link" 2>/dev/null || true)" in
            */neurodsr-test-cluster/*) # ours, from an earlier start: stop that cluster
                "$(dirname "$0")/stop.sh" "$(dirname "$(dirname "$(readlink "$link")")")"
                rm -f "$link"
                ;;
            *) fail "$link exists (another cluster's configuration?) and is left alone:" \
                "remove it, or run the SLURM tests on a machine without Slurm configured" ;;
        esac
    fi
done
HW="$(slurmd -C | head -n 1 || true)" # NodeName=vm CPUs=2 Boards=1 ... RealMemory=M
HW="${HW#NodeName=* }"                # the hardware fields only
[ -n "$HW" ] || fail "slurmd -C did not describe this machine"
cat >"$STATE/slurm.conf" <<CONF
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
CONF
# the GPU is a count whose device file is /dev/null: a GPU partition's scheduling, no GPU
echo "NodeName=${NODE} Name=gpu File=/dev/null Count=1" >"$STATE/gres.conf"
mkdir -p "$SYS_CONF"
ln -s "$STATE/slurm.conf" "$SYS_CONF/slurm.conf"
ln -s "$STATE/gres.conf" "$SYS_CONF/gres.conf"
export SLURM_CONF="$SYS_CONF/slurm.conf"

# 4. The daemons (each daemonizes; the pid files are in the state folder).
slurmctld -f "$SLURM_CONF" -i >&2 || fail "slurmctld did not start"
slurmd -f "$SLURM_CONF" -N "$NODE" >&2 || fail "slurmd did not start"

# 5. Wait until the node is idle.
state=""
for _ in $(seq 1 30); do
    for daemon in slurmctld slurmd; do
        pidfile="$STATE/$daemon.pid"
        if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
            fail "$daemon stopped (its log below says why)"
        fi
    done
    state="$(timeout 5 sinfo --noheader --Format=StateLong --nodes="$NODE" 2>/dev/null | head -n 1 | tr -d ' ' || true)"
    if [ "$state" = "idle" ]; then
        say "cluster up: node $NODE idle, partitions $(sinfo --noheader -o %P | tr '\n' ' ')"
        echo "$SLURM_CONF"
        exit 0
    fi
    sleep 1
done
fail "the node $NODE did not become idle within 30 s (sinfo: ${state:-no answer})"
