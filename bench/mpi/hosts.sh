#!/usr/bin/env bash
# Several simulated hosts on one machine, for running makemore under mpirun as
# if on a cluster: each host is a network namespace with its own host name
# (a UTS namespace), joined to the others through a bridge in a namespace of
# its own, so nothing on this machine's own network changes.
#
#   bench/mpi/hosts.sh up N        N hosts node1…nodeN at 198.18.0.1…N; prints
#                                  HOSTFILE=<path> and RSH_AGENT=<path>
#   bench/mpi/hosts.sh run HOST CMD…  CMD on HOST (node2, 2 or 198.18.0.2), with
#                                  this environment: start mpirun from node1 with it
#   bench/mpi/hosts.sh slow RATE   every host's link limited to RATE each way
#                                  (e.g. 100mbit, 1gbit; tbf); `slow off` lifts it
#   bench/mpi/hosts.sh cut HOST    HOST's link goes down (its cable pulled)
#   bench/mpi/hosts.sh down        ends every process on the hosts and removes
#                                  all that `up` made, also after a failed run
#
#   eval "$(bench/mpi/hosts.sh up 3)"
#   bench/mpi/hosts.sh run node1 mpirun --hostfile "$HOSTFILE" --mca plm_rsh_agent "$RSH_AGENT" …
#
# RSH_AGENT stands in for ssh: Open MPI calls it as `agent HOST COMMAND…` and it
# runs COMMAND through sh on HOST. Like ssh it passes on no environment but PATH
# and HOME, so variables the ranks need go through `mpirun -x NAME`, as on real
# hosts; the working directory stays (the hosts share this machine's files).
#
# mpirun itself must run on one of the hosts (`run node1 …`), as on a cluster's
# first node: Open MPI's daemons on the other hosts connect back to it, and the
# hosts reach each other but not this machine's own network.
#
# The addresses are 198.18.0.0/15, a range reserved for benchmarks; each set
# of hosts lives in its own namespaces, so two sets do not collide. State
# (namespace names, the hostfile, the agent) is in $MAKEMORE_HOSTS_DIR, else
# makemore-hosts in $XDG_RUNTIME_DIR, $TMPDIR or /tmp. Needs root and iproute2 (ip, tc),
# nsenter and unshare (util-linux).
set -eEuo pipefail

me=hosts.sh
state=${MAKEMORE_HOSTS_DIR:-${XDG_RUNTIME_DIR:-${TMPDIR:-/tmp}}/makemore-hosts}

die() { echo "$me: $*" >&2; exit 1; }

usage() {
    echo "usage: $me up N | run HOST CMD… | slow RATE|off | cut HOST | down" >&2
    exit 2
}

need() {
    [ "$EUID" = 0 ] || die "needs root (network namespaces); run it with sudo"
    command -v ip >/dev/null || die "needs iproute2 (ip, tc): apt-get install iproute2"
    for t in nsenter unshare; do
        command -v "$t" >/dev/null || die "needs $t (util-linux): apt-get install util-linux"
    done
}

# The hosts that are up: sets prefix and count, or stops.
load() {
    [ -f "$state/prefix" ] && [ -f "$state/count" ] || die "no hosts are up (nothing in $state); run $me up N first"
    prefix=$(cat "$state/prefix")
    count=$(cat "$state/count")
}

# HOST as node2, 2 or 198.18.0.2 → its index.
index() {
    local h=$1 i
    case $h in
        node[0-9]*) i=${h#node} ;;
        198.18.0.[0-9]*) i=${h#198.18.0.} ;;
        *) i=$h ;;
    esac
    [[ $i =~ ^[0-9]+$ ]] && [ "$i" -ge 1 ] && [ "$i" -le "$count" ] \
        || die "no host '$h': the hosts are node1…node$count (198.18.0.1…$count)"
    echo $((10#$i))
}

up() {
    local n=${1:-}
    [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 250 ] || die "up: N must be 1…250, got '${n}'"
    [ ! -e "$state/prefix" ] || die "hosts are already up (state in $state); run $me down first"
    mkdir -p "$state"
    # Unique per set, so namespaces of another set (or a left-over one) never clash.
    prefix=mm$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
    echo "$prefix" > "$state/prefix"
    count=$n
    echo "$n" > "$state/count"
    # From here on a failure leaves nothing behind.
    trap 'echo "$me: up failed; removing what it made" >&2; down >/dev/null 2>&1 || true; exit 1' ERR
    local sw=$prefix-sw slots
    slots=$(nproc)
    # Each name is written down before it is made, so `down` finds it whatever fails.
    echo "$sw" >> "$state/namespaces"
    ip netns add "$sw"
    ip -n "$sw" link add br0 type bridge
    ip -n "$sw" link set br0 up
    : > "$state/hostfile"
    for i in $(seq 1 "$n"); do
        local ns=$prefix-node$i
        echo "$ns" >> "$state/namespaces"
        ip netns add "$ns"
        # Both ends are created inside the namespaces: no interface ever appears on this machine's network.
        ip link add eth0 netns "$ns" type veth peer name "node$i" netns "$sw"
        ip -n "$sw" link set "node$i" master br0 up
        ip -n "$ns" addr add "198.18.0.$i/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$ns" link set lo up
        # A UTS namespace kept by a bind mount (no process holds it) gives the host its name.
        : > "$state/node$i.uts"
        unshare --uts="$state/node$i.uts" hostname "node$i"
        echo "198.18.0.$i slots=$slots" >> "$state/hostfile"
    done
    agent > "$state/agent"
    chmod +x "$state/agent"
    trap - ERR
    echo "HOSTFILE=$state/hostfile"
    echo "RSH_AGENT=$state/agent"
}

# The ssh stand-in, with this set's namespaces written into it.
agent() {
    cat <<EOF
#!/bin/sh
# Made by $me up: runs a command on one of the simulated hosts, as ssh would:
#   agent HOST COMMAND…   (HOST: node1…node$count, 1…$count or 198.18.0.1…$count)
host=\$1
shift
case \$host in node*) i=\${host#node} ;; 198.18.0.*) i=\${host#198.18.0.} ;; *) i=\$host ;; esac
case \$i in ''|*[!0-9]*) i=0 ;; esac
if [ "\$i" -lt 1 ] || [ "\$i" -gt $count ]; then
    echo "agent: no host '\$host' (the hosts are node1…node$count)" >&2
    exit 255
fi
exec nsenter --net=/run/netns/$prefix-node\$i --uts=$state/node\$i.uts -- \\
    env -i PATH="\$PATH" HOME="\$HOME" sh -c "\$*"
EOF
}

run() {
    load
    [ $# -ge 2 ] || usage
    local i
    i=$(index "$1")
    shift
    exec nsenter --net="/run/netns/$prefix-node$i" --uts="$state/node$i.uts" -- "$@"
}

# RATE (e.g. 100mbit) → bytes per second.
rate_bytes() {
    local r=$1 v u
    [[ $r =~ ^([0-9]+)(bit|kbit|mbit|gbit)$ ]] || die "slow: RATE must be a number and bit, kbit, mbit or gbit (e.g. 100mbit), got '$r'"
    v=${BASH_REMATCH[1]}
    u=${BASH_REMATCH[2]}
    case $u in bit) echo $((v / 8)) ;; kbit) echo $((v * 125)) ;; mbit) echo $((v * 125000)) ;; gbit) echo $((v * 125000000)) ;; esac
}

slow() {
    load
    local rate=${1:-} sw=$prefix-sw
    [ -n "$rate" ] || usage
    command -v tc >/dev/null || die "needs tc (iproute2): apt-get install iproute2"
    if [ "$rate" = off ]; then
        for i in $(seq 1 "$count"); do
            tc -n "$prefix-node$i" qdisc del dev eth0 root 2>/dev/null || true
            tc -n "$sw" qdisc del dev "node$i" root 2>/dev/null || true
        done
        rm -f "$state/rate"
        return
    fi
    local bps burst
    bps=$(rate_bytes "$rate")
    [ "$bps" -ge 1250 ] || die "slow: RATE must be at least 10kbit, got '$rate'"
    # The bucket holds 1 ms of the rate: smaller ones fell short of the rate on a 2-vCPU VM (the kernel's
    # timer cannot refill them often enough; 15 kB kept 1gbit at 0.7). The price: after an idle
    # millisecond that much goes through at once, which a real link never does.
    burst=$((bps / 1000))
    [ "$burst" -ge 4096 ] || burst=4096
    for i in $(seq 1 "$count"); do
        # Both directions: the host's egress, and the switch port's egress towards it.
        tc -n "$prefix-node$i" qdisc replace dev eth0 root tbf rate "$rate" burst "$burst" latency 100ms
        tc -n "$sw" qdisc replace dev "node$i" root tbf rate "$rate" burst "$burst" latency 100ms
    done
    echo "$rate" > "$state/rate"
}

cut() {
    load
    [ $# -eq 1 ] || usage
    local i
    i=$(index "$1")
    # The switch's side goes down: the host sees its carrier go and nothing it sends arrives,
    # with no error to either side, as when a cable is pulled.
    ip -n "$prefix-sw" link set "node$i" down
    echo "node$i" >> "$state/cut"
}

down() {
    if [ ! -e "$state/prefix" ] && [ ! -e "$state/namespaces" ]; then
        echo "$me: no hosts are up (nothing in $state)"
        return 0
    fi
    local namespaces=()
    [ -f "$state/namespaces" ] && mapfile -t namespaces < "$state/namespaces"
    # Whatever still runs on the hosts (orted, ranks of a failed job) first, or the namespaces would live on.
    local pids=()
    for ns in "${namespaces[@]}"; do
        ip netns pids "$ns" 2>/dev/null || true
    done > "$state/pids"
    mapfile -t pids < "$state/pids"
    if [ ${#pids[@]} -gt 0 ]; then
        kill -TERM "${pids[@]}" 2>/dev/null || true
        for _ in $(seq 1 20); do
            local alive=0
            for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
            [ $alive = 0 ] && break
            sleep 0.1
        done
        kill -KILL "${pids[@]}" 2>/dev/null || true
    fi
    for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    for f in "$state"/node*.uts; do
        [ -e "$f" ] || continue
        umount "$f" 2>/dev/null || true
    done
    rm -f "$state"/node*.uts "$state/prefix" "$state/count" "$state/namespaces" "$state/pids" \
        "$state/hostfile" "$state/agent" "$state/rate" "$state/cut"
    rmdir "$state" 2>/dev/null || true
    echo "$me: removed ${#namespaces[@]} namespaces and ${#pids[@]} processes"
}

cmd=${1:-}
[ -n "$cmd" ] || usage
shift
case $cmd in
    up) need; up "$@" ;;
    run) need; run "$@" ;;
    slow) need; slow "$@" ;;
    cut) need; cut "$@" ;;
    down) need; down ;;
    *) usage ;;
esac
