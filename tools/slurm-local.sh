#!/usr/bin/env bash
# A one-node Slurm for this machine, as a test fixture: slurmctld + slurmd with their own munge
# daemon, every file (config, key, state, logs, sockets) in a private directory, private ports;
# no system-wide Slurm or munge configuration is read or touched. Runs as root (as CI does).
#   tools/slurm-local.sh start [DIR]   start it (default DIR: $SLURM_LOCAL_DIR or /tmp/eatsim-slurm);
#                                      prints the line to eval: export SLURM_CONF=DIR/slurm.conf
#   tools/slurm-local.sh stop [DIR]    stop the daemons and remove DIR
#   tools/slurm-local.sh status [DIR]  sinfo of the local cluster
# Exit 3 when Slurm cannot start here (not root, packages missing, daemons refuse): callers skip.
set -euo pipefail
cmd=${1:-}
D=${2:-${SLURM_LOCAL_DIR:-/tmp/eatsim-slurm}}
export SLURM_CONF="$D/slurm.conf"
node=$(hostname -s)

stop() {
  for p in "$D/run/slurmd.pid" "$D/run/slurmctld.pid" "$D/munge/munged.pid"; do
    [[ -f $p ]] && kill "$(cat "$p")" 2>/dev/null || true
  done
  for _ in $(seq 50); do
    alive=0
    for p in "$D/run/slurmd.pid" "$D/run/slurmctld.pid" "$D/munge/munged.pid"; do
      [[ -f $p ]] && kill -0 "$(cat "$p")" 2>/dev/null && alive=1
    done
    ((alive)) || break
    sleep 0.1
  done
  [[ $D == /tmp/* || -f $D/.eatsim-slurm ]] && rm -rf "$D"
  return 0
}

case $cmd in
start)
  if [[ $(id -u) -ne 0 ]]; then echo "slurm-local: needs root (the daemons run as root here)" >&2; exit 3; fi
  for b in slurmctld slurmd munged sbatch sinfo; do
    command -v "$b" >/dev/null || { echo "slurm-local: $b missing (apt-get install slurm-wlm munge)" >&2; exit 3; }
  done
  stop
  mkdir -p "$D"/{state,spool,log,run,munge}
  touch "$D/.eatsim-slurm"
  chmod 700 "$D/munge"
  head -c 1024 /dev/urandom >"$D/munge/munge.key"
  chmod 400 "$D/munge/munge.key"
  munged --force --key-file="$D/munge/munge.key" --socket="$D/munge/munge.socket" \
    --pid-file="$D/munge/munged.pid" --log-file="$D/munge/munged.log" --seed-file="$D/munge/munged.seed" ||
    { echo "slurm-local: munged did not start ($D/munge/munged.log)" >&2; exit 3; }
  mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
  cat >"$SLURM_CONF" <<CONF
ClusterName=eatsimlocal
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=${SLURM_LOCAL_PORT:-16817}
SlurmdPort=$(( ${SLURM_LOCAL_PORT:-16817} + 1 ))
AuthType=auth/munge
AuthInfo=socket=$D/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$node NodeAddr=127.0.0.1 NodeHostname=$node CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
  slurmctld -f "$SLURM_CONF" -i || { echo "slurm-local: slurmctld did not start ($D/log)" >&2; stop; exit 3; }
  slurmd -f "$SLURM_CONF" || { echo "slurm-local: slurmd did not start ($D/log)" >&2; stop; exit 3; }
  # Up to 30 s for the node to register; every client call bounded (a daemon that cannot be
  # reached, e.g. in a chroot without networking, must not hang the caller).
  deadline=$((SECONDS + 30))
  state=
  while ((SECONDS < deadline)); do
    state=$(timeout 5 sinfo -h -o %t 2>/dev/null | head -1 || true)
    [[ $state == idle || $state == mix || $state == alloc ]] && break
    sleep 0.2
  done
  if [[ ! ( $state == idle || $state == mix || $state == alloc ) ]]; then
    echo "slurm-local: the node did not come up (state '${state:-none}'; logs in $D/log)" >&2
    stop
    exit 3
  fi
  echo "export SLURM_CONF=$SLURM_CONF"
  ;;
stop) stop ;;
status) sinfo ;;
*)
  sed -n '2,10p' "$0" >&2
  exit 2
  ;;
esac
