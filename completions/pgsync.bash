# Bash completion for every pgsync-* tool: option names, fixed option values, and file names
# for FILE options. Self-contained: works with or without the bash-completion package.
#
#   source completions/pgsync.bash     # or install it where bash-completion finds it

# The options each tool accepts, for completing option names.
_pgsync_options() {
    local common='-d --dbname -v --verbose -q --quiet --log-format -V --version -h --help'
    case $1 in
        pgsync-init)
            echo "$common -S --slot -P --publication -t --table --all-tables --hold" \
                 "--hold-timeout --if-not-exists --drop --create-timeout" ;;
        pgsync-snapshot)
            echo "$common -t --table -P --publication -j --jobs -o --output" \
                 "--numbers-as-strings --progress --no-progress --no-init-line" ;;
        pgsync-stream)
            echo "$common -S --slot -P --publication --ack-file -o --output --start" \
                 "-E --endpos --no-loop --format -s --status-interval --spill-dir" ;;
    esac
}

# What the argument of an option completes to: "values: ..." (a fixed list), "file",
# "directory", "none" (free text such as a connection string or a name), or nothing when the
# option takes none.
_pgsync_argument() {
    case $1 in
        --log-format) echo "values: text json" ;;
        --format) echo "values: native wal2json debezium" ;;
        -o | --output | --ack-file) echo file ;;
        --spill-dir) echo directory ;;
        -d | --dbname | -S | --slot | -P | --publication | -t | --table | -j | --jobs | \
            --hold-timeout | --create-timeout | --start | -E | --endpos | -s | \
            --status-interval) echo none ;;
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
    elif [[ -n $(_pgsync_argument "$prev") ]]; then
        option=$prev
    fi

    if [[ -n $option ]]; then
        local kind
        kind=$(_pgsync_argument "$option")
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
        esac
        return 0
    fi

    # The tools take no operands, so any other word is an option name.
    local word
    while IFS= read -r word; do
        COMPREPLY+=("$word")
    done < <(compgen -W "$(_pgsync_options "$tool")" -- "$cur")
    return 0
}

complete -F _pgsync_complete pgsync-init
complete -F _pgsync_complete pgsync-snapshot
complete -F _pgsync_complete pgsync-stream
