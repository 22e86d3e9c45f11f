#!/usr/bin/env bash
# One-time setup of the registry, so the Foundry project can pull the agent's image:
#   1. create the Azure Container Registry if it does not exist (and its resource group);
#   2. enable authentication-as-ARM on it (the platform pulls with an Entra token);
#   3. grant the Foundry project's managed identity the pull role on it.
# The agent's own identity needs no role for the project's models and session storage.
# Each step is skipped when it is already done, so running it again is safe.
#
# Usage: scripts/setup-acr.sh --project-endpoint URL [--resource-group RG] [options]
#   --project-endpoint URL  the Foundry project: https://<account>.services.ai.azure.com/api/projects/<project>
#                           (default: $FOUNDRY_PROJECT_ENDPOINT)
#   --acr NAME              the registry (default: $ACR_NAME, else docker.registry in azure.yaml)
#   --resource-group RG     where to create the registry when it does not exist
#   --location REGION       its region (default: the resource group's; needed for a new group)
#   --dry-run               print the commands that would change something; change nothing
set -euo pipefail
# shellcheck source=manifest.sh
source "$(dirname "$0")/manifest.sh"

fail() {
    echo "error: $*" >&2
    exit 1
}

# Print a command that changes something, then run it (unless --dry-run).
change() {
    printf '+'
    printf ' %q' "$@"
    printf '\n'
    ((dry_run)) || "$@" --output none
}

cd "$(dirname "$0")/.."
acr="${ACR_NAME:-}" endpoint="${FOUNDRY_PROJECT_ENDPOINT:-}" group="" location="" dry_run=0
while (($#)); do
    case "$1" in
        --acr) acr="${2:?--acr needs a registry name}"; shift ;;
        --project-endpoint) endpoint="${2:?--project-endpoint needs a URL}"; shift ;;
        --resource-group) group="${2:?--resource-group needs a name}"; shift ;;
        --location) location="${2:?--location needs a region}"; shift ;;
        --dry-run) dry_run=1 ;;
        -h | --help) sed -n '2,/^set -/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) fail "unknown option '$1' (see --help)" ;;
    esac
    shift
done

[[ -n $acr ]] || acr="$(manifest_registry acr_name)"
[[ -n $acr ]] \
    || fail "no registry set: run 'copier update --trust --defaults -d acr_name=<name>', or pass --acr <name>"
# https://<account>.services.ai.azure.com/api/projects/<project>
if [[ $endpoint =~ ^https://([A-Za-z0-9-]+)\.[^/]+/api/projects/([^/?]+)/?$ ]]; then
    account="${BASH_REMATCH[1]}" project="${BASH_REMATCH[2]}"
else
    fail "no Foundry project endpoint: pass --project-endpoint https://<account>.services.ai.azure.com/api/projects/<project> (or set FOUNDRY_PROJECT_ENDPOINT)"
fi

agent_roles="no role for the agent itself: its identity reaches the project's models and session storage; give it Foundry User (formerly Azure AI User) only for access beyond those"

if ((dry_run)); then
    # Nothing is looked up: show every change a new setup makes.
    echo "(dry run: nothing is checked or changed; a new setup would run:)"
    group="${group:-<resource-group>}"
    change az acr create --name "$acr" --resource-group "$group" --sku Basic
    change az acr config authentication-as-arm update --registry "$acr" --status enabled
    change az role assignment create --assignee-object-id "<principal id of project $project>" \
        --assignee-principal-type ServicePrincipal --role AcrPull --scope "<id of registry $acr>"
    echo "(the role is Container Registry Repository Reader instead on registries with ABAC repository permissions)"
    echo "$agent_roles"
    exit 0
fi

command -v az >/dev/null \
    || fail "the Azure CLI (az) is not installed: https://learn.microsoft.com/cli/azure/install-azure-cli"
az account show --output none 2>/dev/null || fail "not logged in to Azure: run 'az login'"

# 1. The registry.
if registry_id="$(az acr show --name "$acr" --query id --output tsv 2>/dev/null)"; then
    echo "registry $acr exists"
else
    [[ -n $group ]] || fail "registry '$acr' does not exist: pass --resource-group <name> to create it"
    if ! az group show --name "$group" --output none 2>/dev/null; then
        [[ -n $location ]] \
            || fail "resource group '$group' does not exist: pass --location <region> to create it"
        change az group create --name "$group" --location "$location"
        echo "created resource group $group in $location"
    fi
    change az acr create --name "$acr" --resource-group "$group" --sku Basic \
        ${location:+--location "$location"}
    registry_id="$(az acr show --name "$acr" --query id --output tsv)"
    echo "created registry $acr"
fi

# 2. Authentication-as-ARM: without it the platform's pull fails with ImageError.
status="$(az acr config authentication-as-arm show --registry "$acr" --query status --output tsv)"
if [[ $status == enabled ]]; then
    echo "authentication-as-ARM is enabled on $acr"
else
    change az acr config authentication-as-arm update --registry "$acr" --status enabled
    echo "enabled authentication-as-ARM on $acr"
fi

# 3. The project's managed identity pulls the image.
account_id="$(az resource list --name "$account" \
    --resource-type Microsoft.CognitiveServices/accounts --query "[0].id" --output tsv)"
[[ -n $account_id ]] \
    || fail "Foundry account '$account' not found in this subscription: check the endpoint, or 'az account set --subscription <id>'"
principal="$(az resource show --ids "$account_id/projects/$project" \
    --query identity.principalId --output tsv 2>/dev/null)" || principal=""
[[ -n $principal ]] \
    || fail "project '$project' of '$account' has no managed identity: check the endpoint; enable the project's system-assigned identity"
# Registries with ABAC repository permissions do not honor AcrPull.
mode="$(az acr show --name "$acr" --query roleAssignmentMode --output tsv 2>/dev/null || true)"
role=AcrPull
[[ $mode == AbacRepositoryPermissions ]] && role="Container Registry Repository Reader"
count="$(az role assignment list --assignee "$principal" --scope "$registry_id" --role "$role" \
    --query "length(@)" --output tsv)"
if ((count > 0)); then
    echo "project $project can pull from $acr ($role)"
else
    change az role assignment create --assignee-object-id "$principal" \
        --assignee-principal-type ServicePrincipal --role "$role" --scope "$registry_id"
    echo "granted $role on $acr to project $project (role assignments can take a few minutes)"
fi
echo "$agent_roles"
