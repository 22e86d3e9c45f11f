#Requires -Version 7.2
<#
.SYNOPSIS
One-time setup of the registry, so the Foundry project can pull the agent's image.
The PowerShell twin of setup-acr.sh.

.DESCRIPTION
1. Creates the Azure Container Registry if it does not exist (and its resource group).
2. Enables authentication-as-ARM on it (the platform pulls with an Entra token).
3. Grants the Foundry project's managed identity the pull role on it.
The agent's own identity needs no role for the project's models and session storage.
Each step is skipped when it is already done, so running it again is safe.

.PARAMETER ProjectEndpoint
The Foundry project: https://<account>.services.ai.azure.com/api/projects/<project>
(default: $env:FOUNDRY_PROJECT_ENDPOINT).
.PARAMETER Acr
The registry (default: $env:ACR_NAME, else docker.registry in azure.yaml).
.PARAMETER ResourceGroup
Where to create the registry when it does not exist.
.PARAMETER Location
Its region (default: the resource group's; needed for a new group).
.PARAMETER DryRun
Print the commands that would change something; change nothing.

.EXAMPLE
scripts\setup-acr.ps1 -ResourceGroup my-group -Location swedencentral -ProjectEndpoint https://acct.services.ai.azure.com/api/projects/proj
#>
[CmdletBinding()]
param(
    [string]$ProjectEndpoint = $env:FOUNDRY_PROJECT_ENDPOINT,
    [string]$Acr = $env:ACR_NAME,
    [string]$ResourceGroup,
    [string]$Location,
    [switch]$DryRun
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

function Fail([string]$Message) {
    [Console]::Error.WriteLine("error: $Message")
    exit 1
}

# Print an az command that changes something, then run it (unless -DryRun).
function Invoke-Change([string[]]$Arguments) {
    Write-Host "+ az $($Arguments -join ' ')"
    if ($DryRun) { return }
    az @Arguments --output none
    if ($LASTEXITCODE -ne 0) { Fail "az $($Arguments[0..1] -join ' ') failed (see its output above)" }
}

. (Join-Path $PSScriptRoot manifest.ps1)

Set-Location (Split-Path -Parent $PSScriptRoot)
if (-not $Acr) { $Acr = Get-RegistrySetting acr_name }
if (-not $Acr) {
    Fail "no registry set: run 'copier update --trust --defaults -d acr_name=<name>', or pass -Acr <name>"
}
if ($ProjectEndpoint -notmatch '^https://([A-Za-z0-9-]+)\.[^/]+/api/projects/([^/?]+)/?$') {
    Fail 'no Foundry project endpoint: pass -ProjectEndpoint https://<account>.services.ai.azure.com/api/projects/<project> (or set FOUNDRY_PROJECT_ENDPOINT)'
}
$account, $project = $Matches[1], $Matches[2]

$agentRoles = "no role for the agent itself: its identity reaches the project's models and session storage; give it Foundry User (formerly Azure AI User) only for access beyond those"

if ($DryRun) {
    # Nothing is looked up: show every change a new setup makes.
    Write-Host '(dry run: nothing is checked or changed; a new setup would run:)'
    $group = if ($ResourceGroup) { $ResourceGroup } else { '<resource-group>' }
    Invoke-Change @('acr', 'create', '--name', $Acr, '--resource-group', $group, '--sku', 'Basic')
    Invoke-Change @('acr', 'config', 'authentication-as-arm', 'update', '--registry', $Acr, '--status', 'enabled')
    Invoke-Change @('role', 'assignment', 'create', '--assignee-object-id', "<principal id of project $project>",
        '--assignee-principal-type', 'ServicePrincipal', '--role', 'AcrPull', '--scope', "<id of registry $Acr>")
    Write-Host '(the role is Container Registry Repository Reader instead on registries with ABAC repository permissions)'
    Write-Host $agentRoles
    exit 0
}

if (-not (Get-Command az -CommandType Application -ErrorAction SilentlyContinue)) {
    Fail 'the Azure CLI (az) is not installed: https://learn.microsoft.com/cli/azure/install-azure-cli'
}
az account show --output none 2>$null
if ($LASTEXITCODE -ne 0) { Fail "not logged in to Azure: run 'az login'" }

# 1. The registry.
$registryId = az acr show --name $Acr --query id --output tsv 2>$null
if ($LASTEXITCODE -eq 0 -and $registryId) {
    Write-Host "registry $Acr exists"
}
else {
    if (-not $ResourceGroup) { Fail "registry '$Acr' does not exist: pass -ResourceGroup <name> to create it" }
    az group show --name $ResourceGroup --output none 2>$null
    if ($LASTEXITCODE -ne 0) {
        if (-not $Location) { Fail "resource group '$ResourceGroup' does not exist: pass -Location <region> to create it" }
        Invoke-Change @('group', 'create', '--name', $ResourceGroup, '--location', $Location)
        Write-Host "created resource group $ResourceGroup in $Location"
    }
    $create = @('acr', 'create', '--name', $Acr, '--resource-group', $ResourceGroup, '--sku', 'Basic')
    if ($Location) { $create += @('--location', $Location) }
    Invoke-Change $create
    $registryId = az acr show --name $Acr --query id --output tsv
    Write-Host "created registry $Acr"
}

# 2. Authentication-as-ARM: without it the platform's pull fails with ImageError.
$status = az acr config authentication-as-arm show --registry $Acr --query status --output tsv
if ($status -eq 'enabled') {
    Write-Host "authentication-as-ARM is enabled on $Acr"
}
else {
    Invoke-Change @('acr', 'config', 'authentication-as-arm', 'update', '--registry', $Acr, '--status', 'enabled')
    Write-Host "enabled authentication-as-ARM on $Acr"
}

# 3. The project's managed identity pulls the image.
$accountId = az resource list --name $account --resource-type Microsoft.CognitiveServices/accounts --query '[0].id' --output tsv
if (-not $accountId) {
    Fail "Foundry account '$account' not found in this subscription: check the endpoint, or 'az account set --subscription <id>'"
}
$principal = az resource show --ids "$accountId/projects/$project" --query identity.principalId --output tsv 2>$null
if ($LASTEXITCODE -ne 0 -or -not $principal) {
    Fail "project '$project' of '$account' has no managed identity: check the endpoint; enable the project's system-assigned identity"
}
# Registries with ABAC repository permissions do not honor AcrPull.
$mode = az acr show --name $Acr --query roleAssignmentMode --output tsv 2>$null
$role = if ($mode -eq 'AbacRepositoryPermissions') { 'Container Registry Repository Reader' } else { 'AcrPull' }
$count = az role assignment list --assignee $principal --scope $registryId --role $role --query 'length(@)' --output tsv
if ([int]$count -gt 0) {
    Write-Host "project $project can pull from $Acr ($role)"
}
else {
    Invoke-Change @('role', 'assignment', 'create', '--assignee-object-id', $principal,
        '--assignee-principal-type', 'ServicePrincipal', '--role', $role, '--scope', $registryId)
    Write-Host "granted $role on $Acr to project $project (role assignments can take a few minutes)"
}
Write-Host $agentRoles
