//! What ops tools are expected to do: completions, man page, `--version`, colour rules. The
//! real binary, no lab needed.

mod common;

use common::{on_a_terminal, text};
use std::process::Command;

fn out(args: &[&str]) -> (Option<i32>, String, String) {
    let o = common::run(args);
    (o.status.code(), text(&o.stdout), text(&o.stderr))
}

#[test]
fn version_names_the_target_and_the_libc() {
    let (code, short, _) = out(&["-V"]);
    assert_eq!(code, Some(0));
    assert_eq!(short, format!("hapair {} (x86_64-unknown-linux-gnu, glibc)\n", env!("CARGO_PKG_VERSION")));
    let (code, long, _) = out(&["--version"]);
    assert_eq!(code, Some(0));
    let lines: Vec<&str> = long.lines().collect();
    // The first line stays `hapair VERSION`: that is what facts read from a node's binary.
    assert_eq!(lines[0], format!("hapair {}", env!("CARGO_PKG_VERSION")));
    assert_eq!(lines[1], "target: x86_64-unknown-linux-gnu");
    assert!(lines[2].starts_with("libc: glibc, running on glibc 2."), "{long}");
}

/// Completing `hapair pl<TAB>` and `hapair plan --fo<TAB>` in a real bash with the generated
/// script loaded.
#[test]
fn bash_completion_completes_commands_and_options() {
    let (code, script, _) = out(&["completions", "bash"]);
    assert_eq!(code, Some(0));
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("conv-completions");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let file = dir.join("hapair.bash");
    std::fs::write(&file, &script).expect("write");
    let probe = format!(
        "source {}\ncomplete -p hapair\n\
         COMP_WORDS=(hapair pl); COMP_CWORD=1; _hapair hapair pl hapair; echo \"1:${{COMPREPLY[*]}}\"\n\
         COMP_WORDS=(hapair plan --fo); COMP_CWORD=2; _hapair hapair --fo plan; echo \"2:${{COMPREPLY[*]}}\"\n",
        file.display()
    );
    let o = Command::new("bash").args(["--norc", "-c", &probe]).output().expect("run bash");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("-F _hapair hapair"), "{text}");
    assert!(text.lines().any(|l| l == "1:plan"), "{text}");
    let two = text.lines().find(|l| l.starts_with("2:")).expect("second probe");
    assert!(two.contains("--forks") && two.contains("--format"), "{text}");
}

#[test]
fn completions_for_every_shell_clap_knows() {
    for (shell, marker) in [
        ("zsh", "#compdef hapair"),
        ("fish", "complete -c hapair"),
        ("elvish", "edit:completion:arg-completer[hapair]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let (code, script, err) = out(&["completions", shell]);
        assert_eq!(code, Some(0), "{shell}: {err}");
        assert!(script.contains(marker), "{shell}: no `{marker}`");
    }
    let (code, _, err) = out(&["completions", "tcsh"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("invalid value 'tcsh'"), "{err}");
}

/// The man page renders without a single groff warning and documents every command.
#[test]
fn man_page_renders_cleanly() {
    let (code, page, _) = out(&["man"]);
    assert_eq!(code, Some(0));
    assert!(page.starts_with(".ie \\n(.g .ds Aq"), "{}", &page[..80.min(page.len())]);
    let o = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(page.as_bytes())?;
            c.wait_with_output()
        })
        .expect("run groff (package groff-base)");
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stderr), "", "groff warnings");
    for cmd in ["check", "plan", "apply", "verify", "status", "doctor", "completions", "man"] {
        assert!(page.contains(&format!("hapair\\-{cmd}(1)")), "no `{cmd}` in the man page");
    }
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("conv-man");
    let _ = std::fs::remove_dir_all(&dir);
    let (code, _, err) = out(&["man", "--dir", dir.to_str().expect("utf-8")]);
    assert_eq!(code, Some(0), "{err}");
    let plan = std::fs::read_to_string(dir.join("hapair-plan.1")).expect("hapair-plan.1");
    assert!(plan.contains("\\-\\-forks"), "plan page documents --forks");
}

/// clap's help and errors: colour on a terminal, none with NO_COLOR or through a pipe.
#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let tty = on_a_terminal("plan --nosuch", false);
    assert!(tty.contains('\x1b'), "a terminal gets colour: {tty:?}");
    let tty_no = on_a_terminal("plan --nosuch", true);
    assert!(tty_no.contains("unexpected argument"), "{tty_no:?}");
    assert!(!tty_no.contains('\x1b'), "NO_COLOR: {tty_no:?}");
    let (_, _, piped) = out(&["plan", "--nosuch"]);
    assert!(piped.contains("unexpected argument") && !piped.contains('\x1b'), "{piped:?}");
}
