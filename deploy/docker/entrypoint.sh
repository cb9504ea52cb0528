#!/bin/sh
# The image's entry point: `edgeshift "$@"`, after an optional emulated network link.
#
# When EDGESHIFT_NETEM_DOWN or EDGESHIFT_NETEM_UP is set (netem(8) parameters, e.g.
# "delay 15ms 1ms distribution normal rate 1000mbit", as services/netem/profiles.ts
# tcNetem() writes them), the container must start as root with CAP_NET_ADMIN:
#   DOWN: what leaves this container (answers) gets netem on the interface's egress;
#   UP:   what arrives (requests) is redirected to an ifb device that has netem on its
#         egress: the receiver's ingress, where netem(8) advises it for TCP.
# Then root and every capability are dropped (setpriv) before edgeshift starts, so the
# node never runs privileged. Without those variables nothing of this runs.
set -eu

dev="${EDGESHIFT_NETEM_DEV:-eth0}"
ifb="${EDGESHIFT_NETEM_IFB:-ifb0}"
run_as="${EDGESHIFT_UID:-10001}"

say() { echo "edgeshift netem: $*" >&2; }

if [ -n "${EDGESHIFT_NETEM_DOWN:-}" ] || [ -n "${EDGESHIFT_NETEM_UP:-}" ]; then
  if [ "$(id -u)" != 0 ]; then
    say "EDGESHIFT_NETEM_* is set but the container runs as uid $(id -u): start it as root with cap_add NET_ADMIN (docker-compose.yml does); edgeshift itself then runs as uid $run_as"
    exit 1
  fi
  if [ -n "${EDGESHIFT_NETEM_DOWN:-}" ]; then
    # shellcheck disable=SC2086 # netem parameters are words
    tc qdisc replace dev "$dev" root netem $EDGESHIFT_NETEM_DOWN || {
      say "tc netem on $dev failed: does the container have NET_ADMIN, and the host kernel sch_netem (modprobe sch_netem)?"
      exit 1
    }
    say "$dev egress (towards clients): netem $EDGESHIFT_NETEM_DOWN"
  fi
  if [ -n "${EDGESHIFT_NETEM_UP:-}" ]; then
    if ! ip link show "$ifb" >/dev/null 2>&1; then
      ip link add "$ifb" type ifb || {
        say "cannot create $ifb: load the host's ifb module (sudo modprobe ifb), or unset EDGESHIFT_NETEM_UP"
        exit 1
      }
    fi
    ip link set dev "$ifb" up
    tc qdisc del dev "$dev" ingress 2>/dev/null || true
    tc qdisc add dev "$dev" handle ffff: ingress
    tc filter add dev "$dev" parent ffff: protocol all prio 1 u32 match u32 0 0 \
      action mirred egress redirect dev "$ifb"
    # shellcheck disable=SC2086
    tc qdisc replace dev "$ifb" root netem $EDGESHIFT_NETEM_UP
    say "$dev ingress (from clients, through $ifb): netem $EDGESHIFT_NETEM_UP"
  fi
fi

# A node reads its energy agent's token from EDGESHIFT_ENERGY_AGENT_TOKEN itself (the
# compose file sets it); nothing of it is written here.
if [ "$(id -u)" = 0 ] && [ "${EDGESHIFT_KEEP_ROOT:-0}" != 1 ]; then
  exec setpriv --reuid="$run_as" --regid="$run_as" --clear-groups \
    --inh-caps=-all --bounding-set=-all --no-new-privs \
    node /app/cli/edgeshift.js "$@"
fi
exec node /app/cli/edgeshift.js "$@"
