# ordo's runner on a node: reads the command's environment and input from stdin, runs the
# command in a process group of its own, and stops that group when told ("TERM", "KILL" on
# stdin) or when ordo goes away (stdin ends).
cd "$1" || exit 125
shift
PATH="$PATH:/opt/puppetlabs/bin"
IFS= read -r ordo_lines || exit 125
ordo_script=
while [ "$ordo_lines" -gt 0 ]; do
    IFS= read -r ordo_line || exit 125
    ordo_script="$ordo_script$ordo_line
"
    ordo_lines=$((ordo_lines - 1))
done
eval "$ordo_script"
unset ordo_script ordo_line ordo_lines
exec 3<&0
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
kill "$ordo_watcher" 2>/dev/null
exit "$ordo_status"
