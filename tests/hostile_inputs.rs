//! Hostile inputs against the real binary, each under a 64 MB address-space limit
//! (RLIMIT_AS) and a time limit: every inventory of the corpus, YAML bombs (aliases, nesting,
//! NUL, control characters), endless files, inventories of exactly the size cap in every shape
//! that costs the parser, hostile strings, the daemon config and status file readers. Each
//! must end in a clean answer (exit 0 or 1, a message, no panic, no signal, no hang), `check`
//! within 1 s of CPU, and `--format json` must be one JSON document. docs/limits.md lists the
//! bounds this proves.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The address space each run may use (the bar: any input answered within 64 MB).
const MEMORY: u64 = 64 << 20;
/// The CPU time `check` may use on any input up to its cap (the bar: within 1 s).
const CHECK_CPU: Duration = Duration::from_secs(1);
/// Past this wall time a run counts as hung (generous: the machine is shared while testing).
const HANG: Duration = Duration::from_secs(20);
/// The inventory size cap (docs/limits.md).
const CAP: usize = 256 << 10;
/// The daemon config's size cap (docs/limits.md).
const DAEMON_CAP: usize = 64 << 10;

struct Run {
    code: Option<i32>,
    signal: Option<i32>,
    cpu: Duration,
    stdout: Vec<u8>,
    stderr: String,
}

fn tmp() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hostile");
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Run the binary with `args` under the memory limit; kill it past `HANG`. Output goes to
/// files (no pipe can fill up and stall it); CPU time comes from `wait4`.
fn run(args: &[&str]) -> Run {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (out_p, err_p) = (tmp().join(format!("out-{n}")), tmp().join(format!("err-{n}")));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hapair"));
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_p).expect("stdout file"))
        .stderr(std::fs::File::create(&err_p).expect("stderr file"));
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit { rlim_cur: MEMORY, rlim_max: MEMORY };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // Reaped below with wait4 (which gives its CPU time), not `Child::wait`.
    #[allow(clippy::zombie_processes)]
    let child = cmd.spawn().expect("spawn hapair");
    let pid = child.id() as libc::pid_t;
    let start = Instant::now();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: wait4 on our own child, with valid pointers.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        assert!(r == 0, "wait4 failed: {}", std::io::Error::last_os_error());
        if start.elapsed() > HANG {
            // SAFETY: kill(2) on our own child, then reap it.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::wait4(pid, &mut status, 0, &mut usage);
            }
            panic!("`hapair {}` hung (killed after {HANG:?})", show(args));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    let exited = libc::WIFEXITED(status);
    Run {
        code: exited.then(|| libc::WEXITSTATUS(status)),
        signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        stdout: std::fs::read(&out_p).unwrap_or_default(),
        stderr: String::from_utf8_lossy(&std::fs::read(&err_p).unwrap_or_default()).to_string(),
    }
}

fn show(args: &[&str]) -> String {
    args.iter()
        .map(|a| if a.len() > 80 { format!("{}…", &a[..80]) } else { a.to_string() })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A clean answer: exit 0 or 1 by itself, no panic, and a message when it refused.
fn assert_clean(args: &[&str], r: &Run) {
    let what = show(args);
    assert_eq!(r.signal, None, "`hapair {what}` was killed by signal {:?}: {}", r.signal, r.stderr);
    assert!(matches!(r.code, Some(0 | 1)), "`hapair {what}` exited with {:?}: {}", r.code, r.stderr);
    assert!(!r.stderr.contains("panicked"), "`hapair {what}` panicked: {}", r.stderr);
    assert!(!r.stderr.contains("memory allocation"), "`hapair {what}` ran out of memory: {}", r.stderr);
    if r.code == Some(1) {
        assert!(!r.stdout.is_empty() || !r.stderr.is_empty(), "`hapair {what}` failed without a word");
    }
}

/// The slowest `check` seen (CPU time, file), printed for the record.
static SLOWEST: std::sync::Mutex<(Duration, String)> = std::sync::Mutex::new((Duration::ZERO, String::new()));

fn note(cpu: Duration, what: &str) {
    let mut s = SLOWEST.lock().unwrap_or_else(|e| e.into_inner());
    if cpu > s.0 {
        *s = (cpu, what.to_string());
    }
}

/// `check` in text and JSON on `file`: clean, within the CPU bound, JSON one document.
fn check(file: &Path) {
    let f = file.to_str().expect("utf-8 path");
    let args = ["check", "-i", f];
    let r = run(&args);
    assert_clean(&args, &r);
    assert!(r.cpu <= CHECK_CPU, "`hapair check -i {f}` used {:?} of CPU", r.cpu);
    note(r.cpu, f);
    let args = ["check", "-i", f, "--format", "json"];
    let r = run(&args);
    assert_clean(&args, &r);
    assert!(r.cpu <= CHECK_CPU, "`hapair check -i {f} --format json` used {:?} of CPU", r.cpu);
    let v: serde_json::Value = serde_json::from_slice(&r.stdout)
        .unwrap_or_else(|e| panic!("`check -i {f} --format json` is not one JSON document: {e}"));
    assert_eq!(v["errors"].as_u64().map(|n| n > 0), Some(r.code == Some(1)), "{f}: {v}");
}

fn write(name: &str, text: impl AsRef<[u8]>) -> PathBuf {
    let p = tmp().join(name);
    std::fs::write(&p, text).expect("write case");
    p
}

/// `unit` repeated after `head` up to exactly `CAP` bytes (padded with a comment line).
fn exactly_cap(name: &str, head: &str, unit: &str, tail: &str) -> PathBuf {
    let mut s = String::from(head);
    while !unit.is_empty() && s.len() + unit.len() + tail.len() <= CAP {
        s.push_str(unit);
    }
    s.push_str(tail);
    let pad = CAP - s.len();
    if pad >= 2 {
        s.push('#');
        s.push_str(&" ".repeat(pad - 2));
        s.push('\n');
    } else {
        s.push_str(&"\n".repeat(pad));
    }
    assert_eq!(s.len(), CAP, "{name}");
    write(name, s)
}

fn laughs(levels: usize, first_key: &str) -> String {
    let mut s = format!("{first_key}: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..levels {
        s.push_str(&format!("a{i}: &a{i} [{}]\n", vec![format!("*a{}", i - 1); 9].join(", ")));
    }
    s
}

/// Every generated hostile YAML case (for the inventory and the daemon config alike).
fn yaml_cases() -> Vec<PathBuf> {
    let pair = |i: usize| {
        format!(
            "  p{i}:\n    mode: master-backup\n    interface: eth0\n    nodes:\n      - name: n{i}a\n        address: 10.{}.{}.{}\n      - name: n{i}b\n        address: 10.{}.{}.{}\n    vips:\n      - address: 172.16.{}.{}/16\n        vrid: {}\n        master: n{i}a\n",
            (2 * i) >> 16 & 255, (2 * i) >> 8 & 255, (2 * i) & 255,
            (2 * i + 1) >> 16 & 255, (2 * i + 1) >> 8 & 255, (2 * i + 1) & 255,
            i >> 8 & 255, i & 255, i % 255 + 1
        )
    };
    let mut pairs = String::from("pairs:\n");
    let mut i = 0;
    while pairs.len() + pair(i).len() <= CAP - 200 {
        pairs.push_str(&pair(i));
        i += 1;
    }
    let mut keys = String::from("pairs:\n  web:\n");
    let mut k = 0;
    while keys.len() < CAP - 100 {
        keys.push_str(&format!("    k{k}: v\n"));
        k += 1;
    }
    let deep_many = format!(
        "pairs:\n{}",
        (0..).map(|i| format!("  d{i}: {}{}\n", "[".repeat(60), "]".repeat(60))).take(CAP / 130).collect::<String>()
    );
    vec![
        write("laughs.yml", laughs(9, "pairs")),
        write("laughs-10.yml", laughs(10, "pairs")),
        write("laughs-text.yml", format!("pairs: &a \"{}\"\nb: [{}]\n", "x".repeat(200_000), ["*a"; 60].join(", "))),
        write("deep-block.yml", (0..200).map(|d| format!("{}k{d}:\n", "  ".repeat(d))).collect::<String>()),
        write("deep-flow.yml", format!("pairs: {}{}\n", "[".repeat(100_000), "]".repeat(100_000))),
        write("deep-map-flow.yml", format!("pairs: {}{}\n", "{a: ".repeat(50_000), "}".repeat(50_000))),
        write("nul.yml", "pairs:\n  web:\n    mode: master-backup\0\n"),
        write("nul-first.yml", "\0pairs: {}\n"),
        write("escape.yml", "pairs:\n  web:\n    mode: \u{1b}[31mred\n"),
        write("bom-only.yml", "\u{feff}"),
        write("bom-twice.yml", "\u{feff}\u{feff}pairs: {}\n"),
        write("two-docs.yml", "pairs: {}\n---\npairs: {}\n"),
        write("many-docs.yml", "---\n".repeat(60_000)),
        write("tags.yml", "pairs: !!binary aGVsbG8=\n!custom x: !!map {}\n"),
        write("invalid-utf8.yml", b"pairs:\n  web: \xff\xfe\n"),
        write("long-line.yml", format!("pairs: {}\n", "x".repeat(CAP - 20))),
        exactly_cap("cap-pairs.yml", &pairs, "", ""),
        exactly_cap("cap-keys.yml", &keys, "", ""),
        exactly_cap("cap-scalar.yml", "pairs: \"", "x", "\"\n"),
        exactly_cap("cap-flow.yml", "pairs: [", "a,", "a]\n"),
        exactly_cap("cap-seq.yml", "pairs:\n", "- a\n", ""),
        exactly_cap("cap-comments.yml", "pairs:\n", "# hello\n", ""),
        exactly_cap("cap-duplicates.yml", "pairs:\n  web:\n", "    a: 1\n", ""),
        exactly_cap("cap-long-keys.yml", "pairs:\n  web:\n", &format!("    {}: 1\n", "k".repeat(1000)), ""),
        exactly_cap("cap-aliases.yml", "x: &x [a, b, c, d]\npairs:\n", "  - *x\n", ""),
        exactly_cap("cap-deep.yml", &deep_many, "", ""),
        exactly_cap("cap-quoted-escapes.yml", "pairs: \"", "\\u0041\\n", "\"\n"),
        exactly_cap("cap-anchors.yml", "pairs:\n", "  - &a x\n", ""),
    ]
}

#[test]
fn the_corpus_and_every_hostile_inventory_are_answered_cleanly_within_64_mb_and_1_s() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/inventory_corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .expect("corpus")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 60, "only {} corpus files", files.len());
    files.extend(yaml_cases());
    for f in &files {
        check(f);
    }
    // Endless and oversized files: refused by size, at once.
    for f in [PathBuf::from("/dev/zero"), PathBuf::from("/dev/urandom"), write("over.yml", "#".repeat(CAP + 1))] {
        check(&f);
        let r = run(&["check", "-i", f.to_str().unwrap()]);
        assert!(String::from_utf8_lossy(&r.stdout).contains("larger than 256 KiB"), "{}", f.display());
    }
    let (cpu, f) = SLOWEST.lock().unwrap_or_else(|e| e.into_inner()).clone();
    eprintln!("slowest check: {cpu:?} of CPU on {f} (limit {CHECK_CPU:?}, {} MB address space)", MEMORY >> 20);
}

/// Hostile strings and overrides on the command line (`-e`): refused or accepted, never more.
#[test]
fn hostile_overrides_are_answered_cleanly() {
    let inv = write(
        "seed.yml",
        "pairs:\n  web:\n    mode: master-backup\n    interface: eth0\n    nodes:\n      - name: web1\n        address: 10.0.0.11\n      - name: web2\n        address: 10.0.0.12\n    vips:\n      - address: 10.0.0.200/24\n        vrid: 51\n        master: web1\n",
    );
    let big = "x".repeat(100_000);
    // A flow-style alias bomb: refused by the bounded parser, then taken as text, never expanded.
    let bomb = format!(
        "[&a [l, l, l, l, l, l, l, l, l], {}]",
        (1..9)
            .map(|i| format!(
                "&a{i} [{}]",
                vec![if i == 1 { "*a".to_string() } else { format!("*a{}", i - 1) }; 9].join(", ")
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for o in [format!("nginx.server_name={bomb}"), format!("nginx.upstreams={bomb}"), format!("check.script={bomb}")] {
        let args = ["check", "-i", inv.to_str().unwrap(), "-e", o.as_str(), "--format", "json"];
        let r = run(&args);
        assert_clean(&args, &r);
        assert!(r.cpu <= CHECK_CPU, "`-e {}` used {:?} of CPU", show(&[&o]), r.cpu);
    }
    let overrides = [
        format!("connection.user={big}"),
        "connection.user=-oProxyCommand=id".to_string(),
        "connection.jump_host=a;id".to_string(),
        "connection.jump_host=-oProxyCommand=id".to_string(),
        format!("nginx.server_name={big}"),
        format!("nginx.upstreams=[{}]", vec!["10.0.0.1:80"; 1000].join(",")),
        format!("check.script=[{}]", vec!["a"; 1000].join(",")),
        format!("{big}=1"),
        format!("web1.{big}=1"),
        format!("vrrp.advert_interval={}", "[".repeat(10_000)),
        format!("nginx.upstreams={}{}", "[".repeat(100), "]".repeat(100)),
        "connection.timeout=0s".to_string(),
        "connection.timeout=1e308s".to_string(),
    ];
    for o in &overrides {
        let args = ["check", "-i", inv.to_str().unwrap(), "-e", o.as_str(), "--format", "json"];
        let r = run(&args);
        assert_clean(&args, &r);
        assert_eq!(r.code, Some(1), "`-e {}` was accepted", show(&[o]));
        assert!(r.cpu <= CHECK_CPU, "`-e {}` used {:?} of CPU", show(&[o]), r.cpu);
        let _: serde_json::Value = serde_json::from_slice(&r.stdout).expect("one JSON document");
    }
}

/// The daemon's readers: its config (every hostile YAML case above) and its status file.
#[test]
fn the_daemon_config_and_status_readers_are_bounded() {
    let mut files = yaml_cases();
    // Each case cut to exactly the daemon config's cap (64 KiB): the parser still does all the
    // work up to the cut.
    let cut: Vec<PathBuf> = files
        .iter()
        .filter_map(|f| {
            let b = std::fs::read(f).ok()?;
            let name = format!("daemon-{}", f.file_name()?.to_str()?);
            (b.len() > DAEMON_CAP).then(|| write(&name, &b[..DAEMON_CAP]))
        })
        .collect();
    assert!(cut.len() >= 10, "{cut:?}");
    files.extend(cut);
    files.push(PathBuf::from("/dev/zero"));
    files.push(write("vrrpd-laughs.yml", laughs(9, "node")));
    for f in &files {
        let args = ["vrrpd", "--check-config", f.to_str().unwrap()];
        let r = run(&args);
        assert_clean(&args, &r);
        assert_eq!(r.code, Some(1), "{} was accepted as a daemon config", f.display());
        assert!(r.cpu <= CHECK_CPU, "`vrrpd --check-config {}` used {:?} of CPU", f.display(), r.cpu);
    }
    let statuses = [
        PathBuf::from("/dev/zero"),
        write("status-deep.json", format!("{}{}", "[".repeat(100_000), "]".repeat(100_000))),
        write("status-big.json", format!("\"{}\"", "x".repeat((1 << 20) - 2))),
        write("status-nul.json", "{\"a\": \"\0\"}"),
        write("status-garbage.json", b"\xff\xfe\x00"),
    ];
    for f in &statuses {
        let args = ["vrrpd", "status", "--file", f.to_str().unwrap()];
        let r = run(&args);
        assert_clean(&args, &r);
    }
}

/// `hapair import keepalived` on endless, huge and foreign files (its own bounds are in
/// docs/limits.md; here: clean answers within the same memory limit).
#[test]
fn import_is_bounded_too() {
    let big = write("big.conf", vec![b'x'; 30 << 20]);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keepalived");
    let mut confs: Vec<PathBuf> = std::fs::read_dir(&fixtures)
        .expect("fixtures")
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    confs.sort();
    assert!(!confs.is_empty());
    let mut cases = vec![(PathBuf::from("/dev/zero"), PathBuf::from("/dev/zero")), (big.clone(), big)];
    // Every hostile YAML case as a keepalived.conf, paired with a real one.
    cases.extend(yaml_cases().into_iter().map(|y| (y, confs[0].clone())));
    for (a, b) in &cases {
        let args = ["import", "keepalived", a.to_str().unwrap(), b.to_str().unwrap()];
        let r = run(&args);
        assert_clean(&args, &r);
    }
}
