// Starter heuristics: each names what it saw; the verdict stays "suspicious".
rule PowerShell_download_cradle
{
    meta:
        description = "PowerShell that downloads and runs code"
        verdict = "suspicious"
    strings:
        $dl1 = "DownloadString" nocase
        $dl2 = "DownloadFile" nocase
        $dl3 = "Invoke-WebRequest" nocase
        $run1 = "Invoke-Expression" nocase
        $run2 = "IEX" fullword
        $run3 = "Start-Process" nocase
    condition:
        filesize < 5MB and any of ($dl*) and any of ($run*)
}

rule Script_hidden_window_encoded_command
{
    meta:
        description = "A hidden, encoded PowerShell command line"
        verdict = "suspicious"
    strings:
        $h = /-w(indowstyle)?\s+h(idden)?/ nocase
        $e = /-e(nc(odedcommand)?)?\s+[A-Za-z0-9+\/=]{40,}/ nocase
    condition:
        $h and $e
}
