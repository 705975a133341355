# Bash completion for every pgsync-* tool: option names, fixed option values, and file names
# for FILE options. Self-contained: works with or without the bash-completion package.
#
#   source completions/pgsync.bash     # or install it where bash-completion finds it

# The options each tool accepts, for completing option names; for pgsync-config, $2 is the
# command (validate, doctor, show, init), empty before it.
_pgsync_options() {
    local logging='-v --verbose -q --quiet --log-format -V --version -h --help'
    local common="-d --dbname --config $logging"
    case $1 in
        pgsync-config)
            case $2 in
                validate) echo "$logging --format --check-db -d --dbname" ;;
                doctor) echo "$logging --format -d --dbname" ;;
                show) echo "$logging --no-mask" ;;
                init) echo "$logging --force" ;;
                *) echo "$logging" ;;
            esac ;;
        pgsync-init)
            echo "$common -S --slot -P --publication -t --table --all-tables --hold" \
                 "--hold-timeout --if-not-exists --drop --create-timeout" ;;
        pgsync-snapshot)
            echo "$common -t --table -P --publication -j --jobs -o --output" \
                 "--numbers-as-strings --progress --no-progress --no-init-line" ;;
        pgsync-stream)
            echo "$common -S --slot -P --publication --ack-file -o --output --start" \
                 "-E --endpos --no-loop --format -s --status-interval --spill-dir" ;;
        pgsync-publish)
            echo "--config $logging --nats --stream --ack-file --create-stream --replicas" \
                 "--max-in-flight --ack-timeout" ;;
        pgsync-serve)
            echo "$common -S --slot --source -P --publication --listen --storage-dir" \
                 "--jwt-secret-env --api-key-env --jwt-public-key-file --jwks-file --jwt-claim" \
                 "--jwt-issuer --jwt-audience --insecure --retain-bytes --retain-age" \
                 "--client-queue-bytes --client-timeout --segment-bytes --max-clients --load-jobs --threads --ready-file --allow-origin --static-dir --idle-timeout --long-poll-timeout --sse-timeout --shape-chunk-bytes --max-shapes" ;;
    esac
}

# What the argument of option $1 of tool $2 completes to: "values: ..." (a fixed list),
# "file", "directory", "variable" (the name of an exported environment variable), "none" (free
# text such as a connection string or a name), or nothing when the option takes none.
_pgsync_argument() {
    case $1 in
        --log-format) echo "values: text json" ;;
        --format)
            if [[ $2 == pgsync-config ]]; then
                echo "values: text json"
            else
                echo "values: native wal2json debezium"
            fi ;;
        -o | --output | --ack-file | --config | --ready-file | --jwt-public-key-file | \
            --jwks-file) echo file ;;
        --spill-dir | --storage-dir | --static-dir) echo directory ;;
        --jwt-secret-env | --api-key-env) echo variable ;;
        -d | --dbname | -S | --slot | --source | -P | --publication | -t | --table | -j | --jobs | \
            --hold-timeout | --create-timeout | --start | -E | --endpos | -s | \
            --status-interval | --listen | --retain-bytes | --retain-age | \
            --client-queue-bytes | --client-timeout | --segment-bytes | --max-clients | --load-jobs | --threads | \
            --jwt-claim | --jwt-issuer | --jwt-audience | \
            --nats | --stream | --replicas | --max-in-flight | --ack-timeout | \
            --allow-origin | --idle-timeout | --long-poll-timeout | --sse-timeout | --shape-chunk-bytes | --max-shapes) echo none ;;
    esac
}

_pgsync_complete() {
    local tool=${1##*/} cur=${COMP_WORDS[COMP_CWORD]} prev='' option='' prefix=''
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
    COMPREPLY=()

    # "--opt=value": bash splits the word at '=' (it is in COMP_WORDBREAKS), giving the
    # words "--opt" "=" "value"; without that split, the word is "--opt=value" itself.
    if [[ $cur == = ]]; then
        option=$prev cur=''
    elif [[ $prev == = ]] && ((COMP_CWORD > 1)); then
        option=${COMP_WORDS[COMP_CWORD - 2]}
    elif [[ $cur == --*=* ]]; then
        option=${cur%%=*} prefix=${cur%%=*}= cur=${cur#*=}
    elif [[ -n $(_pgsync_argument "$prev" "$tool") ]]; then
        option=$prev
    fi

    if [[ -n $option ]]; then
        local kind
        kind=$(_pgsync_argument "$option" "$tool")
        case $kind in
            values:*)
                local value
                while IFS= read -r value; do
                    COMPREPLY+=("$prefix$value")
                done < <(compgen -W "${kind#values:}" -- "$cur")
                ;;
            file | directory)
                compopt -o filenames 2>/dev/null
                local file flag=-f
                [[ $kind == directory ]] && flag=-d
                while IFS= read -r file; do
                    COMPREPLY+=("$prefix$file")
                done < <(compgen "$flag" -- "$cur")
                ;;
            variable)
                local name
                while IFS= read -r name; do
                    COMPREPLY+=("$prefix$name")
                done < <(compgen -e -- "$cur")
                ;;
        esac
        return 0
    fi

    local word
    if [[ $tool == pgsync-config ]]; then
        local command
        command=$(_pgsync_config_command)
        if [[ $cur == -* ]]; then
            while IFS= read -r word; do
                COMPREPLY+=("$word")
            done < <(compgen -W "$(_pgsync_options "$tool" "$command")" -- "$cur")
        elif [[ -z $command ]]; then
            while IFS= read -r word; do
                COMPREPLY+=("$word")
            done < <(compgen -W 'validate doctor show init' -- "$cur")
        else
            _pgsync_config_files "$cur"
        fi
        return 0
    fi

    # The other tools take no operands, so any other word is an option name.
    while IFS= read -r word; do
        COMPREPLY+=("$word")
    done < <(compgen -W "$(_pgsync_options "$tool")" -- "$cur")
    return 0
}

# pgsync-config's command: the first word before the cursor that is neither an option nor an
# option's argument; empty when there is none yet.
_pgsync_config_command() {
    local i word
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        [[ $word == = || ${COMP_WORDS[i - 1]} == = || $word == -* ]] && continue
        ((i > 1)) && [[ -n $(_pgsync_argument "${COMP_WORDS[i - 1]}" pgsync-config) ]] && continue
        echo "$word"
        return
    done
}

# Configuration files for pgsync-config's operands: *.yaml, *.yml and *.json, and directories
# to descend into.
_pgsync_config_files() {
    compopt -o filenames 2>/dev/null
    local file
    while IFS= read -r file; do
        if [[ -d $file ]]; then
            COMPREPLY+=("$file")
        else
            case $file in
                *.yaml | *.yml | *.json) COMPREPLY+=("$file") ;;
            esac
        fi
    done < <(compgen -f -- "$1")
}

complete -F _pgsync_complete pgsync-config
complete -F _pgsync_complete pgsync-init
complete -F _pgsync_complete pgsync-snapshot
complete -F _pgsync_complete pgsync-stream
complete -F _pgsync_complete pgsync-serve
complete -F _pgsync_complete pgsync-publish
