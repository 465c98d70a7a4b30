#!/usr/bin/env bash
# Emulated links for the handoff benchmark: two network namespaces joined by a veth pair, shaped
# in the kernel. Traffic stays between the two namespaces this script creates; nothing is routed
# anywhere else.
#
#   scripts/netns.sh up RATE [ONE_WAY_DELAY_MS]   RATE: 10mbit | 100mbit | 1000mbit | none (default delay 10)
#   scripts/netns.sh shape RATE [ONE_WAY_DELAY_MS] change the shaping of existing namespaces in place
#   scripts/netns.sh exec s|r COMMAND...          run in the sharer (10.77.0.1) or receiver (10.77.0.2) namespace
#   scripts/netns.sh status
#   scripts/netns.sh down                         delete both namespaces (and the veth pair with them)
#
# Shaping: netem (delay + rate) on both ends when the kernel has sch_netem; otherwise tbf (rate
# only; sch_tbf) and the caller adds the delay in user space (src/transport/delay-relay.ts).
# `up` prints one line "KVWIRE_NETNS netem=yes|no rate=RATE delay_ms=D sharer=10.77.0.1 receiver=10.77.0.2".
# Needs root and iproute2 (apt-get install -y iproute2). Set KVWIRE_NETNS_PREFIX to run two sets at once.
set -euo pipefail

PREFIX="${KVWIRE_NETNS_PREFIX:-kvw}"
NS_S="${PREFIX}-s"; NS_R="${PREFIX}-r"
DEV_S="${PREFIX}s0"; DEV_R="${PREFIX}r0"
IP_S=10.77.0.1; IP_R=10.77.0.2

die() { echo "netns.sh: $*" >&2; exit 1; }

need() {
  [ "$(id -u)" = 0 ] || die "needs root (network namespaces and tc)"
  command -v ip >/dev/null && command -v tc >/dev/null || die "needs iproute2 (apt-get update && apt-get install -y iproute2)"
}

down() {
  ip netns del "$NS_S" 2>/dev/null || true
  ip netns del "$NS_R" 2>/dev/null || true
  ip link del "$DEV_S" 2>/dev/null || true   # only if a failed 'up' left it in the root namespace
}

# Rate in bits/s from "10mbit" etc. (for the tbf burst size).
bits() {
  case "$1" in
    *gbit) echo $(( ${1%gbit} * 1000000000 ));;
    *mbit) echo $(( ${1%mbit} * 1000000 ));;
    *kbit) echo $(( ${1%kbit} * 1000 ));;
    *) die "rate must look like 10mbit, 1gbit or none, got '$1'";;
  esac
}

shape() { # shape NS DEV RATE DELAY_MS -> prints yes if netem was used
  local ns=$1 dev=$2 rate=$3 delay=$4
  if [ "$rate" = none ] && [ "$delay" = 0 ]; then echo none; return; fi
  local netem="netem delay ${delay}ms limit 100000"
  [ "$rate" = none ] || netem="$netem rate $rate"
  if ip netns exec "$ns" tc qdisc add dev "$dev" root $netem 2>/dev/null; then echo yes; return; fi
  if [ "$rate" != none ]; then
    # burst: 1 ms of traffic, at least 16 KiB (tbf needs at least rate/HZ); queue: 100 ms.
    local b; b=$(bits "$rate"); local burst=$(( b / 8 / 1000 )); [ "$burst" -ge 16384 ] || burst=16384
    ip netns exec "$ns" tc qdisc add dev "$dev" root tbf rate "$rate" burst "$burst" latency 100ms \
      || die "tc tbf failed on $dev"
  fi
  echo no
}

up() {
  local rate="${1:-none}" delay="${2:-10}"
  need
  [ "$rate" = none ] || bits "$rate" >/dev/null
  down
  trap 'down; die "setup failed; cleaned up"' ERR
  ip netns add "$NS_S"
  ip netns add "$NS_R"
  ip link add "$DEV_S" type veth peer name "$DEV_R"
  ip link set "$DEV_S" netns "$NS_S"
  ip link set "$DEV_R" netns "$NS_R"
  ip -n "$NS_S" addr add "$IP_S/24" dev "$DEV_S"
  ip -n "$NS_R" addr add "$IP_R/24" dev "$DEV_R"
  for ns in "$NS_S" "$NS_R"; do ip -n "$ns" link set lo up; done
  ip -n "$NS_S" link set "$DEV_S" up
  ip -n "$NS_R" link set "$DEV_R" up
  apply "$rate" "$delay"
  trap - ERR
}

apply() { # apply RATE DELAY: (re)shape both ends and print the summary line
  local rate=$1 delay=$2 a b
  for pair in "$NS_S $DEV_S" "$NS_R $DEV_R"; do
    set -- $pair
    ip netns exec "$1" tc qdisc del dev "$2" root 2>/dev/null || true
  done
  a=$(shape "$NS_S" "$DEV_S" "$rate" "$delay")
  b=$(shape "$NS_R" "$DEV_R" "$rate" "$delay")
  local netem=no; [ "$a" = yes ] && [ "$b" = yes ] && netem=yes
  [ "$a" = none ] && netem=none
  echo "KVWIRE_NETNS netem=$netem rate=$rate delay_ms=$delay sharer=$IP_S receiver=$IP_R"
}

case "${1:-}" in
  up) shift; up "$@";;
  down) need; down;;
  shape)
    shift; need; rate="${1:-none}"; delay="${2:-10}"
    ip netns list | grep -qw "$NS_S" || die "no namespaces: run 'up' first"
    [ "$rate" = none ] || bits "$rate" >/dev/null
    apply "$rate" "$delay";;
  exec)
    shift; side="${1:-}"; shift || true
    case "$side" in s) exec ip netns exec "$NS_S" "$@";; r) exec ip netns exec "$NS_R" "$@";; *) die "exec s|r COMMAND...";; esac;;
  status)
    for ns in "$NS_S" "$NS_R"; do
      if ip netns list | grep -qw "$ns"; then echo "== $ns"; ip -n "$ns" -br addr; ip netns exec "$ns" tc qdisc show; else echo "$ns: absent"; fi
    done;;
  *) sed -n '2,16p' "$0"; exit 2;;
esac
