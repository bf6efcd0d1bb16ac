# ordo's session on a node: one per node and run, over one ssh connection.
#
# Arguments: the working directory asked for (empty: the default), the subdirectory of the
# default one when several node names share this host, and how many days unused code stays.
# stdin brings, in order: a token line; the run's code, as pieces `NAME KIND SIZE` each
# followed by SIZE bytes, ending with the line `- end 0`; then requests, each a line
# `request N` and N lines of shell, run in a subshell of their own. After the opening and
# after each request, the session prints the token and an exit status on stdout (after
# what the request printed), so ordo knows where each request's output ends.
# When stdin ends (ordo is done, was killed, or the connection broke), whatever a request
# started is stopped.
set -e
IFS= read -r ordo_token
wd=$1
if [ -z "$wd" ]; then
    if [ "$(id -u)" = 0 ]; then wd=/var/lib/ordo; else wd="$HOME/.ordo"; fi
    if [ -n "$2" ]; then wd="$wd/$2"; fi
fi
case $wd in "~") wd=$HOME ;; "~/"*) wd="$HOME/${wd#"~/"}" ;; esac
[ -d "$wd/.ordo/code" ] || mkdir -p "$wd/.ordo/code"
cd "$wd"
# Where earlier versions of ordo kept their runner.
[ ! -d .ordo/bin ] || rm -rf .ordo/bin
PATH="$PATH:/opt/puppetlabs/bin"
# An asynchronous list's stdin is /dev/null: the watchers of ordo_run read requests' stop
# signals through this copy.
exec 3<&0

# Keeps the next $3 bytes of stdin as .ordo/code/$1 unless it is there already, and marks it
# used. $2 is the kind: `tree` (a tar archive), `script`, or `keep` (only named: ordo sends
# it later when it is not there). Unpacked beside its place and moved there whole, so a
# half-sent tree is never taken for a whole one.
ordo_keep() {
    if [ -e ".ordo/code/$1" ]; then
        head -c "$3" > /dev/null
        touch ".ordo/code/$1"
        return 0
    fi
    [ "$2" != keep ] || return 0
    ordo_arrived=yes
    ordo_tmp=".ordo/code/$1.tmp.$$"
    rm -rf "$ordo_tmp"
    if [ "$2" = tree ]; then
        mkdir -p "$ordo_tmp"
        head -c "$3" > "$ordo_tmp.tar"
        tar -x -f "$ordo_tmp.tar" -C "$ordo_tmp"
        rm -f "$ordo_tmp.tar"
    else
        head -c "$3" > "$ordo_tmp"
        chmod 755 "$ordo_tmp"
    fi
    if [ -e ".ordo/code/$1" ]; then rm -rf "$ordo_tmp"; else mv "$ordo_tmp" ".ordo/code/$1"; fi
}

# Runs the command "$@" in a process group of its own, with $ordo_input on its stdin and its
# stdout and stderr the session's. Stops that whole group when ordo says so ("TERM" or
# "KILL" on stdin), when stdin ends, and when the command ends (whatever it left running).
ordo_run() {
    printf '%s' "$ordo_input" | setsid "$@" 2>&1 &
    ordo_pid=$!
    unset ordo_input
    (
        while IFS= read -r ordo_signal <&3; do
            case "$ordo_signal" in
                TERM | KILL) kill -s "$ordo_signal" -- "-$ordo_pid" 2>/dev/null ;;
            esac
        done
        kill -s KILL -- "-$ordo_pid" 2>/dev/null
    ) &
    ordo_watcher=$!
    wait "$ordo_pid"
    ordo_status=$?
    kill -s KILL -- "-$ordo_pid" 2>/dev/null
    # Gone before the session reads on: it must not take the next request for a signal.
    kill "$ordo_watcher" 2>/dev/null
    wait "$ordo_watcher" 2>/dev/null
    return "$ordo_status"
}

ordo_arrived=
while IFS=' ' read -r ordo_name ordo_kind ordo_size; do
    [ "$ordo_kind" != end ] || break
    ordo_keep "$ordo_name" "$ordo_kind" "$ordo_size"
done
# Code no run has used for $3 days goes (what this run uses was just touched); code only
# stops being used when other code takes its place, so only then is it looked for.
if [ -n "$ordo_arrived" ]; then
    find .ordo/code/. ! -name . -prune -mtime "+$3" -exec rm -rf {} +
fi
pwd
# Shell builtins only: this runs on every node of every run.
for ordo_code in .ordo/code/*; do
    if [ -e "$ordo_code" ]; then echo "${ordo_code##*/}"; fi
done
set +e
printf '%s 0\n' "$ordo_token"

while IFS= read -r ordo_request; do
    case $ordo_request in
        "request "*) ;;
        *) continue ;; # a stop signal that came after its command had ended
    esac
    ordo_lines=${ordo_request#request }
    ordo_script=
    while [ "$ordo_lines" -gt 0 ]; do
        IFS= read -r ordo_line || exit 0
        ordo_script="$ordo_script$ordo_line
"
        ordo_lines=$((ordo_lines - 1))
    done
    (eval "$ordo_script") 2>&1
    printf '%s %s\n' "$ordo_token" "$?"
done
