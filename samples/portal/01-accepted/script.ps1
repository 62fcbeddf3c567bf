Write-Host 'harmless demo'
$env:TEMP | Out-Null
