# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_docker_link_global_optspecs
    string join \n h/help V/version
end

function __fish_docker_link_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_docker_link_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_docker_link_using_subcommand
    set -l cmd (__fish_docker_link_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c docker-link -n "__fish_docker_link_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c docker-link -n "__fish_docker_link_needs_command" -s V -l version -d 'Print version'
complete -c docker-link -n "__fish_docker_link_needs_command" -f -a "add" -d 'Give a container an extra name (`docker link CONTAINER NAME` is the same)'
complete -c docker-link -n "__fish_docker_link_needs_command" -f -a "rm" -d 'Remove names or link paths'
complete -c docker-link -n "__fish_docker_link_needs_command" -f -a "rename" -d 'Rename a name or link path within its parent'
complete -c docker-link -n "__fish_docker_link_needs_command" -f -a "connect" -d 'Link an existing parent to a child under an alias (DNS and reachability, no env)'
complete -c docker-link -n "__fish_docker_link_needs_command" -f -a "inspect" -d 'Show a name or container: names, parents, children, link variables (JSON)'
complete -c docker-link -n "__fish_docker_link_needs_command" -f -a "env" -d 'Print the variables a link to a container would give, as an env file'
complete -c docker-link -n "__fish_docker_link_needs_command" -f -a "prune" -d 'Remove dangling names, empty link networks, unused init volumes and old registry generations'
complete -c docker-link -n "__fish_docker_link_needs_command" -f -a "run" -d 'Run a container like `docker run`, plus `--link NAME:ALIAS`'
complete -c docker-link -n "__fish_docker_link_needs_command" -f -a "create" -d 'Create a container like `docker create`, plus `--link NAME:ALIAS`'
complete -c docker-link -n "__fish_docker_link_needs_command" -f -a "watcher" -d 'The background reconciler: start, stop, status, logs, or run it here'
complete -c docker-link -n "__fish_docker_link_needs_command" -f -a "doctor" -d 'Check the installation, the daemon and the kernel features'
complete -c docker-link -n "__fish_docker_link_needs_command" -f -a "install" -d 'Install the plugin into the docker CLI\'s plugin directory'
complete -c docker-link -n "__fish_docker_link_needs_command" -f -a "uninstall" -d 'Remove the plugin\'s files from the plugin directory'
complete -c docker-link -n "__fish_docker_link_needs_command" -f -a "ls" -d 'List container names and link paths'
complete -c docker-link -n "__fish_docker_link_needs_command" -f -a "proxy" -d 'Keep an nginx or haproxy proxy configured from container labels'
complete -c docker-link -n "__fish_docker_link_needs_command" -f -a "net" -d 'Wire containers with declared links, bridges and tunnels'
complete -c docker-link -n "__fish_docker_link_needs_command" -f -a "init" -d 'A PID 1 for containers: reap, forward signals, report readiness'
complete -c docker-link -n "__fish_docker_link_using_subcommand add" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand rm" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand rename" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand connect" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand inspect" -s f -l format -d 'Format output: json (default, indented), or a Go template' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand inspect" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand env" -l as -d 'The alias the variables are named after (default: the last element of PATH)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand env" -l link-env -d 'The variable algorithm: v28 (Engine 28 and later) or v27 (the older one)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand env" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand prune" -l filter -d 'Only remove link networks and init volumes older than this (`until=2m`, the default: a `docker link run` may be between making its network or volume and its container)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand prune" -s f -l force -d 'Do not prompt for confirmation (accepted for docker\'s sake: prune never prompts)'
complete -c docker-link -n "__fish_docker_link_using_subcommand prune" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand watcher; and not __fish_seen_subcommand_from start stop status logs run keep" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand watcher; and not __fish_seen_subcommand_from start stop status logs run keep" -f -a "start" -d 'Start the watcher container on the daemon (replaces one of another version)'
complete -c docker-link -n "__fish_docker_link_using_subcommand watcher; and not __fish_seen_subcommand_from start stop status logs run keep" -f -a "stop" -d 'Stop and remove the watcher container'
complete -c docker-link -n "__fish_docker_link_using_subcommand watcher; and not __fish_seen_subcommand_from start stop status logs run keep" -f -a "status" -d 'Show the watcher\'s state and figures'
complete -c docker-link -n "__fish_docker_link_using_subcommand watcher; and not __fish_seen_subcommand_from start stop status logs run keep" -f -a "logs" -d 'Show the watcher\'s logs (`docker logs` of its container)'
complete -c docker-link -n "__fish_docker_link_using_subcommand watcher; and not __fish_seen_subcommand_from start stop status logs run keep" -f -a "run" -d 'Run the watcher\'s loop in this process'
complete -c docker-link -n "__fish_docker_link_using_subcommand watcher; and not __fish_seen_subcommand_from start stop status logs run keep" -f -a "keep" -d 'The keeper\'s loop: start the watcher again after a kill (runs in the keeper container)'
complete -c docker-link -n "__fish_docker_link_using_subcommand watcher; and __fish_seen_subcommand_from start" -l socket -d 'The daemon\'s socket on the daemon\'s host, bound into the watcher (default: the endpoint\'s own socket when it is local, else /var/run/docker.sock)' -r -F
complete -c docker-link -n "__fish_docker_link_using_subcommand watcher; and __fish_seen_subcommand_from start" -l metrics -d 'Serve Prometheus metrics on this address of the daemon host\'s network namespace' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand watcher; and __fish_seen_subcommand_from start" -l icc -d '`--icc=false`: on the default bridge too, a container accepts new connections only along its links, as the engine\'s `--icc=false` did' -r -f -a "true\t''
false\t''"
complete -c docker-link -n "__fish_docker_link_using_subcommand watcher; and __fish_seen_subcommand_from start" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand watcher; and __fish_seen_subcommand_from stop" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand watcher; and __fish_seen_subcommand_from status" -l format -d 'table, json, or a Go template' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand watcher; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand watcher; and __fish_seen_subcommand_from logs" -l tail -d 'Lines from the end' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand watcher; and __fish_seen_subcommand_from logs" -s f -l follow -d 'Follow the log'
complete -c docker-link -n "__fish_docker_link_using_subcommand watcher; and __fish_seen_subcommand_from logs" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand watcher; and __fish_seen_subcommand_from run" -l status-file -d 'Write the status here after every pass' -r -F
complete -c docker-link -n "__fish_docker_link_using_subcommand watcher; and __fish_seen_subcommand_from run" -l metrics -d 'Serve Prometheus metrics on this address (`127.0.0.1:9387`); off when not given' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand watcher; and __fish_seen_subcommand_from run" -l icc -d '`--icc=false`: on the default bridge too, a container accepts new connections only along its links, as the engine\'s `--icc=false` did' -r -f -a "true\t''
false\t''"
complete -c docker-link -n "__fish_docker_link_using_subcommand watcher; and __fish_seen_subcommand_from run" -l foreground -d 'Run in this process, in the foreground (the only mode; `start` runs it in a container)'
complete -c docker-link -n "__fish_docker_link_using_subcommand watcher; and __fish_seen_subcommand_from run" -l no-rules -d 'Do not enforce reachability with nf_tables rules (links still resolve and connect)'
complete -c docker-link -n "__fish_docker_link_using_subcommand watcher; and __fish_seen_subcommand_from run" -l keeper -d 'Keep the keeper container alive (set by `start`, whose watcher has one)'
complete -c docker-link -n "__fish_docker_link_using_subcommand watcher; and __fish_seen_subcommand_from run" -l no-net -d 'Leave the net duty off: set by `start` for a container made without its privileges'
complete -c docker-link -n "__fish_docker_link_using_subcommand watcher; and __fish_seen_subcommand_from run" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand watcher; and __fish_seen_subcommand_from keep" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand doctor" -l format -d 'Format output: table, json, or a Go template (\'{{.Check}}: {{.Status}}\')' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand doctor" -l kernel-probe -d 'Probe the kernel features and print the raw report (doctor runs itself so in a user namespace when it is not root)'
complete -c docker-link -n "__fish_docker_link_using_subcommand doctor" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand install" -l dir -d 'Plugin directory (default: $DOCKER_CONFIG/cli-plugins, else ~/.docker/cli-plugins)' -r -f -a "(__fish_complete_directories)"
complete -c docker-link -n "__fish_docker_link_using_subcommand install" -l force -d 'Overwrite a docker-init (or other docker-<name>) that is not ours'
complete -c docker-link -n "__fish_docker_link_using_subcommand install" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand uninstall" -l dir -d 'Plugin directory (default: $DOCKER_CONFIG/cli-plugins, else ~/.docker/cli-plugins)' -r -f -a "(__fish_complete_directories)"
complete -c docker-link -n "__fish_docker_link_using_subcommand uninstall" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand ls" -s f -l filter -d 'Filter output (`name=…`, `id=…`, `parent=…`, `alias=…`, `status=…`)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand ls" -l format -d 'Format output: table, json, or a Go template (`table {{.Name}}\\t{{.ID}}`)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand ls" -s a -l all -d 'Include stopped containers'
complete -c docker-link -n "__fish_docker_link_using_subcommand ls" -s q -l quiet -d 'Only print container ids'
complete -c docker-link -n "__fish_docker_link_using_subcommand ls" -l tree -d 'Show the graph as a tree'
complete -c docker-link -n "__fish_docker_link_using_subcommand ls" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and not __fish_seen_subcommand_from up down status routes render diff lint explain reload logs" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and not __fish_seen_subcommand_from up down status routes render diff lint explain reload logs" -f -a "up" -d 'Create (or converge) the proxy container and apply the routes'
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and not __fish_seen_subcommand_from up down status routes render diff lint explain reload logs" -f -a "down" -d 'Remove the proxy container'
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and not __fish_seen_subcommand_from up down status routes render diff lint explain reload logs" -f -a "status" -d 'Show the proxies, their routes, quarantined routes and reloads'
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and not __fish_seen_subcommand_from up down status routes render diff lint explain reload logs" -f -a "routes" -d 'List the routes the labels give'
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and not __fish_seen_subcommand_from up down status routes render diff lint explain reload logs" -f -a "render" -d 'Render the configuration as it would be applied'
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and not __fish_seen_subcommand_from up down status routes render diff lint explain reload logs" -f -a "diff" -d 'Show what the next apply would change'
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and not __fish_seen_subcommand_from up down status routes render diff lint explain reload logs" -f -a "lint" -d 'Check every proxy label of the containers (all, or the ones named)'
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and not __fish_seen_subcommand_from up down status routes render diff lint explain reload logs" -f -a "explain" -d 'Say which container, network, address and label answer HOST[/PATH]'
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and not __fish_seen_subcommand_from up down status routes render diff lint explain reload logs" -f -a "reload" -d 'Apply the routes now: validate, swap, reload, confirm'
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and not __fish_seen_subcommand_from up down status routes render diff lint explain reload logs" -f -a "logs" -d 'Show the proxy\'s logs (`docker logs` of its container)'
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from up" -l engine -d 'The data plane' -r -f -a "nginx\t''
haproxy\t''"
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from up" -l image -d 'The image (default: the official `nginx` or `haproxy` image); any image with the engine\'s binary, `sh` and `mv` works' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from up" -s p -l publish -d 'Publish a port, `[IP:]HOST:CONTAINER`; the proxy listens on every CONTAINER port (default 80)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from up" -l certs -d 'Terminate TLS with the certificates in DIR, `HOST.crt` with `HOST.key` (a file named after a parent domain, `example.com.crt`, serves its subdomains and `*.example.com`): a directory on the daemon\'s host, or a volume, mounted read-only. After renewing a certificate, `docker proxy reload`' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from up" -l tls-port -d 'A container port that terminates TLS (default 443 with --certs); publish it with -p' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from up" -l stream -d 'Forward a port as a stream (tcp, or udp with nginx) to the containers that claim it (`proxy.<alias>.scheme=tcp|udp`, `proxy.<alias>.port=PORT:TARGET`); publish it with -p too' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from up" -l network -d 'Connect the proxy to this network at start (it also joins its backends\' networks)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from up" -l domain -d 'Route `alias.<domain>` for each domain (an FQDN alias is used as is)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from up" -l only-label -d 'Route only containers carrying this label (and value): a proxy scoped to a project (`com.docker.compose.project=shop`); repeat to require several' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from up" -l template-dir -d 'Replace the embedded template with `nginx.conf.tera` or `haproxy.cfg.tera` from DIR' -r -F
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from up" -l name -d 'The proxy\'s (and its container\'s) name' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from up" -l explicit -d 'Route only containers with `proxy.*` or `interlock.*` labels'
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from up" -l allow-raw-directives -d 'Accept Interlock\'s raw `interlock.backend_option` directives'
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from up" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from down" -l name -d 'Which proxy (default: the only one)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from down" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from status" -l name -d 'Which proxy (default: the only one)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from status" -l format -d 'table, json, or a Go template' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from routes" -l name -d 'Which proxy (default: the only one)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from routes" -l format -d 'table, json, or a Go template (`{{.Host}} {{.Address}}`)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from routes" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from render" -l name -d 'Which proxy (default: the only one)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from render" -l stdout -d 'Print the configuration (default: write it to ./<proxy>.<conf|cfg>)'
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from render" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from diff" -l name -d 'Which proxy (default: the only one)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from diff" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from lint" -l name -d 'Which proxy (default: the only one)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from lint" -l format -d 'table, json, or a Go template' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from lint" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from explain" -l name -d 'Which proxy (default: the only one)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from explain" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from reload" -l name -d 'Which proxy (default: the only one)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from reload" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from logs" -l name -d 'Which proxy (default: the only one)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from logs" -l tail -d 'Lines from the end' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from logs" -s f -l follow -d 'Follow the log'
complete -c docker-link -n "__fish_docker_link_using_subcommand proxy; and __fish_seen_subcommand_from logs" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and not __fish_seen_subcommand_from up down status wait config graph" -s f -l file -d 'Compose file(s) to read `x-network` from (default: $COMPOSE_FILE, else compose.yaml or docker-compose.yml in this directory or the nearest parent)' -r -F
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and not __fish_seen_subcommand_from up down status wait config graph" -l network-file -d 'Network configuration file(s), YAML or JSON (`:`-separated lists too)' -r -F
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and not __fish_seen_subcommand_from up down status wait config graph" -s p -l project -d 'Compose project name (default: $COMPOSE_PROJECT_NAME, the files\' `name:`, the project directory\'s name)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and not __fish_seen_subcommand_from up down status wait config graph" -l default-mtu -d 'MTU of links that do not set one' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and not __fish_seen_subcommand_from up down status wait config graph" -l default-bridge-mode -d 'Mode of bridges that do not set one' -r -f -a "auto\t''
linux\t''
patch\t''"
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and not __fish_seen_subcommand_from up down status wait config graph" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and not __fish_seen_subcommand_from up down status wait config graph" -f -a "up" -d 'Create the declared links, bridges and tunnels for the running containers'
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and not __fish_seen_subcommand_from up down status wait config graph" -f -a "down" -d 'Remove every interface, bridge, tunnel and the switch namespace of the project'
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and not __fish_seen_subcommand_from up down status wait config graph" -f -a "status" -d 'Show every declared link with its state: up, waiting, failed (why), drift'
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and not __fish_seen_subcommand_from up down status wait config graph" -f -a "wait" -d 'Wait until a container\'s interface exists (and, with --ip, has its address)'
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and not __fish_seen_subcommand_from up down status wait config graph" -f -a "config" -d 'Validate the merged, interpolated configuration; `--show` prints it as JSON'
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and not __fish_seen_subcommand_from up down status wait config graph" -f -a "graph" -d 'Print the declared topology (containers, bridges, patches, tunnels)'
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from up" -s f -l file -d 'Compose file(s) to read `x-network` from (default: $COMPOSE_FILE, else compose.yaml or docker-compose.yml in this directory or the nearest parent)' -r -F
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from up" -l network-file -d 'Network configuration file(s), YAML or JSON (`:`-separated lists too)' -r -F
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from up" -s p -l project -d 'Compose project name (default: $COMPOSE_PROJECT_NAME, the files\' `name:`, the project directory\'s name)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from up" -l default-mtu -d 'MTU of links that do not set one' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from up" -l default-bridge-mode -d 'Mode of bridges that do not set one' -r -f -a "auto\t''
linux\t''
patch\t''"
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from up" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from down" -s f -l file -d 'Compose file(s) to read `x-network` from (default: $COMPOSE_FILE, else compose.yaml or docker-compose.yml in this directory or the nearest parent)' -r -F
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from down" -l network-file -d 'Network configuration file(s), YAML or JSON (`:`-separated lists too)' -r -F
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from down" -s p -l project -d 'Compose project name (default: $COMPOSE_PROJECT_NAME, the files\' `name:`, the project directory\'s name)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from down" -l default-mtu -d 'MTU of links that do not set one' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from down" -l default-bridge-mode -d 'Mode of bridges that do not set one' -r -f -a "auto\t''
linux\t''
patch\t''"
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from down" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from status" -l format -d '`table`, `json`, or a Go template (`{{.Container}} {{.State}}`)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from status" -s f -l file -d 'Compose file(s) to read `x-network` from (default: $COMPOSE_FILE, else compose.yaml or docker-compose.yml in this directory or the nearest parent)' -r -F
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from status" -l network-file -d 'Network configuration file(s), YAML or JSON (`:`-separated lists too)' -r -F
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from status" -s p -l project -d 'Compose project name (default: $COMPOSE_PROJECT_NAME, the files\' `name:`, the project directory\'s name)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from status" -l default-mtu -d 'MTU of links that do not set one' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from status" -l default-bridge-mode -d 'Mode of bridges that do not set one' -r -f -a "auto\t''
linux\t''
patch\t''"
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from wait" -l timeout -d 'Give up after this many seconds (exit 1)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from wait" -s f -l file -d 'Compose file(s) to read `x-network` from (default: $COMPOSE_FILE, else compose.yaml or docker-compose.yml in this directory or the nearest parent)' -r -F
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from wait" -l network-file -d 'Network configuration file(s), YAML or JSON (`:`-separated lists too)' -r -F
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from wait" -s p -l project -d 'Compose project name (default: $COMPOSE_PROJECT_NAME, the files\' `name:`, the project directory\'s name)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from wait" -l default-mtu -d 'MTU of links that do not set one' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from wait" -l default-bridge-mode -d 'Mode of bridges that do not set one' -r -f -a "auto\t''
linux\t''
patch\t''"
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from wait" -l ip -d 'Also wait until it has an address (other than IPv6 link-local)'
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from wait" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from config" -s f -l file -d 'Compose file(s) to read `x-network` from (default: $COMPOSE_FILE, else compose.yaml or docker-compose.yml in this directory or the nearest parent)' -r -F
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from config" -l network-file -d 'Network configuration file(s), YAML or JSON (`:`-separated lists too)' -r -F
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from config" -s p -l project -d 'Compose project name (default: $COMPOSE_PROJECT_NAME, the files\' `name:`, the project directory\'s name)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from config" -l default-mtu -d 'MTU of links that do not set one' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from config" -l default-bridge-mode -d 'Mode of bridges that do not set one' -r -f -a "auto\t''
linux\t''
patch\t''"
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from config" -l show -d 'Print the configuration as JSON (defaults filled in), as conlink\'s --show-config'
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from config" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from graph" -l format -d 'Graphviz dot (`dot -Tsvg`) or JSON' -r -f -a "dot\t''
json\t''"
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from graph" -s f -l file -d 'Compose file(s) to read `x-network` from (default: $COMPOSE_FILE, else compose.yaml or docker-compose.yml in this directory or the nearest parent)' -r -F
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from graph" -l network-file -d 'Network configuration file(s), YAML or JSON (`:`-separated lists too)' -r -F
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from graph" -s p -l project -d 'Compose project name (default: $COMPOSE_PROJECT_NAME, the files\' `name:`, the project directory\'s name)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from graph" -l default-mtu -d 'MTU of links that do not set one' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from graph" -l default-bridge-mode -d 'Mode of bridges that do not set one' -r -f -a "auto\t''
linux\t''
patch\t''"
complete -c docker-link -n "__fish_docker_link_using_subcommand net; and __fish_seen_subcommand_from graph" -s h -l help -d 'Print help'
complete -c docker-link -n "__fish_docker_link_using_subcommand init" -s e -l remap-exit -d 'Report exit code CODE as 0' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand init" -s r -l rewrite -d 'Rewrite signal FROM to TO before forwarding; TO 0 drops it' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand init" -l grace -d 'Grace period before SIGKILL on shutdown (default 5)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand init" -l wait -d 'Start COMMAND only once HOST:PORT accepts connections' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand init" -l wait-net -d 'Start COMMAND only once interface DEV exists and is up (docker net)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand init" -l wait-timeout -d 'Give up waiting after SECS (default 60)' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand init" -l bind-port -d 'Report running only once PORT is listened on' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand init" -l ready-file -d 'Write PATH when COMMAND is running' -r -F
complete -c docker-link -n "__fish_docker_link_using_subcommand init" -l web-hook -d 'PUT the state (dock\'s JSON payload) to URL on each change' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand init" -l io -d 'COMMAND\'s stdin and output (stderr too, as 2>&1) over file://PATH (output appended, stdin /dev/null), tcp://HOST:PORT or tls://HOST:PORT' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand init" -l io-ca -d 'PEM CA that verifies a tls:// peer (default: the system\'s roots)' -r -F
complete -c docker-link -n "__fish_docker_link_using_subcommand init" -l log-rotate -d 'With --io file://: gzip the log to <UTC time>-NAME.gz every HOURS (fractions allowed), keep the 5 newest archives' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand init" -l stdout-prefix -d 'Put PREFIX before every output line; COLOUR is white, green, blue, magenta, yellow, cyan or red' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand init" -s p -l pdeathsig -d 'Signal to receive when the parent dies' -r
complete -c docker-link -n "__fish_docker_link_using_subcommand init" -s g -l group -d 'Forward signals to COMMAND\'s process group'
complete -c docker-link -n "__fish_docker_link_using_subcommand init" -l thug -d 'A stop signal COMMAND blocks or ignores becomes SIGKILL'
complete -c docker-link -n "__fish_docker_link_using_subcommand init" -l no-teardown -d 'Leave the other processes alone when COMMAND exits'
complete -c docker-link -n "__fish_docker_link_using_subcommand init" -l wait-links -d 'Also wait for every *_PORT_<n>_TCP link variable'
complete -c docker-link -n "__fish_docker_link_using_subcommand init" -l strict-port-binding -d '... and only by a process of this init\'s tree'
complete -c docker-link -n "__fish_docker_link_using_subcommand init" -s s -l subreaper -d 'Register as a child subreaper (the default outside PID 1)'
complete -c docker-link -n "__fish_docker_link_using_subcommand init" -s w -l warn-reaping -d 'Warn when reaping a zombie that is not COMMAND'
complete -c docker-link -n "__fish_docker_link_using_subcommand init" -s v -l verbose -d 'More diagnostics on stderr'
complete -c docker-link -n "__fish_docker_link_using_subcommand init" -s V -l version -d 'Print the version'
complete -c docker-link -n "__fish_docker_link_using_subcommand init" -s h -l help -d 'Print help (see more with \'--help\')'
