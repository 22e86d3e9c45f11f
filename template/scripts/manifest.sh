# Sourced by the scripts in this folder: read agent.yaml without Python or a YAML tool.

# registry.<key> from agent.yaml, as Copier writes it (a block mapping of plain scalars).
manifest_registry() {
    awk -v key="$1" '
        /^[^[:space:]#]/ { in_registry = /^registry:[[:space:]]*$/; next }
        in_registry && $1 == key ":" {
            sub(/^[^:]*:[[:space:]]*/, ""); sub(/[[:space:]]+#.*$/, "")
            gsub(/^["\047]|["\047]$/, ""); print; exit
        }' agent.yaml
}
