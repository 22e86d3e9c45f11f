# Sourced by the scripts in this folder: read azure.yaml without Python or a YAML tool.

# docker.<key> of the agent service in azure.yaml, as Copier writes it (plain scalars).
manifest_docker() {
    awk -v key="$1" '
        /^[[:space:]]*(#|$)/ { next }
        { indent = match($0, /[^ ]/) - 1 }
        in_docker && indent <= docker_indent { in_docker = 0 }
        /^[[:space:]]+docker:[[:space:]]*$/ { in_docker = 1; docker_indent = indent; next }
        in_docker && $1 == key ":" {
            sub(/^[^:]*:[[:space:]]*/, ""); sub(/[[:space:]]+#.*$/, "")
            gsub(/^["\047]|["\047]$/, ""); print; exit
        }' azure.yaml
}

# acr_name (docker.registry without .azurecr.io) or image_repository (docker.image).
manifest_registry() {
    local value
    if [[ $1 == acr_name ]]; then
        value="$(manifest_docker registry)"
        if [[ $value == *.azurecr.io ]]; then echo "${value%.azurecr.io}"; fi
    else
        manifest_docker image
    fi
}
