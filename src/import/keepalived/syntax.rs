//! keepalived.conf syntax: words, quoted strings and `{ }` blocks, `#`/`!` comments, `include`
//! (relative to the including file, `*` and `?` globs). Every item keeps its file and line.

use std::path::{Path, PathBuf};

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

fn lex(text: &str) -> Vec<(Tok, usize)> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => {
                out.push((Tok::Newline, line));
                line += 1;
            }
            '#' | '!' => {
                while chars.peek().is_some_and(|c| *c != '\n') {
                    chars.next();
                }
            }
            '{' => out.push((Tok::Open, line)),
            '}' => out.push((Tok::Close, line)),
            '"' => {
                let mut w = String::new();
                for c in chars.by_ref() {
                    match c {
                        '"' => break,
                        '\n' => {
                            line += 1;
                            w.push(c)
                        }
                        _ => w.push(c),
                    }
                }
                out.push((Tok::Word(w), line));
            }
            c if c.is_whitespace() => {}
            c => {
                let mut w = String::from(c);
                while let Some(n) = chars.peek() {
                    if n.is_whitespace() || *n == '{' || *n == '}' || *n == '#' || *n == '!' || *n == '"' {
                        break;
                    }
                    w.push(*n);
                    chars.next();
                }
                out.push((Tok::Word(w), line));
            }
        }
    }
    out
}

/// Parse a file (and what it includes) into items.
pub fn parse_file(path: &Path) -> Result<Vec<Item>, SyntaxError> {
    parse_with_depth(path, 0)
}

fn parse_with_depth(path: &Path, depth: usize) -> Result<Vec<Item>, SyntaxError> {
    let err = |line: usize, message: String, fix: &str| SyntaxError {
        file: path.to_path_buf(),
        line,
        message,
        fix: fix.to_string(),
    };
    if depth > 8 {
        return Err(err(0, "includes nest more than 8 deep".into(), "check for an include loop"));
    }
    let bytes = std::fs::read(path).map_err(|e| err(0, format!("cannot read it: {e}"), "check the path"))?;
    let text = String::from_utf8_lossy(&bytes);
    let toks = lex(&text);
    let mut pos = 0;
    let items = block(&toks, &mut pos, path, depth, false)?;
    Ok(items)
}

fn block(
    toks: &[(Tok, usize)],
    pos: &mut usize,
    path: &Path,
    depth: usize,
    nested: bool,
) -> Result<Vec<Item>, SyntaxError> {
    let err = |line: usize, message: String, fix: &str| SyntaxError {
        file: path.to_path_buf(),
        line,
        message,
        fix: fix.to_string(),
    };
    let mut items = Vec::new();
    let open_line = toks.get(pos.saturating_sub(1)).map_or(1, |t| t.1);
    while *pos < toks.len() {
        let (tok, line) = &toks[*pos];
        match tok {
            Tok::Newline => *pos += 1,
            Tok::Close => {
                *pos += 1;
                if nested {
                    return Ok(items);
                }
                return Err(err(*line, "`}` closes no block".into(), "remove it, or add the `{` it should close"));
            }
            Tok::Open => {
                // An anonymous block (e.g. a second `{` on its own line): keep its items.
                *pos += 1;
                let inner = block(toks, pos, path, depth, true)?;
                items.push(Item {
                    key: String::new(),
                    args: vec![],
                    block: Some(inner),
                    file: path.to_path_buf(),
                    line: *line,
                });
            }
            Tok::Word(key) => {
                let line = *line;
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
                            sub = Some(block(toks, pos, path, depth, true)?);
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
                                sub = Some(block(toks, pos, path, depth, true)?);
                            }
                            break;
                        }
                        Tok::Close => break,
                    }
                }
                if key == "include" && sub.is_none() {
                    for pattern in &args {
                        for file in expand(path, pattern) {
                            items.extend(parse_with_depth(&file, depth + 1)?);
                        }
                    }
                    continue;
                }
                items.push(Item { key: key.clone(), args, block: sub, file: path.to_path_buf(), line });
            }
        }
    }
    if nested {
        return Err(err(open_line, "this block is never closed".into(), "add the missing `}`"));
    }
    Ok(items)
}

/// An include pattern, relative to the including file's folder; `*` and `?` in the file name.
fn expand(from: &Path, pattern: &str) -> Vec<PathBuf> {
    let base = from.parent().unwrap_or(Path::new("."));
    let p = if Path::new(pattern).is_absolute() { PathBuf::from(pattern) } else { base.join(pattern) };
    let name = p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    if !name.contains(['*', '?']) {
        return vec![p];
    }
    let dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|f| f.file_name().is_some_and(|n| glob(&name, &n.to_string_lossy())))
        .collect();
    found.sort();
    found
}

fn glob(pat: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pat.chars().collect(), s.chars().collect());
    fn m(p: &[char], s: &[char]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some('*'), _) => m(&p[1..], s) || (!s.is_empty() && m(p, &s[1..])),
            (Some('?'), Some(_)) => m(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => m(&p[1..], &s[1..]),
            _ => false,
        }
    }
    m(&p, &s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(t: &str) -> Result<Vec<Item>, SyntaxError> {
        let toks = lex(t);
        let mut pos = 0;
        block(&toks, &mut pos, Path::new("k.conf"), 0, false)
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
    fn unbalanced_braces_name_the_line() {
        let e = parse_text("a {\n  b 1\n").unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (1, "this block is never closed"));
        let e = parse_text("a 1\n}\n").unwrap_err();
        assert_eq!(e.line, 2);
        for s in ["{{{{", "}}}}", "\"", "{ \" }", "include", "\u{0}"] {
            let _ = parse_text(s);
        }
    }

    #[test]
    fn globs() {
        assert!(glob("*.conf", "a.conf"));
        assert!(!glob("*.conf", "a.cfg"));
        assert!(glob("lb?.conf", "lb1.conf"));
    }
}
