//! keepalived.conf syntax: words, quoted strings and `{ }` blocks, `#`/`!` comments, `include`
//! (relative to the including file, `*` and `?` globs). Every item keeps its file and line.
//!
//! Every input is bounded (docs/limits.md, "keepalived.conf import"): the size of each file and
//! of all files together, how many files includes may read, how deep includes and blocks nest,
//! how many statements there are. Past a bound the import stops with an error naming the file,
//! the line where it can, and the bound — never a crash, a hang or a silent truncation.

use crate::input::{self, ReadError};
use std::path::{Path, PathBuf};

/// The largest keepalived.conf (or included file) read.
pub const FILE_CAP: u64 = 512 << 10;
/// The most bytes read for one node: its file and everything it includes.
pub const TOTAL_CAP: u64 = 2 << 20;
/// The most files read for one node (its file included).
pub const MAX_FILES: usize = 64;
/// How deep `include` may nest.
pub const MAX_INCLUDE_DEPTH: usize = 8;
/// How deep `{ }` blocks may nest (keepalived's own grammar nests four deep).
pub const MAX_BLOCK_DEPTH: usize = 16;
/// The most statements for one node, over all its files.
pub const MAX_ITEMS: usize = 100_000;
/// The most directory entries one include glob looks at.
pub const MAX_GLOB_ENTRIES: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub key: String,
    pub args: Vec<String>,
    pub block: Option<Vec<Item>>,
    pub file: PathBuf,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
    pub fix: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Open,
    Close,
    Newline,
}

/// Split a file into tokens. keepalived reads line by line: a quote opened on a line must close
/// on it (keepalived refuses the file otherwise), and `#` or `!` outside quotes starts a comment.
/// A lexing error: line, message, fix.
type LexError = (usize, String, &'static str);

fn lex(text: &str) -> Result<Vec<(Tok, usize)>, LexError> {
    let mut out = Vec::new();
    for (n, raw) in text.split('\n').enumerate() {
        let line = n + 1;
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '#' | '!' => break,
                '{' => out.push((Tok::Open, line)),
                '}' => out.push((Tok::Close, line)),
                '"' => {
                    let mut w = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '"' {
                            closed = true;
                            break;
                        }
                        w.push(c);
                    }
                    if !closed {
                        return Err((
                            line,
                            "a quoted string is not closed on its line".into(),
                            "close the quote on the same line; keepalived refuses a quote left open",
                        ));
                    }
                    out.push((Tok::Word(w), line));
                }
                c if c.is_whitespace() => {}
                c => {
                    let mut w = String::from(c);
                    while let Some(n) = chars.peek() {
                        if n.is_whitespace() || matches!(*n, '{' | '}' | '#' | '!' | '"') {
                            break;
                        }
                        w.push(*n);
                        chars.next();
                    }
                    out.push((Tok::Word(w), line));
                }
            }
        }
        out.push((Tok::Newline, line));
    }
    Ok(out)
}

/// What has been read so far for one node, against the bounds.
#[derive(Default)]
struct Budget {
    files: usize,
    bytes: u64,
    items: usize,
    /// The include chain being read, to refuse a file that includes itself.
    chain: Vec<PathBuf>,
}

/// Parse a file (and what it includes) into items.
pub fn parse_file(path: &Path) -> Result<Vec<Item>, SyntaxError> {
    parse_with(path, &mut Budget::default(), None)
}

fn error(file: &Path, line: usize, message: impl Into<String>, fix: impl Into<String>) -> SyntaxError {
    SyntaxError { file: file.to_path_buf(), line, message: message.into(), fix: fix.into() }
}

/// `from` is where the include was written, for the errors about the included file.
fn parse_with(path: &Path, budget: &mut Budget, from: Option<(&Path, usize)>) -> Result<Vec<Item>, SyntaxError> {
    let (at_file, at_line) = from.unwrap_or((path, 0));
    if budget.chain.len() > MAX_INCLUDE_DEPTH {
        return Err(error(
            at_file,
            at_line,
            format!("includes nest more than {MAX_INCLUDE_DEPTH} deep"),
            "flatten the includes (docs/limits.md)",
        ));
    }
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if budget.chain.contains(&canonical) {
        return Err(error(
            at_file,
            at_line,
            format!("`{}` includes itself (through this include)", path.display()),
            "remove the include loop",
        ));
    }
    budget.files += 1;
    if budget.files > MAX_FILES {
        return Err(error(
            at_file,
            at_line,
            format!("the includes read more than {MAX_FILES} files"),
            "include fewer files, or narrow the glob (docs/limits.md)",
        ));
    }
    let bytes = input::read_capped(path, FILE_CAP).map_err(|e| match e {
        ReadError::TooLarge { .. } => error(
            path,
            0,
            format!("{e} ({} for a keepalived.conf)", input::human(FILE_CAP)),
            "give the keepalived.conf itself, not a device or a log (docs/limits.md)",
        ),
        ReadError::Io(_) if from.is_some() => error(
            at_file,
            at_line,
            format!("cannot read the included `{}`: {e}", path.display()),
            "copy the included file where the include expects it (relative paths start at the including file's folder), or remove the include",
        ),
        ReadError::Io(_) => error(path, 0, e.to_string(), "check the path"),
    })?;
    budget.bytes += bytes.len() as u64;
    if budget.bytes > TOTAL_CAP {
        return Err(error(
            at_file,
            at_line,
            format!("the file and its includes hold more than {}", input::human(TOTAL_CAP)),
            "include fewer or smaller files (docs/limits.md)",
        ));
    }
    let text = String::from_utf8_lossy(&bytes);
    let toks = lex(&text).map_err(|(line, m, fix)| error(path, line, m, fix))?;
    drop(bytes);
    budget.chain.push(canonical);
    let mut pos = 0;
    let items = block(&toks, &mut pos, path, budget, 0);
    budget.chain.pop();
    items
}

fn block(
    toks: &[(Tok, usize)],
    pos: &mut usize,
    path: &Path,
    budget: &mut Budget,
    depth: usize,
) -> Result<Vec<Item>, SyntaxError> {
    let nested = depth > 0;
    let open_line = toks.get(pos.saturating_sub(1)).map_or(1, |t| t.1);
    if depth > MAX_BLOCK_DEPTH {
        return Err(error(
            path,
            open_line,
            format!("blocks nest more than {MAX_BLOCK_DEPTH} deep"),
            "keepalived's blocks nest at most four deep: look for `{` without its `}`",
        ));
    }
    let mut items = Vec::new();
    while *pos < toks.len() {
        let (tok, line) = &toks[*pos];
        let line = *line;
        if *tok != Tok::Newline {
            budget.items += 1;
            if budget.items > MAX_ITEMS {
                return Err(error(
                    path,
                    line,
                    format!("more than {MAX_ITEMS} statements"),
                    "give the keepalived.conf of one node (docs/limits.md)",
                ));
            }
        }
        match tok {
            Tok::Newline => *pos += 1,
            Tok::Close => {
                *pos += 1;
                if nested {
                    return Ok(items);
                }
                return Err(error(path, line, "`}` closes no block", "remove it, or add the `{` it should close"));
            }
            Tok::Open => {
                // An anonymous block (e.g. a second `{` on its own line): keep its items.
                *pos += 1;
                let inner = block(toks, pos, path, budget, depth + 1)?;
                items.push(Item {
                    key: String::new(),
                    args: vec![],
                    block: Some(inner),
                    file: path.to_path_buf(),
                    line,
                });
            }
            Tok::Word(key) => {
                *pos += 1;
                let mut args = Vec::new();
                let mut sub = None;
                while *pos < toks.len() {
                    match &toks[*pos].0 {
                        Tok::Word(w) => {
                            args.push(w.clone());
                            *pos += 1;
                        }
                        Tok::Open => {
                            *pos += 1;
                            sub = Some(block(toks, pos, path, budget, depth + 1)?);
                            break;
                        }
                        Tok::Newline => {
                            // `name\n{` is a block too.
                            let mut look = *pos;
                            while look < toks.len() && toks[look].0 == Tok::Newline {
                                look += 1;
                            }
                            if look < toks.len() && toks[look].0 == Tok::Open {
                                *pos = look + 1;
                                sub = Some(block(toks, pos, path, budget, depth + 1)?);
                            }
                            break;
                        }
                        Tok::Close => break,
                    }
                }
                if key == "include" && sub.is_none() {
                    for pattern in &args {
                        for file in expand(path, line, pattern)? {
                            items.extend(parse_with(&file, budget, Some((path, line)))?);
                        }
                    }
                    continue;
                }
                items.push(Item { key: key.clone(), args, block: sub, file: path.to_path_buf(), line });
            }
        }
    }
    if nested {
        return Err(error(path, open_line, "this block is never closed", "add the missing `}`"));
    }
    Ok(items)
}

/// An include pattern, relative to the including file's folder; `*` and `?` in the file name.
fn expand(from: &Path, line: usize, pattern: &str) -> Result<Vec<PathBuf>, SyntaxError> {
    let base = from.parent().unwrap_or(Path::new("."));
    let p = if Path::new(pattern).is_absolute() { PathBuf::from(pattern) } else { base.join(pattern) };
    let name = p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    if !name.contains(['*', '?']) {
        return Ok(vec![p]);
    }
    if name.len() > 255 || name.matches('*').count() > 8 {
        return Err(error(from, line, "this include pattern is too complex", "use at most 8 `*` in a file name"));
    }
    let dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut found = Vec::new();
    for (n, entry) in std::fs::read_dir(&dir).into_iter().flatten().flatten().enumerate() {
        if n >= MAX_GLOB_ENTRIES {
            return Err(error(
                from,
                line,
                format!("the include glob looks at more than {MAX_GLOB_ENTRIES} entries of `{}`", dir.display()),
                "point the include at a smaller folder (docs/limits.md)",
            ));
        }
        let path = entry.path();
        if path.file_name().is_some_and(|f| glob(&name, &f.to_string_lossy())) && path.is_file() {
            found.push(path);
            if found.len() > MAX_FILES {
                return Err(error(
                    from,
                    line,
                    format!("the include glob matches more than {MAX_FILES} files"),
                    "narrow the glob (docs/limits.md)",
                ));
            }
        }
    }
    if found.is_empty() {
        // keepalived would go on without them; an import that did so would drop them silently.
        return Err(error(
            from,
            line,
            format!("`include {pattern}` matches no file (looked in `{}`)", dir.display()),
            "copy the included files next to the keepalived.conf as the include expects, or remove the include",
        ));
    }
    found.sort();
    Ok(found)
}

/// `*` and `?` matching, iterative (no backtracking blow-up).
fn glob(pat: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pat.chars().collect(), s.chars().collect());
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(t: &str) -> Result<Vec<Item>, SyntaxError> {
        let toks = lex(t).map_err(|(line, message, fix)| error(Path::new("k.conf"), line, message, fix))?;
        let mut pos = 0;
        block(&toks, &mut pos, Path::new("k.conf"), &mut Budget::default(), 0)
    }

    #[test]
    fn blocks_args_comments_and_lines() {
        let items = parse_text("# c\nvrrp_instance VI_1 {\n  state MASTER ! note\n  virtual_ipaddress {\n    10.0.0.1/24 dev eth0\n  }\n}\n").unwrap();
        assert_eq!(items.len(), 1);
        let vi = &items[0];
        assert_eq!((vi.key.as_str(), vi.args.clone(), vi.line), ("vrrp_instance", vec!["VI_1".to_string()], 2));
        let b = vi.block.as_ref().unwrap();
        assert_eq!(b[0].args, vec!["MASTER"]);
        assert_eq!(b[1].block.as_ref().unwrap()[0].key, "10.0.0.1/24");
        assert_eq!(b[1].block.as_ref().unwrap()[0].line, 5);
    }

    #[test]
    fn unbalanced_braces_and_open_quotes_name_the_line() {
        let e = parse_text("a {\n  b 1\n").unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (1, "this block is never closed"));
        let e = parse_text("a 1\n}\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse_text("a {\n  script \"/bin/x\n  y\"\n}\n").unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (2, "a quoted string is not closed on its line"));
        for s in ["{{{{", "}}}}", "\"", "{ \" }", "include", "\u{0}"] {
            let _ = parse_text(s);
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = "a {\n".repeat(100_000);
        let e = parse_text(&deep).unwrap_err();
        assert_eq!(e.message, format!("blocks nest more than {MAX_BLOCK_DEPTH} deep"));
        assert_eq!(e.line, MAX_BLOCK_DEPTH + 1);
    }

    #[test]
    fn globs() {
        assert!(glob("*.conf", "a.conf"));
        assert!(!glob("*.conf", "a.cfg"));
        assert!(glob("lb?.conf", "lb1.conf"));
        assert!(glob("*a*b*c*", "xxaxxbxxcxx"));
        // A pattern that takes exponential time with naive backtracking.
        assert!(!glob(&"*a".repeat(8), &format!("{}b", "a".repeat(200))));
    }
}
