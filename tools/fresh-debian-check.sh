#!/usr/bin/env bash
# Proves the README's two commands on a Debian 12 that has never seen eatsim: builds a minimal
# Debian 12 root with mmdebstrap, copies a clean export of this repository into it, and runs the
# commands from the README's "Two commands" section there exactly as written, timing each.
#
#   tools/fresh-debian-check.sh              both commands (the demo, then the test suite)
#   tools/fresh-debian-check.sh --tests      only the test command
#   tools/fresh-debian-check.sh --demo       only the demo command
#   tools/fresh-debian-check.sh --keep DIR   build the root in DIR (new or empty) and keep it for a
#                                            look afterwards (default: a temporary directory, removed)
#
# The export is `git archive` of the working tree's state (committed or not, untracked files
# excluded), so what is checked is what a clone would get. Needs root (chroot, mounts) and
# Debian's mmdebstrap (installed when missing). Packages come from this machine's apt sources.
# Exit status: 0 when every command succeeded, else the first failing command's status.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

run_demo=1 run_tests=1 keep=""
while (($#)); do
  case "$1" in
    --tests) run_demo=0 ;;
    --demo) run_tests=0 ;;
    --keep) keep=${2:?--keep needs a directory}; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fresh-debian-check: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [[ $(id -u) -ne 0 ]]; then
  echo "fresh-debian-check: needs root (mmdebstrap, chroot and mounts); rerun with sudo" >&2
  exit 2
fi
if ! command -v mmdebstrap >/dev/null; then
  echo "fresh-debian-check: installing mmdebstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
fi

# The two commands, read from the README so that what runs is what a user reads.
mapfile -t cmds < <(awk '/^## Two commands/{on=1; next} /^## /{on=0}
  on && /^```sh/{blk=1; next} on && /^```/{blk=0; next} on && blk && NF{print}' README.md)
if ((${#cmds[@]} != 2)); then
  echo "fresh-debian-check: README.md:'## Two commands' should hold exactly two one-line sh blocks, found ${#cmds[@]}" >&2
  exit 2
fi
demo_cmd=${cmds[0]} test_cmd=${cmds[1]}

if [[ -n $keep ]]; then
  root=$(realpath -m "$keep")
  if [[ -e $root && -n $(ls -A "$root") ]]; then
    echo "fresh-debian-check: --keep $keep is not empty; the root must be new every time" >&2
    exit 2
  fi
  mkdir -p "$root"
else root=$(mktemp -d /tmp/eatsim-fresh.XXXXXX); fi
mounted=()
cleanup() {
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2>/dev/null || true; done
  [[ -z $keep ]] && rm -rf --one-file-system "$root"
  return 0
}
trap cleanup EXIT

t0=$SECONDS
echo "fresh-debian-check: building a minimal Debian 12 root in $root"
# The host's sources (mirror, snapshot pin) so the root sees the packages this machine sees.
sources=()
[[ -f /etc/apt/sources.list.d/debian.sources ]] && sources=(/etc/apt/sources.list.d/debian.sources)
mmdebstrap --variant=minbase --quiet bookworm "$root" "${sources[@]}"
boot_s=$((SECONDS - t0))
mkdir -p "$root/root/eatsim"
tree=$(git stash create 2>/dev/null || true)
git archive "${tree:-HEAD}" | tar -x -C "$root/root/eatsim"
cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
for m in proc sys dev; do
  mkdir -p "$root/$m"
  case $m in
    proc) mount -t proc proc "$root/proc" ;;
    sys) mount --rbind /sys "$root/sys" ;;
    dev) mount --rbind /dev "$root/dev" ;;
  esac
  mounted+=("$root/$m")
done

status=0
results=()
run_in_root() {  # name, command
  local name=$1 cmd=$2 t=$SECONDS rc=0
  echo "fresh-debian-check: [$name] $cmd"
  chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 TERM=dumb /bin/bash -c "cd /root/eatsim && $cmd" || rc=$?
  results+=("$name: exit $rc in $((SECONDS - t)) s")
  ((rc == 0 || status != 0)) || status=$rc
}
((run_demo)) && run_in_root demo "$demo_cmd"
((run_tests)) && run_in_root tests "$test_cmd"

echo "fresh-debian-check: Debian 12 root in ${boot_s} s"
for r in "${results[@]}"; do echo "fresh-debian-check: $r"; done
echo "fresh-debian-check: $( ((status == 0)) && echo passed || echo FAILED ) in $((SECONDS - t0)) s"
exit "$status"
