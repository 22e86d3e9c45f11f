#Requires -Version 7.2
<#
.SYNOPSIS
Build the agent's image for linux/amd64, push it with a unique tag, and record the pushed
reference in .image.json, where deploy.py reads it. The PowerShell twin of build-and-push.sh.

.DESCRIPTION
Without -Local it builds in Azure with `az acr build` (no local engine needed). With -Local it
builds with docker, podman or buildah, logs in with `az acr login` and pushes.

.PARAMETER Acr
The registry (default: $env:ACR_NAME, else docker.registry in azure.yaml).
.PARAMETER Repository
The image repository (default: docker.image in azure.yaml).
.PARAMETER Tag
The tag (default: UTC time and git short sha, e.g. 20261123T010203Z-1a2b3c4).
.PARAMETER Engine
docker, podman or buildah (default: the first of them that works).
.PARAMETER Registry
Push to this registry host instead of an ACR (implies -Local; log in to it yourself).
.PARAMETER DryRun
Print what would run; run nothing. Works before the registry exists, with a marked
placeholder for it.
.PARAMETER BuildArgs
After --: passed on to the build, e.g. -- --build-arg BASE_IMAGE=python:3.12-slim

.EXAMPLE
scripts\build-and-push.ps1
.EXAMPLE
scripts\build-and-push.ps1 -Local
#>
[CmdletBinding()]
param(
    [string]$Acr = $env:ACR_NAME,
    [string]$Repository,
    [string]$Tag,
    [string]$Engine,
    [string]$Registry,
    [switch]$Local,
    [switch]$DryRun,
    [Parameter(ValueFromRemainingArguments)][string[]]$BuildArgs = @()
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

function Fail([string]$Message) {
    [Console]::Error.WriteLine("error: $Message")
    exit 1
}

function Test-Command([string]$Name) {
    [bool](Get-Command $Name -CommandType Application -ErrorAction SilentlyContinue)
}

# Print a command, then run it (unless -DryRun); a failure stops the script.
function Invoke-Step([string]$Command, [string[]]$Arguments) {
    Write-Host "+ $Command $($Arguments -join ' ')"
    if ($DryRun) { return }
    & $Command @Arguments
    if ($LASTEXITCODE -ne 0) { Fail "$Command failed (see its output above)" }
}

. (Join-Path $PSScriptRoot manifest.ps1)

function Get-DefaultTag {
    $value = [DateTime]::UtcNow.ToString("yyyyMMdd'T'HHmmss'Z'")
    if (Test-Command git) {
        $sha = git rev-parse --short HEAD 2>$null
        if ($LASTEXITCODE -eq 0 -and $sha) {
            $value += "-$sha"
            # The image holds uncommitted changes: say so in its tag.
            if (git status --porcelain 2>$null) { $value += '-dirty' }
        }
    }
    return $value
}

function Find-Engine {
    foreach ($name in 'docker', 'podman', 'buildah') {
        if (-not (Test-Command $name)) { continue }
        if ($name -eq 'docker') {
            # A docker CLI without a running engine cannot build.
            docker info *> $null
            if ($LASTEXITCODE -ne 0) { continue }
        }
        return $name
    }
    if (Test-Command docker) {
        Fail 'docker is installed but its engine is not running: start Docker Desktop (or dockerd)'
    }
    Fail 'no container engine: install Docker, Podman or Buildah, or build in Azure without -Local'
}

Set-Location (Split-Path -Parent $PSScriptRoot)
if (-not ((Test-Path azure.yaml) -and (Test-Path Dockerfile))) {
    Fail 'azure.yaml or Dockerfile is missing: run this from a generated project'
}

if ($Registry) { $Local = $true; $Acr = '' }
elseif (-not $Acr) { $Acr = Get-RegistrySetting acr_name }
if (-not $Repository) { $Repository = Get-RegistrySetting image_repository }
if (-not $Tag) { $Tag = Get-DefaultTag }
$noRegistry = "no registry set: run 'copier update --trust --defaults -d acr_name=<name>', or pass -Acr <name>"
if (-not $Registry -and -not $Acr) {
    if (-not $DryRun) { Fail $noRegistry }
    # A preview before the registry exists: a marked stand-in for its name.
    $Acr = 'REGISTRY-NOT-SET'
    Write-Host "(dry run: $Acr stands for the registry; $noRegistry)"
}
if (-not $Repository) {
    Fail 'no image repository: set docker.image in azure.yaml, or pass -Repository'
}
if ($Engine -and $Engine -notin 'docker', 'podman', 'buildah') {
    Fail "unknown engine '$Engine': use docker, podman or buildah"
}

$hostName = $Registry
if ($Acr) {
    if ($DryRun) {
        $hostName = "$($Acr.ToLowerInvariant()).azurecr.io"
        Write-Host '(dry run: az, the login and the registry are not checked)'
    }
    else {
        if (-not (Test-Command az)) {
            Fail 'the Azure CLI (az) is not installed: https://learn.microsoft.com/cli/azure/install-azure-cli'
        }
        az account show --output none 2>$null
        if ($LASTEXITCODE -ne 0) { Fail "not logged in to Azure: run 'az login'" }
        $hostName = az acr show --name $Acr --query loginServer --output tsv 2>$null
        if ($LASTEXITCODE -ne 0 -or -not $hostName) {
            Fail "registry '$Acr' not found in this subscription: create it with scripts/setup-acr.sh, or pick the subscription with 'az account set --subscription <id>'"
        }
    }
}
$image = "$hostName/${Repository}:$Tag"
$digest = $null

if (-not $Local) {
    $arguments = @('acr', 'build', '--registry', $Acr, '--image', "${Repository}:$Tag",
        '--platform', 'linux/amd64', '--source-acr-auth-id', '[caller]') + $BuildArgs + @('.')
    Write-Host "+ az $($arguments -join ' ')"
    if (-not $DryRun) {
        az @arguments 2>&1 | Tee-Object -Variable output | Out-Host
        if ($LASTEXITCODE -ne 0) {
            if (($output | Out-String) -match 'not permitted') {
                Fail "ACR Tasks are not permitted on registry '$Acr' (a subscription policy): build locally and push instead: scripts\build-and-push.ps1 -Local"
            }
            Fail 'az acr build failed (see its output above)'
        }
        # Pushed already: without the digest, .image.json still names the tag.
        $digest = az acr repository show --name $Acr --image "${Repository}:$Tag" --query digest --output tsv
        if ($LASTEXITCODE -ne 0) { $digest = $null }
    }
}
else {
    if (-not $Engine) { $Engine = Find-Engine }
    elseif (-not (Test-Command $Engine)) { Fail "$Engine is not installed: install it, or pick another with -Engine" }
    $flags = @()
    if ($Engine -eq 'docker') {
        docker buildx version *> $null
        if ($LASTEXITCODE -eq 0) { $flags = @('--provenance=false') } # one manifest, no attestation index
    }
    Invoke-Step $Engine (@('build', '--platform', 'linux/amd64', '--tag', $image) + $flags + $BuildArgs + @('.'))
    if ($Acr) {
        if ($Engine -eq 'docker') {
            Invoke-Step az @('acr', 'login', '--name', $Acr)
        }
        else {
            # `az acr login` drives the docker CLI; podman and buildah take its token instead.
            Write-Host "+ az acr login --name $Acr --expose-token | $Engine login ... $hostName"
            if (-not $DryRun) {
                az acr login --name $Acr --expose-token --query accessToken --output tsv |
                    & $Engine login --username 00000000-0000-0000-0000-000000000000 --password-stdin $hostName
                if ($LASTEXITCODE -ne 0) { Fail "logging $Engine in to $hostName failed (see above)" }
            }
        }
    }
    if ($Engine -eq 'docker') {
        Invoke-Step docker @('push', $image)
        if (-not $DryRun) {
            $repoDigest = docker inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' $image |
                Where-Object { $_.StartsWith("$hostName/$Repository@") } | Select-Object -First 1
            if ($repoDigest) { $digest = $repoDigest.Split('@')[1] }
        }
    }
    else {
        $digestFile = New-TemporaryFile
        try {
            $pushFlags = @()
            if ($hostName -match '^(localhost|127\.)') { $pushFlags = @('--tls-verify=false') }
            $target = if ($Engine -eq 'buildah') { @($image, "docker://$image") } else { @($image) }
            Invoke-Step $Engine (@('push') + $pushFlags + @('--digestfile', $digestFile.FullName) + $target)
            if (-not $DryRun) { $digest = (Get-Content -Raw -LiteralPath $digestFile.FullName).Trim() }
        }
        finally {
            Remove-Item -LiteralPath $digestFile.FullName -ErrorAction SilentlyContinue
        }
    }
}

if ($DryRun) {
    Write-Host "(dry run: would record $image in .image.json)"
    exit 0
}
$record = [ordered]@{
    image      = $image
    digest     = if ($digest) { $digest } else { $null }
    tag        = $Tag
    registry   = $hostName
    repository = $Repository
    pushed_at  = [DateTime]::UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'")
}
# UTF-8 without a byte order mark, written whole: deploy.py reads it.
[IO.File]::WriteAllText((Join-Path $PWD '.image.json.tmp'), ($record | ConvertTo-Json) + "`n")
Move-Item -Force .image.json.tmp .image.json
Write-Host "pushed $image$(if ($digest) { "@$digest" }) (recorded in .image.json)"
