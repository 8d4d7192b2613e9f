# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_svc_global_optspecs
    string join \n c/config= v/verbose h/help V/version
end

function __fish_svc_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_svc_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_svc_using_subcommand
    set -l cmd (__fish_svc_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c svc -n "__fish_svc_needs_command" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_needs_command" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_needs_command" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_needs_command" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_needs_command" -f -a "start" -d 'Start the daemon if needed, then the named programs (every autostart one when none is named)'
complete -c svc -n "__fish_svc_needs_command" -f -a "stop" -d 'Drain the named programs gracefully; with no name, everything, then the daemon exits'
complete -c svc -n "__fish_svc_needs_command" -f -a "restart" -d 'Stop and start the named programs (all when none is named); clears `errored`'
complete -c svc -n "__fish_svc_needs_command" -f -a "reload" -d 'Apply a changed svc.toml (no names), or restart the named programs one instance at a time without downtime: start a new process, wait until it is ready, then drain the old one'
complete -c svc -n "__fish_svc_needs_command" -f -a "scale" -d 'Run N instances of a program now, until the next `svc reload` returns to svc.toml\'s number'
complete -c svc -n "__fish_svc_needs_command" -f -a "describe" -d 'Show one program in detail: its resolved config (secrets masked), each instance\'s pid, state and uptime, its latest restarts and why, readiness, log files, next cron restart'
complete -c svc -n "__fish_svc_needs_command" -f -a "status" -d 'Show every instance: pid, state, uptime, restarts, CPU, memory, last exit'
complete -c svc -n "__fish_svc_needs_command" -f -a "signal" -d 'Send a signal to every instance of a program'
complete -c svc -n "__fish_svc_needs_command" -f -a "logs" -d 'Show the programs\' logs (current and rotated files, gzip included); no daemon needed'
complete -c svc -n "__fish_svc_needs_command" -f -a "config" -d 'Check and print the configuration'
complete -c svc -n "__fish_svc_needs_command" -f -a "startup" -d 'Print a boot-time unit that runs the daemon for this svc.toml'
complete -c svc -n "__fish_svc_needs_command" -f -a "completions" -d 'Print shell completions'
complete -c svc -n "__fish_svc_needs_command" -f -a "api" -d 'Run the HTTP API (normally started by the daemon from svc.toml)'
complete -c svc -n "__fish_svc_needs_command" -f -a "worker" -d 'Run the email-queue worker (normally started by the daemon from svc.toml)'
complete -c svc -n "__fish_svc_needs_command" -f -a "smoke" -d 'Post-deploy smoke test: health, readiness, a throw-away sign-up whose welcome email must complete through the target\'s queue, then cleanup; one line per step, exit 0 or 1'
complete -c svc -n "__fish_svc_needs_command" -f -a "queue" -d 'Inspect and feed the email queue directly (no daemon needed)'
complete -c svc -n "__fish_svc_needs_command" -f -a "user" -d 'Create accounts and change roles in the API\'s database directly (no daemon or API needed)'
complete -c svc -n "__fish_svc_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c svc -n "__fish_svc_using_subcommand start" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand start" -l foreground -d 'Run the daemon in this process (containers, systemd); Ctrl-C or SIGTERM drains everything'
complete -c svc -n "__fish_svc_using_subcommand start" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand start" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand start" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand stop" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand stop" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand stop" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand stop" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand restart" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand restart" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand restart" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand restart" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand reload" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand reload" -l dry-run -d 'Print what applying svc.toml would change, and change nothing'
complete -c svc -n "__fish_svc_using_subcommand reload" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand reload" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand reload" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand scale" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand scale" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand scale" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand scale" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand describe" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand describe" -l json -d 'Print JSON instead of text'
complete -c svc -n "__fish_svc_using_subcommand describe" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand describe" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand describe" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand status" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand status" -l json -d 'Print a JSON array (one object per instance) instead of a table'
complete -c svc -n "__fish_svc_using_subcommand status" -l watch -d 'Redraw the table in place every second until Ctrl-C (like `pm2 monit`)'
complete -c svc -n "__fish_svc_using_subcommand status" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand status" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand status" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand signal" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand signal" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand signal" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand signal" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand logs" -s n -l lines -d 'How many of the last matching lines to show [default: 50; all with --request-id or --since]' -r
complete -c svc -n "__fish_svc_using_subcommand logs" -l request-id -d 'Only the lines of this request (their `requestId`)' -r
complete -c svc -n "__fish_svc_using_subcommand logs" -l level -d 'Only lines of this level or above' -r -f -a "trace\t''
debug\t''
info\t''
warn\t''
error\t''"
complete -c svc -n "__fish_svc_using_subcommand logs" -l since -d 'Only lines since this long ago (10m, 2h, 1d) or this time (2026-11-29T10:00:00Z)' -r
complete -c svc -n "__fish_svc_using_subcommand logs" -l color -d 'Colour the output: auto (on a terminal, unless NO_COLOR is set), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c svc -n "__fish_svc_using_subcommand logs" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand logs" -s f -l follow -d 'Keep printing lines as they are written, across rotations (Ctrl-C to end)'
complete -c svc -n "__fish_svc_using_subcommand logs" -l json -d 'Print the records as stored, one JSON object per line'
complete -c svc -n "__fish_svc_using_subcommand logs" -l rotate -d 'Ask the daemon to rotate every log file now, then exit'
complete -c svc -n "__fish_svc_using_subcommand logs" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand logs" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand logs" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand config; and not __fish_seen_subcommand_from check help" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand config; and not __fish_seen_subcommand_from check help" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand config; and not __fish_seen_subcommand_from check help" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand config; and not __fish_seen_subcommand_from check help" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand config; and not __fish_seen_subcommand_from check help" -f -a "check" -d 'Validate svc.toml and print the resolved configuration'
complete -c svc -n "__fish_svc_using_subcommand config; and not __fish_seen_subcommand_from check help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c svc -n "__fish_svc_using_subcommand config; and __fish_seen_subcommand_from check" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand config; and __fish_seen_subcommand_from check" -l show-secrets -d 'Print secret values (passwords, tokens, keys) in clear instead of ***'
complete -c svc -n "__fish_svc_using_subcommand config; and __fish_seen_subcommand_from check" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand config; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand config; and __fish_seen_subcommand_from check" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "check" -d 'Validate svc.toml and print the resolved configuration'
complete -c svc -n "__fish_svc_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c svc -n "__fish_svc_using_subcommand startup" -l user-name -d 'Run the daemon as this account (`User=`, and `Group=` its primary group) instead of root; its programs then run as that account too, so none may name another `user`' -r
complete -c svc -n "__fish_svc_using_subcommand startup" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand startup" -l user -d 'A unit for the user\'s own service manager (`systemctl --user`)'
complete -c svc -n "__fish_svc_using_subcommand startup" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand startup" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand startup" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand completions" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand completions" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand completions" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand completions" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand api" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand api" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand api" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand api" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand worker" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand worker" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand worker" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand worker" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand smoke" -l timeout -d 'Give up on the steps after this long (1s to 1h); the cleanup gets 10s more' -r
complete -c svc -n "__fish_svc_using_subcommand smoke" -l email-domain -d 'The domain of the throw-away user\'s address: one your mail relay accepts and discards' -r
complete -c svc -n "__fish_svc_using_subcommand smoke" -l cacert -d 'Also trust the CA certificates in this PEM file (https:// behind a private CA)' -r -F
complete -c svc -n "__fish_svc_using_subcommand smoke" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand smoke" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand smoke" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand smoke" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand queue; and not __fish_seen_subcommand_from status list show retry remove clean pause resume retry-failed add help" -l data-dir -d 'The folder holding svc.db (relative to the current folder); unused with REDIS_URL/REDIS_HOST' -r -F
complete -c svc -n "__fish_svc_using_subcommand queue; and not __fish_seen_subcommand_from status list show retry remove clean pause resume retry-failed add help" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand queue; and not __fish_seen_subcommand_from status list show retry remove clean pause resume retry-failed add help" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand queue; and not __fish_seen_subcommand_from status list show retry remove clean pause resume retry-failed add help" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand queue; and not __fish_seen_subcommand_from status list show retry remove clean pause resume retry-failed add help" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand queue; and not __fish_seen_subcommand_from status list show retry remove clean pause resume retry-failed add help" -f -a "status" -d 'Jobs per state: waiting, prioritized, delayed, active, completed, failed; and whether paused'
complete -c svc -n "__fish_svc_using_subcommand queue; and not __fish_seen_subcommand_from status list show retry remove clean pause resume retry-failed add help" -f -a "list" -d 'The jobs in one state: id, name, attempts made, age, and the reason of a failed job'
complete -c svc -n "__fish_svc_using_subcommand queue; and not __fish_seen_subcommand_from status list show retry remove clean pause resume retry-failed add help" -f -a "show" -d 'One job: data (addresses masked), options, attempts, failures, timestamps, request id'
complete -c svc -n "__fish_svc_using_subcommand queue; and not __fish_seen_subcommand_from status list show retry remove clean pause resume retry-failed add help" -f -a "retry" -d 'Send one failed or completed job back to waiting, with fresh attempts'
complete -c svc -n "__fish_svc_using_subcommand queue; and not __fish_seen_subcommand_from status list show retry remove clean pause resume retry-failed add help" -f -a "remove" -d 'Delete one job (an active job is refused: a worker holds it)'
complete -c svc -n "__fish_svc_using_subcommand queue; and not __fish_seen_subcommand_from status list show retry remove clean pause resume retry-failed add help" -f -a "clean" -d 'Delete the jobs in one state older than a duration'
complete -c svc -n "__fish_svc_using_subcommand queue; and not __fish_seen_subcommand_from status list show retry remove clean pause resume retry-failed add help" -f -a "pause" -d 'Stop every worker (svc\'s and Node BullMQ\'s) from taking jobs; active jobs finish'
complete -c svc -n "__fish_svc_using_subcommand queue; and not __fish_seen_subcommand_from status list show retry remove clean pause resume retry-failed add help" -f -a "resume" -d 'Let the workers take jobs again'
complete -c svc -n "__fish_svc_using_subcommand queue; and not __fish_seen_subcommand_from status list show retry remove clean pause resume retry-failed add help" -f -a "retry-failed" -d 'Move every failed job back to waiting, with fresh attempts'
complete -c svc -n "__fish_svc_using_subcommand queue; and not __fish_seen_subcommand_from status list show retry remove clean pause resume retry-failed add help" -f -a "add" -d 'Add a job (idempotent with --job-id)'
complete -c svc -n "__fish_svc_using_subcommand queue; and not __fish_seen_subcommand_from status list show retry remove clean pause resume retry-failed add help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from status" -l data-dir -d 'The folder holding svc.db (relative to the current folder); unused with REDIS_URL/REDIS_HOST' -r -F
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from status" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from status" -l json -d 'Print a JSON object instead of a table'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from status" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from status" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from list" -l limit -d 'Show at most this many jobs (the next to leave the state first)' -r
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from list" -l data-dir -d 'The folder holding svc.db (relative to the current folder); unused with REDIS_URL/REDIS_HOST' -r -F
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from list" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from list" -l json -d 'Print a JSON array instead of a table'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from show" -l data-dir -d 'The folder holding svc.db (relative to the current folder); unused with REDIS_URL/REDIS_HOST' -r -F
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from show" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from show" -l show-data -d 'Show email addresses in full (masked by default: a***@example.com)'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from show" -l json -d 'Print a JSON object instead of text'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from show" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from retry" -l data-dir -d 'The folder holding svc.db (relative to the current folder); unused with REDIS_URL/REDIS_HOST' -r -F
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from retry" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from retry" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from retry" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from retry" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from remove" -l data-dir -d 'The folder holding svc.db (relative to the current folder); unused with REDIS_URL/REDIS_HOST' -r -F
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from remove" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from remove" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from remove" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from clean" -l older-than -d 'Delete the jobs older than this (finished for completed and failed jobs, else created), e.g. 7d, 12h' -r
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from clean" -l data-dir -d 'The folder holding svc.db (relative to the current folder); unused with REDIS_URL/REDIS_HOST' -r -F
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from clean" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from clean" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from clean" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from clean" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from pause" -l data-dir -d 'The folder holding svc.db (relative to the current folder); unused with REDIS_URL/REDIS_HOST' -r -F
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from pause" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from pause" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from pause" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from pause" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from resume" -l data-dir -d 'The folder holding svc.db (relative to the current folder); unused with REDIS_URL/REDIS_HOST' -r -F
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from resume" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from resume" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from resume" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from resume" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from retry-failed" -l data-dir -d 'The folder holding svc.db (relative to the current folder); unused with REDIS_URL/REDIS_HOST' -r -F
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from retry-failed" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from retry-failed" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from retry-failed" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from retry-failed" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from add" -l data -d 'The job\'s data, a JSON value' -r
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from add" -l job-id -d 'A custom job id: adding the same id again does nothing' -r
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from add" -l attempts -d 'Total attempts (1 = no retry)' -r
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from add" -l backoff -d 'The wait before a retry: exponential:DURATION (doubles each time) or fixed:DURATION' -r
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from add" -l delay -d 'Run no earlier than this from now, e.g. 1s, 500ms, 2m' -r
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from add" -l priority -d '0 = none; otherwise lower runs first (at most 2097152)' -r
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from add" -l remove-on-complete -d 'Keep the job once completed: true (remove it), false (keep it) or a count of jobs to keep' -r
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from add" -l remove-on-fail -d 'Keep the job once failed: true (remove it), false (keep it) or a count of jobs to keep' -r
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from add" -l data-dir -d 'The folder holding svc.db (relative to the current folder); unused with REDIS_URL/REDIS_HOST' -r -F
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from add" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from add" -l lifo -d 'Put the job in front of the waiting jobs (last in, first out)'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from add" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from add" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "status" -d 'Jobs per state: waiting, prioritized, delayed, active, completed, failed; and whether paused'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "list" -d 'The jobs in one state: id, name, attempts made, age, and the reason of a failed job'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "show" -d 'One job: data (addresses masked), options, attempts, failures, timestamps, request id'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "retry" -d 'Send one failed or completed job back to waiting, with fresh attempts'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Delete one job (an active job is refused: a worker holds it)'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "clean" -d 'Delete the jobs in one state older than a duration'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "pause" -d 'Stop every worker (svc\'s and Node BullMQ\'s) from taking jobs; active jobs finish'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "resume" -d 'Let the workers take jobs again'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "retry-failed" -d 'Move every failed job back to waiting, with fresh attempts'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "add" -d 'Add a job (idempotent with --job-id)'
complete -c svc -n "__fish_svc_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c svc -n "__fish_svc_using_subcommand user; and not __fish_seen_subcommand_from create set-role help" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand user; and not __fish_seen_subcommand_from create set-role help" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand user; and not __fish_seen_subcommand_from create set-role help" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand user; and not __fish_seen_subcommand_from create set-role help" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand user; and not __fish_seen_subcommand_from create set-role help" -f -a "create" -d 'Create an account (an administrator with --admin); the password is read from stdin'
complete -c svc -n "__fish_svc_using_subcommand user; and not __fish_seen_subcommand_from create set-role help" -f -a "set-role" -d 'Make an existing account an administrator (admin) or a plain user (user)'
complete -c svc -n "__fish_svc_using_subcommand user; and not __fish_seen_subcommand_from create set-role help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c svc -n "__fish_svc_using_subcommand user; and __fish_seen_subcommand_from create" -l email -d 'The account\'s email address (its login)' -r
complete -c svc -n "__fish_svc_using_subcommand user; and __fish_seen_subcommand_from create" -l name -d 'The display name' -r
complete -c svc -n "__fish_svc_using_subcommand user; and __fish_seen_subcommand_from create" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand user; and __fish_seen_subcommand_from create" -l admin -d 'Make it an administrator (may change the catalogue and read every user)'
complete -c svc -n "__fish_svc_using_subcommand user; and __fish_seen_subcommand_from create" -l password-stdin -d 'Read the password from stdin (one line; 8 to 128 characters)'
complete -c svc -n "__fish_svc_using_subcommand user; and __fish_seen_subcommand_from create" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand user; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand user; and __fish_seen_subcommand_from create" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand user; and __fish_seen_subcommand_from set-role" -s c -l config -d 'The config file [default: ./svc.toml]' -r -F
complete -c svc -n "__fish_svc_using_subcommand user; and __fish_seen_subcommand_from set-role" -s v -l verbose -d 'More output on stderr (-v, -vv, -vvv)'
complete -c svc -n "__fish_svc_using_subcommand user; and __fish_seen_subcommand_from set-role" -s h -l help -d 'Print help'
complete -c svc -n "__fish_svc_using_subcommand user; and __fish_seen_subcommand_from set-role" -s V -l version -d 'Print version'
complete -c svc -n "__fish_svc_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create an account (an administrator with --admin); the password is read from stdin'
complete -c svc -n "__fish_svc_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "set-role" -d 'Make an existing account an administrator (admin) or a plain user (user)'
complete -c svc -n "__fish_svc_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c svc -n "__fish_svc_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload scale describe status signal logs config startup completions api worker smoke queue user help" -f -a "start" -d 'Start the daemon if needed, then the named programs (every autostart one when none is named)'
complete -c svc -n "__fish_svc_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload scale describe status signal logs config startup completions api worker smoke queue user help" -f -a "stop" -d 'Drain the named programs gracefully; with no name, everything, then the daemon exits'
complete -c svc -n "__fish_svc_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload scale describe status signal logs config startup completions api worker smoke queue user help" -f -a "restart" -d 'Stop and start the named programs (all when none is named); clears `errored`'
complete -c svc -n "__fish_svc_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload scale describe status signal logs config startup completions api worker smoke queue user help" -f -a "reload" -d 'Apply a changed svc.toml (no names), or restart the named programs one instance at a time without downtime: start a new process, wait until it is ready, then drain the old one'
complete -c svc -n "__fish_svc_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload scale describe status signal logs config startup completions api worker smoke queue user help" -f -a "scale" -d 'Run N instances of a program now, until the next `svc reload` returns to svc.toml\'s number'
complete -c svc -n "__fish_svc_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload scale describe status signal logs config startup completions api worker smoke queue user help" -f -a "describe" -d 'Show one program in detail: its resolved config (secrets masked), each instance\'s pid, state and uptime, its latest restarts and why, readiness, log files, next cron restart'
complete -c svc -n "__fish_svc_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload scale describe status signal logs config startup completions api worker smoke queue user help" -f -a "status" -d 'Show every instance: pid, state, uptime, restarts, CPU, memory, last exit'
complete -c svc -n "__fish_svc_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload scale describe status signal logs config startup completions api worker smoke queue user help" -f -a "signal" -d 'Send a signal to every instance of a program'
complete -c svc -n "__fish_svc_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload scale describe status signal logs config startup completions api worker smoke queue user help" -f -a "logs" -d 'Show the programs\' logs (current and rotated files, gzip included); no daemon needed'
complete -c svc -n "__fish_svc_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload scale describe status signal logs config startup completions api worker smoke queue user help" -f -a "config" -d 'Check and print the configuration'
complete -c svc -n "__fish_svc_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload scale describe status signal logs config startup completions api worker smoke queue user help" -f -a "startup" -d 'Print a boot-time unit that runs the daemon for this svc.toml'
complete -c svc -n "__fish_svc_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload scale describe status signal logs config startup completions api worker smoke queue user help" -f -a "completions" -d 'Print shell completions'
complete -c svc -n "__fish_svc_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload scale describe status signal logs config startup completions api worker smoke queue user help" -f -a "api" -d 'Run the HTTP API (normally started by the daemon from svc.toml)'
complete -c svc -n "__fish_svc_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload scale describe status signal logs config startup completions api worker smoke queue user help" -f -a "worker" -d 'Run the email-queue worker (normally started by the daemon from svc.toml)'
complete -c svc -n "__fish_svc_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload scale describe status signal logs config startup completions api worker smoke queue user help" -f -a "smoke" -d 'Post-deploy smoke test: health, readiness, a throw-away sign-up whose welcome email must complete through the target\'s queue, then cleanup; one line per step, exit 0 or 1'
complete -c svc -n "__fish_svc_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload scale describe status signal logs config startup completions api worker smoke queue user help" -f -a "queue" -d 'Inspect and feed the email queue directly (no daemon needed)'
complete -c svc -n "__fish_svc_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload scale describe status signal logs config startup completions api worker smoke queue user help" -f -a "user" -d 'Create accounts and change roles in the API\'s database directly (no daemon or API needed)'
complete -c svc -n "__fish_svc_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload scale describe status signal logs config startup completions api worker smoke queue user help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c svc -n "__fish_svc_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "check" -d 'Validate svc.toml and print the resolved configuration'
complete -c svc -n "__fish_svc_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "status" -d 'Jobs per state: waiting, prioritized, delayed, active, completed, failed; and whether paused'
complete -c svc -n "__fish_svc_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "list" -d 'The jobs in one state: id, name, attempts made, age, and the reason of a failed job'
complete -c svc -n "__fish_svc_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "show" -d 'One job: data (addresses masked), options, attempts, failures, timestamps, request id'
complete -c svc -n "__fish_svc_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "retry" -d 'Send one failed or completed job back to waiting, with fresh attempts'
complete -c svc -n "__fish_svc_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "remove" -d 'Delete one job (an active job is refused: a worker holds it)'
complete -c svc -n "__fish_svc_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "clean" -d 'Delete the jobs in one state older than a duration'
complete -c svc -n "__fish_svc_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "pause" -d 'Stop every worker (svc\'s and Node BullMQ\'s) from taking jobs; active jobs finish'
complete -c svc -n "__fish_svc_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "resume" -d 'Let the workers take jobs again'
complete -c svc -n "__fish_svc_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "retry-failed" -d 'Move every failed job back to waiting, with fresh attempts'
complete -c svc -n "__fish_svc_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "add" -d 'Add a job (idempotent with --job-id)'
complete -c svc -n "__fish_svc_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "create" -d 'Create an account (an administrator with --admin); the password is read from stdin'
complete -c svc -n "__fish_svc_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "set-role" -d 'Make an existing account an administrator (admin) or a plain user (user)'
