# bash completion for hearthctl (Hearth's admin command line).
#   source scripts/hearthctl-completion.bash
# or install it as /etc/bash_completion.d/hearthctl.
# Completes commands, subcommands, each command's options, roles and files.

_hearthctl()
{
    local cur prev words cword
    if declare -F _init_completion >/dev/null; then
        _init_completion || return
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
        prev="${COMP_WORDS[COMP_CWORD-1]}"
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    fi

    local globals="--url --token --json --yes --reason --help"
    local groups="login logout whoami staff accounts households notifications audit events db keys catalog billing prices refunds credits"

    # Values of options.
    case "$prev" in
        --role) COMPREPLY=($(compgen -W "agent supervisor admin" -- "$cur")); return ;;
        --db|--output|--key-file) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --url|--token|--reason|--email|--name|--to|--target|--staff|--since|--after|--type|--limit|--interval|--days|--until|--plan|--country|--amount|--effective|--notice-days|--grandfather-months|--currency)
            return ;;
    esac

    # The command words typed so far (skipping options and their values).
    local group="" sub="" i w
    for ((i = 1; i < cword; i++)); do
        w="${words[i]}"
        case "$w" in
            --url|--token|--reason|--role|--db|--output|--key-file|--email|--name|--to|--target|--staff|--since|--after|--type|--limit|--interval|--days|--until|--plan|--country|--amount|--effective|--notice-days|--grandfather-months|--currency)
                ((i++)); continue ;;
            -*) continue ;;
        esac
        if [[ -z "$group" ]]; then group="$w"; elif [[ -z "$sub" ]]; then sub="$w"; fi
    done

    if [[ -z "$group" ]]; then
        COMPREPLY=($(compgen -W "$groups $globals" -- "$cur"))
        return
    fi

    local subs="" opts=""
    case "$group" in
        login) opts="--email --password-stdin --token-stdin" ;;
        logout|whoami) opts="" ;;
        audit) opts="--target --staff --since --limit" ;;
        staff) subs="create add list disable set-role" ;;
        accounts) subs="search show lock unlock sign-out-all export erase" ;;
        households) subs="show reset grant-travel" ;;
        notifications) subs="list resend" ;;
        events) subs="tail" ;;
        db) subs="migrate status" ;;
        keys) subs="list rotate retire" ;;
        catalog) subs="show import" ;;
        billing) subs="run runs" ;;
        prices) subs="schedule" ;;
        refunds) subs="create" ;;
        credits) subs="grant" ;;
    esac
    if [[ -n "$subs" && -z "$sub" ]]; then
        COMPREPLY=($(compgen -W "$subs --help" -- "$cur"))
        return
    fi
    case "$group $sub" in
        "staff create") opts="--email --role --db --name --password-stdin --force" ;;
        "staff add") opts="--email --role --name --password-stdin" ;;
        "staff set-role")
            # ID ROLE: offer roles once the id is there.
            local npos=0
            for ((i = 1; i < cword; i++)); do [[ "${words[i]}" != -* ]] && ((npos++)); done
            if ((npos == 3)); then COMPREPLY=($(compgen -W "agent supervisor admin" -- "$cur")); return; fi ;;
        "accounts export") opts="--output" ;;
        "households grant-travel") opts="--days" ;;
        "notifications list") opts="--to --limit" ;;
        "events tail") opts="--after --type --limit --follow --interval" ;;
        "db migrate"|"db status") opts="--db" ;;
        "keys list"|"keys rotate"|"keys retire") opts="--key-file" ;;
        "catalog show") opts="--country" ;;
        "catalog import") COMPREPLY=($(compgen -f -- "$cur")); [[ "$cur" == -* ]] || return ;;
        "billing run") opts="--until" ;;
        "prices schedule") opts="--plan --country --amount --effective --notice-days --grandfather-months" ;;
        "refunds create") opts="--amount" ;;
        "credits grant") opts="--amount --currency" ;;
    esac
    if [[ "$cur" == -* || -n "$opts" ]]; then
        COMPREPLY=($(compgen -W "$opts $globals" -- "$cur"))
    fi
}
complete -F _hearthctl hearthctl
