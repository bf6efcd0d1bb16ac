#!/usr/bin/env bash
# ordo over SSH against its peers, on loopback: 50 and 200 nodes whose one component runs
# `true`, in two groups (a database tier, then a web tier that consumes it).
#
#   benches/ssh_fleet.sh            # builds ordo in release mode first
#   ORDO=/path/to/ordo ROUNDS=5 benches/ssh_fleet.sh 50 200
#
# It starts its own sshd on a free loopback port (its own host key, configuration and
# authorized key), maps every node name to it, and times, side by side in one run:
#   ordo            `ordo apply` of the whole fleet (first apply: code sent to every node,
#                   a connection opened to each; re-apply: every component changed, code
#                   already there, through the connections the first apply kept open)
#   ssh mux         plain ssh, a master connection per node, `true` over it, then exit
#   ssh fresh       plain ssh, a fresh connection per command
#   ansible         ansible-core (forks 64) running the same two-tier play over the same
#                   nodes, installed from PyPI into a venv under the work directory: first
#                   with no connection open, then again through the connections it kept
#                   (Ansible keeps them 60 s, as ordo does)
# Every tool runs 64 nodes at a time. Each size runs ROUNDS rounds (default 3) of all four in
# turn, from empty nodes and state; the table gives each figure's median and the median of
# the rounds' ratios, since a shared machine's speed drifts between runs. Needs root (sshd),
# openssh-server, python3 with venv.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(50 200)
rounds=${ROUNDS:-3}
parallel=64

if [ -z "${ORDO:-}" ]; then
    cargo build --release --quiet
    ORDO="$PWD/target/release/ordo"
fi
work=$(mktemp -d /tmp/ordo-bench.XXXXXX)
sshd_pid=
cleanup() {
    [ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# --- sshd -------------------------------------------------------------------------------
mkdir -p /run/sshd "$work/ssh"
ssh-keygen -q -t ed25519 -N "" -f "$work/ssh/host_key"
ssh-keygen -q -t ed25519 -N "" -f "$work/ssh/client_key"
cp "$work/ssh/client_key.pub" "$work/ssh/authorized_keys"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/ssh/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $work/ssh/host_key
AuthorizedKeysFile $work/ssh/authorized_keys
PidFile $work/ssh/sshd.pid
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
KexAlgorithms curve25519-sha256
MaxStartups 400:30:800
MaxSessions 100
SetEnv SHLVL=1
LogLevel ERROR
EOF
echo "[127.0.0.1]:$port $(cat "$work/ssh/host_key.pub")" > "$work/ssh/known_hosts"
/usr/sbin/sshd -D -e -f "$work/ssh/sshd_config" 2>"$work/ssh/sshd.log" &
sshd_pid=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
done

# Every tool reads the machine's own ssh configuration (/etc/ssh/ssh_config, ~/.ssh/config),
# as ordo does, so all four pay the same for it.
ssh_options=(-p "$port" -l root -i "$work/ssh/client_key" -o BatchMode=yes
    -o UserKnownHostsFile="$work/ssh/known_hosts" -o StrictHostKeyChecking=yes)
export SSH_OPTIONS="${ssh_options[*]}"

# --- Ansible ----------------------------------------------------------------------------
venv="${ORDO_BENCH_VENV:-$work/venv}"
if [ ! -x "$venv/bin/ansible-playbook" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet ansible-core
fi

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }
# The median of the numbers given.
median() { python3 -c "import statistics, sys; print(f'{statistics.median(map(float, sys.argv[1:])):.2f}')" "$@"; }
# The median of the rounds' ratios a/b, for "a1 a2 ..." and "b1 b2 ...".
median_ratio() {
    python3 -c "import statistics, sys; a, b = (list(map(float, s.split())) for s in sys.argv[1:]); print(f'{statistics.median(x / y for x, y in zip(a, b)):.2f}x')" "$1" "$2"
}

# One tier of plain ssh: a master connection per node, `true` over it, the master closed.
mux_one() {
    local socket="$MUX_DIR/$1"
    # shellcheck disable=SC2086
    ssh $SSH_OPTIONS -o ControlMaster=yes -o ControlPath="$socket" -o ControlPersist=60 -fN 127.0.0.1
    # shellcheck disable=SC2086
    ssh $SSH_OPTIONS -o ControlPath="$socket" 127.0.0.1 true
    # shellcheck disable=SC2086
    ssh $SSH_OPTIONS -o ControlPath="$socket" -O exit 127.0.0.1 2>/dev/null
}
fresh_one() {
    # shellcheck disable=SC2086
    ssh $SSH_OPTIONS 127.0.0.1 true
}
export -f mux_one fresh_one

declare -A results
for n in "${sizes[@]}"; do
    half=$((n / 2))
    dir="$work/fleet-$n"
    mkdir -p "$dir/repo/packages/tier/scripts" "$dir/nodes" "$dir/mux"
    dbs=(); webs=()
    for i in $(seq -w 1 "$half"); do dbs+=("db$i"); webs+=("web$i"); done

    # The repository: one instance per pair, a database and a web server that consumes it.
    printf '#!/bin/sh\ntrue\n' > "$dir/repo/packages/tier/scripts/apply"
    chmod +x "$dir/repo/packages/tier/scripts/apply"
    cat > "$dir/repo/packages/tier/package.yaml" <<'EOF'
name: tier
version: 1.0.0
parameters:
  generation: {type: integer, default: 1}
capabilities:
  Endpoint:
    attributes: {host: string}
components:
  Tier::Db:
    parameters: {generation: integer}
    produces:
      Endpoint: {host: "${title}"}
    scripts: {apply: scripts/apply}
  Tier::Web:
    parameters: {generation: integer, host: string}
    consumes:
      Endpoint: {host: "${host}"}
    scripts: {apply: scripts/apply}
application:
  name: tier
  components:
    - component: Tier::Db
      title: "${title}"
      parameters: {generation: "${generation}"}
      export: Endpoint[${title}]
    - component: Tier::Web
      title: "${title}"
      parameters: {generation: "${generation}"}
      consume: Endpoint[${title}]
EOF
    {
        echo "defaults:"
        echo "  transport: ssh"
        echo "  port: $port"
        echo "  user: root"
        echo "  identity_file: $work/ssh/client_key"
        echo "  known_hosts: $work/ssh/known_hosts"
        echo "nodes:"
        for node in "${dbs[@]}" "${webs[@]}"; do
            printf '  - {name: %s, address: 127.0.0.1, work_dir: %s}\n' "$node" "$dir/nodes/$node"
        done
    } > "$dir/repo/inventory.yaml"
    {
        echo "instances:"
        for i in $(seq -w 1 "$half"); do
            printf '  - application: tier\n    title: t%s\n    parameters: {generation: GENERATION}\n    nodes: {db%s: "Tier::Db[t%s]", web%s: "Tier::Web[t%s]"}\n' \
                "$i" "$i" "$i" "$i" "$i"
        done
    } > "$dir/site.template"
    # Ansible's inventory and play: the same two tiers as two plays, `command: true` on each node.
    {
        echo "[db]"
        for node in "${dbs[@]}"; do echo "$node ansible_host=127.0.0.1"; done
        echo "[web]"
        for node in "${webs[@]}"; do echo "$node ansible_host=127.0.0.1"; done
        echo "[all:vars]"
        echo "ansible_port=$port"
        echo "ansible_user=root"
        echo "ansible_ssh_private_key_file=$work/ssh/client_key"
        echo "ansible_ssh_common_args='-o UserKnownHostsFile=$work/ssh/known_hosts -o StrictHostKeyChecking=yes'"
        echo "ansible_python_interpreter=/usr/bin/python3"
    } > "$dir/hosts"
    cat > "$dir/play.yml" <<'EOF'
- hosts: db
  gather_facts: false
  tasks:
    - ansible.builtin.command: "true"
- hosts: web
  gather_facts: false
  tasks:
    - ansible.builtin.command: "true"
EOF
    for round in $(seq "$rounds"); do
        # Every round starts from nodes without code and an empty state.
        rm -rf "$dir/state" "$dir/nodes" "$dir/mux" "$dir/ansible-cp"
        mkdir -p "$dir/nodes" "$dir/mux"
        sed 's/GENERATION/1/' "$dir/site.template" > "$dir/repo/site.yaml"
        # ordo: the first apply sends the code to every node; the re-apply changes every
        # component, with the code already there.
        start=$(now)
        "$ORDO" --state "$dir/state" apply "$dir/repo" --yes --concurrency "$parallel" > "$dir/ordo-1.log" 2>&1
        results[$n,ordo_first]+=" $(elapsed "$start" "$(now)")"
        grep -q "Success: $n nodes in 2 groups" "$dir/ordo-1.log" || { cat "$dir/ordo-1.log"; exit 1; }
        sed 's/GENERATION/2/' "$dir/site.template" > "$dir/repo/site.yaml"
        start=$(now)
        "$ORDO" --state "$dir/state" apply "$dir/repo" --yes --concurrency "$parallel" > "$dir/ordo-2.log" 2>&1
        results[$n,ordo_again]+=" $(elapsed "$start" "$(now)")"
        grep -q "Success: $n nodes in 2 groups" "$dir/ordo-2.log" || { cat "$dir/ordo-2.log"; exit 1; }
        # The connections ordo kept are closed before the others run.
        for socket in "$dir"/state/ssh/*; do
            [ -S "$socket" ] && ssh -o ControlPath="$socket" -O exit node 2>/dev/null || true
        done

        # Plain ssh, multiplexed: a master per node, then the command over it, tier by tier.
        export MUX_DIR="$dir/mux"
        start=$(now)
        printf '%s\n' "${dbs[@]}" | xargs -P "$parallel" -I{} bash -c 'mux_one {}'
        printf '%s\n' "${webs[@]}" | xargs -P "$parallel" -I{} bash -c 'mux_one {}'
        results[$n,mux]+=" $(elapsed "$start" "$(now)")"

        # Plain ssh, a fresh connection per command.
        start=$(now)
        printf '%s\n' "${dbs[@]}" | xargs -P "$parallel" -I{} bash -c 'fresh_one {}'
        printf '%s\n' "${webs[@]}" | xargs -P "$parallel" -I{} bash -c 'fresh_one {}'
        results[$n,fresh]+=" $(elapsed "$start" "$(now)")"

        for run in ansible_first ansible_again; do
            start=$(now)
            ANSIBLE_FORKS=$parallel ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_SSH_CONTROL_PATH_DIR="$dir/ansible-cp" \
                ANSIBLE_LOCAL_TEMP="$dir/ansible-tmp" ANSIBLE_NOCOLOR=1 \
                "$venv/bin/ansible-playbook" -i "$dir/hosts" "$dir/play.yml" > "$dir/$run.log" 2>&1 ||
                { tail -30 "$dir/$run.log"; exit 1; }
            results[$n,$run]+=" $(elapsed "$start" "$(now)")"
        done
        for socket in "$dir"/ansible-cp/*; do
            [ -S "$socket" ] && ssh -o ControlPath="$socket" -O exit node 2>/dev/null || true
        done
        echo "$n nodes, round $round of $rounds:$(printf ' %s' "${results[$n,ordo_first]##* }" "${results[$n,ordo_again]##* }" \
            "${results[$n,mux]##* }" "${results[$n,fresh]##* }" "${results[$n,ansible_first]##* }" \
            "${results[$n,ansible_again]##* }") s (ordo first, ordo again, ssh mux, ssh fresh, ansible first, ansible again)"
    done
done

echo
echo "Two groups of nodes over SSH on loopback, one component running \`true\` per node, $parallel nodes at a time;"
echo "medians of $rounds rounds (ratios: the median of the rounds' ratios)"
printf '%-6s %11s %11s %9s %10s %14s %14s %23s %23s\n' nodes "ordo first" "ordo again" "ssh mux" "ssh fresh" \
    "ansible first" "ansible again" "ordo first, again/mux" "ansible/ordo first, again"
for n in "${sizes[@]}"; do
    # shellcheck disable=SC2086
    printf '%-6s %10ss %10ss %8ss %9ss %13ss %13ss %10s / %-10s %10s / %-10s\n' "$n" "$(median ${results[$n,ordo_first]})" \
        "$(median ${results[$n,ordo_again]})" "$(median ${results[$n,mux]})" "$(median ${results[$n,fresh]})" \
        "$(median ${results[$n,ansible_first]})" "$(median ${results[$n,ansible_again]})" \
        "$(median_ratio "${results[$n,ordo_first]}" "${results[$n,mux]}")" \
        "$(median_ratio "${results[$n,ordo_again]}" "${results[$n,mux]}")" \
        "$(median_ratio "${results[$n,ansible_first]}" "${results[$n,ordo_first]}")" \
        "$(median_ratio "${results[$n,ansible_again]}" "${results[$n,ordo_again]}")"
done
