# Fish completion for every pgsync-* tool: option names, fixed option values, and file names for
# FILE options. Fish loads completions by command name: install this file as pgsync-config.fish,
# pgsync-init.fish, pgsync-snapshot.fish, pgsync-stream.fish, pgsync-serve.fish and pgsync-publish.fish (or source it
# from config.fish).

# Options every tool shares. The tools take no operands: never offer file names unless an
# option asks for one.
set -l tools -c pgsync-init -c pgsync-snapshot -c pgsync-stream -c pgsync-serve
complete $tools -f
complete $tools -s d -l dbname -x -d 'Database: connection string, URI or database name'
complete $tools -s v -l verbose -d 'Print more diagnostics on stderr'
complete $tools -s q -l quiet -d 'Print only errors on stderr'
complete $tools -l log-format -x -a 'text json' -d 'Format of diagnostics on stderr'
complete $tools -s V -l version -d 'Print the version and exit'
complete $tools -s h -l help -d 'Show help and exit'
complete $tools -l config -r -F -d 'Read options not given on the command line from this pgsync.yaml'

# pgsync-config: a command first, then configuration files (*.yaml, *.yml, *.json), and
# directories to descend into; other files are not offered.
function __pgsync_config_files
    for file in (complete -C "__fish_command_without_completions "(commandline -ct))
        string match -qr '(/|\.yaml|\.yml|\.json)$' -- (string split -f1 \t -- $file)
        and echo $file
    end
end
set -l commands validate doctor show init
complete -c pgsync-config -f
complete -c pgsync-config -s v -l verbose -d 'Print more diagnostics on stderr'
complete -c pgsync-config -s q -l quiet -d 'Print only errors on stderr'
complete -c pgsync-config -l log-format -x -a 'text json' -d 'Format of diagnostics on stderr'
complete -c pgsync-config -s V -l version -d 'Print the version and exit'
complete -c pgsync-config -s h -l help -d 'Show help and exit'
complete -c pgsync-config -n "not __fish_seen_subcommand_from $commands" -a validate -d 'Check files: syntax, schema and meaning'
complete -c pgsync-config -n "not __fish_seen_subcommand_from $commands" -a doctor -d 'Check the database behind a file'
complete -c pgsync-config -n "not __fish_seen_subcommand_from $commands" -a show -d 'Print the effective configuration, secrets masked'
complete -c pgsync-config -n "not __fish_seen_subcommand_from $commands" -a init -d 'Write a commented starting file'
complete -c pgsync-config -n "__fish_seen_subcommand_from $commands" -a '(__pgsync_config_files)'
complete -c pgsync-config -n '__fish_seen_subcommand_from validate doctor' -l format -x -a 'text json' -d 'Report format'
complete -c pgsync-config -n '__fish_seen_subcommand_from validate' -l check-db -d 'Also connect and check the database'
complete -c pgsync-config -n '__fish_seen_subcommand_from validate doctor' -s d -l dbname -x -d 'Database: connection string, URI or database name'
complete -c pgsync-config -n '__fish_seen_subcommand_from show' -l no-mask -d 'Show the password in source.dsn instead of ****'
complete -c pgsync-config -n '__fish_seen_subcommand_from init' -l force -d 'Overwrite an existing file'

complete -c pgsync-init -s S -l slot -x -d 'Logical replication slot name'
complete -c pgsync-init -s P -l publication -x -d 'Publication name'
complete -c pgsync-init -s t -l table -x -d 'Table to publish (repeat for more)'
complete -c pgsync-init -l all-tables -d 'Publish every table (FOR ALL TABLES)'
complete -c pgsync-init -l hold -d 'Keep the exported snapshot until the reader closes the pipe'
complete -c pgsync-init -l hold-timeout -x -d 'Longest time --hold keeps the snapshot (seconds)'
complete -c pgsync-init -l if-not-exists -d 'Reuse the slot if it already exists'
complete -c pgsync-init -l drop -d 'Drop the slot, and the publication if pgsync-init created it'
complete -c pgsync-init -l create-timeout -x -d 'Longest wait for slot creation (seconds)'

complete -c pgsync-snapshot -s t -l table -x -d 'Table to read (repeat for more)'
complete -c pgsync-snapshot -s P -l publication -x -d 'Read the tables of this publication'
complete -c pgsync-snapshot -s j -l jobs -x -d 'Number of parallel workers'
complete -c pgsync-snapshot -s o -l output -r -F -d 'Write to this file instead of stdout'
complete -c pgsync-snapshot -l numbers-as-strings -d 'Write bigint and numeric values as strings'
complete -c pgsync-snapshot -l progress -d 'Show progress on stderr even when not a terminal'
complete -c pgsync-snapshot -l no-progress -d 'Never show progress'
complete -c pgsync-snapshot -l no-init-line -d 'Do not read the pgsync-init line from stdin'

complete -c pgsync-stream -s S -l slot -x -d 'Logical replication slot to read'
complete -c pgsync-stream -s P -l publication -x -d 'Publication to stream (repeat or comma-separate)'
complete -c pgsync-stream -l ack-file -r -F -d 'Confirm only what the consumer acknowledged here'
complete -c pgsync-stream -s o -l output -r -F -d 'Append to this file instead of stdout'
complete -c pgsync-stream -l start -x -d 'Start after this LSN instead of the slot position'
complete -c pgsync-stream -s E -l endpos -x -d 'Stop once the stream reaches this LSN'
complete -c pgsync-stream -l no-loop -d 'Exit on connection loss instead of reconnecting'
complete -c pgsync-stream -l format -x -a 'native wal2json debezium' -d 'Record format'
complete -c pgsync-stream -s s -l status-interval -x -d 'Longest time between status updates (seconds)'
complete -c pgsync-stream -l spill-dir -x -a '(__fish_complete_directories)' -d 'Directory for large in-progress transactions'

complete -c pgsync-serve -s S -l slot -x -d 'Logical replication slot to read (its own)'
complete -c pgsync-serve -l source -x -d 'Read a NATS JetStream stream of pgsync-publish instead of a slot: nats://host:port/STREAM'
complete -c pgsync-serve -s P -l publication -x -d 'Publication whose tables are served'
complete -c pgsync-serve -l listen -x -d 'Address to listen on, host:port (default 127.0.0.1:8080)'
complete -c pgsync-serve -l storage-dir -x -a '(__fish_complete_directories)' -d 'Directory of the change log'
complete -c pgsync-serve -l jwt-secret-env -x -a '(set -xn)' -d 'Environment variable holding the HS256 secret of client tokens'
complete -c pgsync-serve -l api-key-env -x -a '(set -xn)' -d 'Environment variable holding the API key of /v1/stream and /v1/token'
complete -c pgsync-serve -l jwt-public-key-file -r -F -d 'PEM public key of an identity provider (RS256 or ES256)'
complete -c pgsync-serve -l jwks-file -r -F -d 'JWKS file of an identity provider\'s keys'
complete -c pgsync-serve -l jwt-claim -x -d 'Claim holding the grants (default pgsync)'
complete -c pgsync-serve -l jwt-issuer -x -d 'Required iss of every token'
complete -c pgsync-serve -l jwt-audience -x -d 'Required aud of every token'
complete -c pgsync-serve -l insecure -d 'No authentication (loopback addresses only)'
complete -c pgsync-serve -l retain-bytes -x -d 'Most change log to keep (default 1GB)'
complete -c pgsync-serve -l retain-age -x -d 'How long changes are kept in the log (default 7d)'
complete -c pgsync-serve -l client-queue-bytes -x -d 'Most data queued for one client (default 4MB)'
complete -c pgsync-serve -l client-timeout -x -d 'Seconds a client may leave its queue unread (default 30)'
complete -c pgsync-serve -l segment-bytes -x -d 'Log segment size (default 64MB)'
complete -c pgsync-serve -l max-clients -x -d 'Most WebSocket connections at once (default 20000)'
complete -c pgsync-serve -l load-jobs -x -d 'Database connections for initial loads (default 2)'
complete -c pgsync-serve -l threads -x -d 'Event-loop threads serving the connections (default 0: one per CPU)'
complete -c pgsync-serve -l ready-file -r -F -d 'Write the bound host:port here once listening'
complete -c pgsync-serve -l allow-origin -x -d 'A web page origin allowed to connect (repeatable)'
complete -c pgsync-serve -l static-dir -x -a '(__fish_complete_directories)' -d 'Serve the files of DIR at /app/'
complete -c pgsync-serve -l idle-timeout -x -d 'Ping idle clients, close unresponsive ones after SECS'
complete -c pgsync-serve -l long-poll-timeout -x -d 'Seconds a live /v1/shape request is held'
complete -c pgsync-serve -l sse-timeout -x -d 'Seconds a /v1/shape SSE response lasts'
complete -c pgsync-serve -l shape-chunk-bytes -x -d 'End a /v1/shape snapshot chunk past this size'
complete -c pgsync-serve -l max-shapes -x -d '/v1/shape shapes held at once'

# pgsync-publish: no database options; NATS, the stream and the acknowledgements.
set -l publish -c pgsync-publish
complete $publish -f
complete $publish -s v -l verbose -d 'Print more diagnostics on stderr'
complete $publish -s q -l quiet -d 'Print only errors on stderr'
complete $publish -l log-format -x -a 'text json' -d 'Format of diagnostics on stderr'
complete $publish -s V -l version -d 'Print the version and exit'
complete $publish -s h -l help -d 'Show help and exit'
complete $publish -l config -r -F -d 'Read options not given on the command line from this pgsync.yaml'
complete $publish -l nats -x -d 'NATS server URLs, comma-separated'
complete $publish -l stream -x -d 'JetStream stream to publish to'
complete $publish -l ack-file -r -F -d "Write each stored transaction's end_lsn here"
complete $publish -l create-stream -d 'Create the stream when missing'
complete $publish -l replicas -x -d 'Replicas of a stream --create-stream creates'
complete $publish -l max-in-flight -x -d 'Most messages waiting for an acknowledgement'
complete $publish -l ack-timeout -x -d 'Seconds to wait for an acknowledgement'
