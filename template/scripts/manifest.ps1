# Read by build-and-push.ps1 and setup-acr.ps1 (dot-sourced): azure.yaml's registry settings.

# acr_name (docker.registry without .azurecr.io) or image_repository (docker.image) from
# the agent service in azure.yaml, as Copier writes it (plain scalars).
function Get-RegistrySetting([string]$Key) {
    $want = if ($Key -eq 'acr_name') { 'registry' } else { 'image' }
    $dockerIndent = -1
    foreach ($line in Get-Content -LiteralPath azure.yaml) {
        if ($line -match '^\s*(#|$)') { continue }
        $indent = $line.Length - $line.TrimStart(' ').Length
        if ($dockerIndent -ge 0 -and $indent -le $dockerIndent) { $dockerIndent = -1 }
        if ($line -match '^\s+docker:\s*$') { $dockerIndent = $indent; continue }
        if ($dockerIndent -ge 0 -and $line -match "^\s+${want}:\s*(.*?)(\s+#.*)?$") {
            $value = $Matches[1].Trim([char]39, [char]34)
            if ($Key -ne 'acr_name') { return $value }
            if ($value.EndsWith('.azurecr.io')) { return $value.Substring(0, $value.Length - 11) }
            return ''
        }
    }
    return ''
}
