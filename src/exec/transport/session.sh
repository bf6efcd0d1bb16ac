# ordo's session on a node: one per node and run, over one ssh connection.
#
# Arguments: the working directory asked for (empty: the default), the subdirectory of the
# default one when several node names share this host, and how many days unused code stays.
# stdin brings, in order: a token line; the names of the code the run uses, a line each,
# ending with the line `-`; then requests, each a line `request N` and N lines of shell,
# run in a subshell of their own (some read bytes that follow them on stdin). The session
# answers the names with the working directory and a line `missing NAME` for each piece of
# code it lacks; after that answer and after each request it prints the token and an exit
# status on stdout (after what the request printed), so ordo knows where each request's
# output ends. When stdin ends (ordo is done, was killed, or the connection broke),
# whatever a request started is stopped.
set -e
ordo_keep_days=$3
# Set by ordo_keep when code arrives, for ordo_sweep.
ordo_arrived=
IFS= read -r ordo_token
wd=$1
if [ -z "$wd" ]; then
    if [ "$(id -u)" = 0 ]; then wd=/var/lib/ordo; else wd="$HOME/.ordo"; fi
    if [ -n "$2" ]; then wd="$wd/$2"; fi
fi
case $wd in "~") wd=$HOME ;; "~/"*) wd="$HOME/${wd#"~/"}" ;; esac
[ -d "$wd/.ordo/used" ] || mkdir -p "$wd/.ordo/code" "$wd/.ordo/used"
cd "$wd"
# Where earlier versions of ordo kept their runner.
[ ! -d .ordo/bin ] || rm -rf .ordo/bin
PATH="$PATH:/opt/puppetlabs/bin"
# An asynchronous list's stdin is /dev/null: the watchers of ordo_run read requests' stop
# signals through this copy.
exec 3<&0

# Keeps the next $3 bytes of stdin as .ordo/code/$1 unless it is there already; $2 is the
# kind: `tree` (a tar archive) or `script`. Unpacked beside its place and moved there whole,
# so a half-sent tree is never taken for a whole one.
ordo_keep() {
    if [ -e ".ordo/code/$1" ]; then
        head -c "$3" > /dev/null
        return 0
    fi
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
    : > ".ordo/used/$1"
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

# Code no run has used for $ordo_keep_days days goes, once new code has arrived (code only
# stops being used when other code takes its place, so only then is it looked for). When a
# run last used .ordo/code/NAME is the time of .ordo/used/NAME.
ordo_sweep() {
    [ -n "$ordo_arrived" ] || return 0
    for ordo_code in .ordo/code/*; do
        ordo_name=${ordo_code##*/}
        # Code that has no mark (kept by an earlier version, or left half-sent) was last
        # used when it was last changed.
        [ -e ".ordo/used/$ordo_name" ] || [ ! -e "$ordo_code" ] || touch -r "$ordo_code" ".ordo/used/$ordo_name"
    done
    find .ordo/used/. ! -name . -prune -mtime "+$ordo_keep_days" | while IFS= read -r ordo_mark; do
        ordo_name=${ordo_mark##*/}
        rm -rf ".ordo/code/$ordo_name" "$ordo_mark"
    done
}

# The code the run uses: what is here is marked used (emptying its mark sets the mark's
# time), what is not is asked for. Shell builtins only: this runs on every node of every run.
pwd
while IFS= read -r ordo_name; do
    [ "$ordo_name" != - ] || break
    if [ -e ".ordo/code/$ordo_name" ]; then
        : > ".ordo/used/$ordo_name"
    else
        echo "missing $ordo_name"
    fi
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
