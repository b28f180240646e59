//! The inventory's YAML as a tree that remembers where each key and value stands, so every
//! finding can name its line and column. Built from yaml-rust2's events: serde-based parsers
//! drop positions once the document is typed.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Map(Vec<Entry>),
    Seq(Vec<Node>),
    /// Text and whether it was quoted (a quoted `80` is a string, not a number).
    Scalar(String, bool),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub pos: Pos,
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries.iter().find(|e| e.key == key).map(|e| &e.value),
            _ => None,
        }
    }

    pub fn entries(&self) -> &[Entry] {
        match &self.kind {
            Kind::Map(e) => e,
            _ => &[],
        }
    }

    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::Map(_) => "a mapping",
            Kind::Seq(_) => "a list",
            Kind::Scalar(..) => "a value",
            Kind::Null => "empty",
        }
    }
}

/// Problems found while building the tree (the parse itself stops at the first syntax error).
#[derive(Debug, Clone, PartialEq)]
pub enum TreeError {
    Syntax {
        pos: Pos,
        message: String,
    },
    DuplicateKey {
        key: String,
        pos: Pos,
        first: Pos,
    },
    ComplexKey {
        pos: Pos,
    },
    /// A bound of `LIMITS` was reached (nesting, nodes or text after alias expansion).
    Limit {
        pos: Pos,
        message: String,
    },
    /// The text holds a character YAML does not allow (NUL, other control characters).
    BadChar {
        pos: Pos,
        message: String,
    },
}

/// How much YAML any hapair input may hold. Aliases count as the nodes they expand to, so a
/// few hundred bytes of nested aliases ("billion laughs") stop at the bound instead of
/// growing memory. Documented in docs/limits.md.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Mappings and lists inside each other.
    pub max_depth: usize,
    /// Nodes (values, keys excluded) in the tree after alias expansion.
    pub max_nodes: usize,
    /// Bytes of scalar text (keys and values) after alias expansion.
    pub max_text: usize,
}

pub const LIMITS: Limits = Limits { max_depth: 64, max_nodes: 200_000, max_text: 8 << 20 };

fn pos(m: Marker) -> Pos {
    // yaml-rust2 counts lines from 1 and columns from 0.
    Pos { line: m.line(), col: m.col() + 1 }
}

enum Frame {
    Map {
        entries: Vec<Entry>,
        seen: HashMap<String, Pos>,
        pending: Option<(String, Pos)>,
        pos: Pos,
        anchor: usize,
        start: (usize, usize),
    },
    Seq {
        items: Vec<Node>,
        pos: Pos,
        anchor: usize,
        start: (usize, usize),
    },
}

/// An anchored node and what it costs each time an alias repeats it (nodes, text bytes).
struct Anchored {
    node: Node,
    nodes: usize,
    text: usize,
}

struct Builder {
    limits: Limits,
    stack: Vec<Frame>,
    root: Option<Node>,
    anchors: HashMap<usize, Anchored>,
    errors: Vec<TreeError>,
    documents: usize,
    nodes: usize,
    text: usize,
}

impl Builder {
    fn push_value(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, seen, pending, .. }) => match pending.take() {
                None => match &node.kind {
                    Kind::Scalar(s, _) => *pending = Some((s.clone(), node.pos)),
                    Kind::Null => *pending = Some((String::new(), node.pos)),
                    _ => {
                        self.errors.push(TreeError::ComplexKey { pos: node.pos });
                        *pending = Some((String::from("?"), node.pos));
                    }
                },
                Some((key, key_pos)) => {
                    if let Some(first) = seen.get(&key) {
                        self.errors.push(TreeError::DuplicateKey { key, pos: key_pos, first: *first });
                    } else {
                        seen.insert(key.clone(), key_pos);
                        entries.push(Entry { key, key_pos, value: node });
                    }
                }
            },
        }
    }

    /// Count `nodes` more nodes and `text` more bytes; past a bound, the error to stop with.
    fn spend(&mut self, nodes: usize, text: usize, at: Pos) -> Result<(), TreeError> {
        self.nodes = self.nodes.saturating_add(nodes);
        self.text = self.text.saturating_add(text);
        if self.nodes > self.limits.max_nodes {
            return Err(TreeError::Limit {
                pos: at,
                message: format!(
                    "the YAML holds more than {} values (aliases count as what they repeat)",
                    self.limits.max_nodes
                ),
            });
        }
        if self.text > self.limits.max_text {
            return Err(TreeError::Limit {
                pos: at,
                message: format!(
                    "the YAML holds more than {} of text (aliases count as what they repeat)",
                    crate::input::human(self.limits.max_text as u64)
                ),
            });
        }
        Ok(())
    }

    fn on_event(&mut self, ev: Event, p: Pos) -> Result<(), TreeError> {
        match ev {
            Event::DocumentStart => self.documents += 1,
            Event::Scalar(value, style, anchor, _tag) => {
                self.spend(1, value.len(), p)?;
                let quoted = style != TScalarStyle::Plain;
                let kind = if !quoted && matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL") {
                    Kind::Null
                } else {
                    Kind::Scalar(value, quoted)
                };
                let node = Node { kind, pos: p };
                if anchor > 0 {
                    let text = match &node.kind {
                        Kind::Scalar(s, _) => s.len(),
                        _ => 0,
                    };
                    self.anchors.insert(anchor, Anchored { node: node.clone(), nodes: 1, text });
                }
                self.push_value(node);
            }
            Event::Alias(id) => {
                let node = match self.anchors.get(&id) {
                    Some(a) => {
                        let (n, t) = (a.nodes, a.text);
                        self.spend(n, t, p)?;
                        let mut node = self.anchors[&id].node.clone();
                        node.pos = p;
                        node
                    }
                    None => {
                        self.spend(1, 0, p)?;
                        Node { kind: Kind::Null, pos: p }
                    }
                };
                self.push_value(node);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.stack.len() >= self.limits.max_depth {
                    return Err(TreeError::Limit {
                        pos: p,
                        message: format!("the YAML nests lists and mappings more than {} deep", self.limits.max_depth),
                    });
                }
                self.spend(1, 0, p)?;
                let start = (self.nodes, self.text);
                self.stack.push(if matches!(ev, Event::SequenceStart(..)) {
                    Frame::Seq { items: Vec::new(), pos: p, anchor, start }
                } else {
                    Frame::Map { entries: Vec::new(), seen: HashMap::new(), pending: None, pos: p, anchor, start }
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor, start) = match self.stack.pop() {
                    Some(Frame::Seq { items, pos, anchor, start }) => {
                        (Node { kind: Kind::Seq(items), pos }, anchor, start)
                    }
                    Some(Frame::Map { entries, pos, anchor, start, .. }) => {
                        (Node { kind: Kind::Map(entries), pos }, anchor, start)
                    }
                    None => return Ok(()),
                };
                if anchor > 0 {
                    // The collection itself (1) plus everything counted since it opened.
                    let nodes = 1 + self.nodes - start.0;
                    let text = self.text - start.1;
                    self.anchors.insert(anchor, Anchored { node: node.clone(), nodes, text });
                }
                self.push_value(node);
            }
            _ => {}
        }
        Ok(())
    }
}

/// The text without a UTF-8 byte-order mark (Windows editors write one; it is not content).
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// The first character YAML does not allow in a document (NUL, which would make the parser
/// stop reading and ignore the rest, and other control characters), with its place.
pub fn forbidden_char(text: &str) -> Option<TreeError> {
    let (i, c) = text.char_indices().find(|(_, c)| {
        let c = *c as u32;
        (c < 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) || c == 0x7f || (0x80..0xa0).contains(&c) && c != 0x85
    })?;
    let before = &text[..i];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let what =
        if c == '\0' { "a NUL byte (U+0000)".to_string() } else { format!("the control character U+{:04X}", c as u32) };
    Some(TreeError::BadChar {
        pos: Pos { line, col },
        message: format!("the file contains {what}, which YAML does not allow"),
    })
}

/// Parse YAML text with the default `LIMITS`. `Ok` carries the root (None for an empty
/// document) and the non-fatal problems (duplicate keys); `Err` is a syntax error or a bound.
/// This is the one way hapair parses YAML: other loaders go through `crate::input::yaml`.
pub fn parse(text: &str) -> Result<(Option<Node>, Vec<TreeError>), TreeError> {
    parse_with(text, LIMITS)
}

pub fn parse_with(text: &str, limits: Limits) -> Result<(Option<Node>, Vec<TreeError>), TreeError> {
    let text = strip_bom(text);
    if let Some(e) = forbidden_char(text) {
        return Err(e);
    }
    let mut b = Builder {
        limits,
        stack: Vec::new(),
        root: None,
        anchors: HashMap::new(),
        errors: Vec::new(),
        documents: 0,
        nodes: 0,
        text: 0,
    };
    // Event by event (not `Parser::load`, which recurses once per nesting level): a bound
    // stops the parse at once.
    let mut parser = Parser::new_from_str(text);
    loop {
        match parser.next_token() {
            Err(e) => return Err(TreeError::Syntax { pos: pos(*e.marker()), message: e.info().to_string() }),
            Ok((Event::StreamEnd, _)) => break,
            Ok((ev, mark)) => {
                if ev == Event::DocumentStart && b.documents == 1 {
                    return Err(TreeError::Syntax {
                        pos: pos(mark),
                        message: "more than one YAML document in the file".into(),
                    });
                }
                b.on_event(ev, pos(mark))?;
            }
        }
    }
    Ok((b.root, b.errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positions_of_keys_and_values() {
        let (root, errs) = parse("a:\n  b: 1\n  c: [x, \"2\"]\n").unwrap();
        assert!(errs.is_empty());
        let root = root.unwrap();
        let a = root.get("a").unwrap();
        assert_eq!(a.entries()[0].key_pos, Pos { line: 2, col: 3 });
        assert_eq!(a.get("b").unwrap().pos, Pos { line: 2, col: 6 });
        match &a.get("c").unwrap().kind {
            Kind::Seq(items) => {
                assert_eq!(items[1].kind, Kind::Scalar("2".into(), true));
                assert_eq!(items[1].pos, Pos { line: 3, col: 10 });
            }
            k => panic!("{k:?}"),
        }
    }

    #[test]
    fn reports_duplicate_keys_with_both_places() {
        let (_, errs) = parse("a: 1\nb: 2\na: 3\n").unwrap();
        assert_eq!(
            errs,
            vec![TreeError::DuplicateKey {
                key: "a".into(),
                pos: Pos { line: 3, col: 1 },
                first: Pos { line: 1, col: 1 }
            }]
        );
    }

    #[test]
    fn syntax_errors_carry_a_position_and_garbage_never_panics() {
        assert!(matches!(parse("a: [1, 2\n"), Err(TreeError::Syntax { .. })));
        for s in ["", "\u{0}\u{1}\u{2}", "- - - -", "{{{{", "a: &x [*x]", "? [a]\n: b", "\t\t", "'unterminated"] {
            let _ = parse(s);
        }
        assert_eq!(parse("").unwrap().0, None);
    }

    fn laughs(levels: usize) -> String {
        let mut s = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..levels {
            let refs = vec![format!("*a{}", i - 1); 9].join(", ");
            s.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        s
    }

    #[test]
    fn alias_expansion_is_bounded_and_located() {
        let text = laughs(9);
        assert!(text.len() < 500);
        let t = std::time::Instant::now();
        let e = parse(&text).expect_err("bounded");
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
        match e {
            TreeError::Limit { pos, message } => {
                assert_eq!(pos.line, 6, "{message}");
                assert_eq!(message, "the YAML holds more than 200000 values (aliases count as what they repeat)");
            }
            e => panic!("{e:?}"),
        }
        // Modest aliasing is fine, and text repeated by aliases counts too.
        assert!(parse(&laughs(3)).is_ok());
        let big = format!("a: &a \"{}\"\nb: [{}]\n", "x".repeat(1 << 20), ["*a"; 9].join(", "));
        assert!(matches!(parse(&big), Err(TreeError::Limit { .. })));
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("a: {}{}", "[".repeat(65), "]".repeat(65));
        assert!(matches!(parse(&deep), Err(TreeError::Limit { pos: Pos { line: 1, col: 67 }, .. })));
        let ok = format!("a: {}{}", "[".repeat(60), "]".repeat(60));
        assert!(parse(&ok).is_ok());
        // Far deeper than the parser's own recursion: an error, never a stack overflow.
        let deeper = format!("a: {}{}", "{a: ".repeat(100_000), "}".repeat(100_000));
        assert!(parse(&deeper).is_err());
    }

    #[test]
    fn nul_and_control_characters_are_refused_where_they_stand() {
        assert_eq!(
            parse("a: 1\nb: x\u{0}y\nc: 3\n"),
            Err(TreeError::BadChar {
                pos: Pos { line: 2, col: 5 },
                message: "the file contains a NUL byte (U+0000), which YAML does not allow".into()
            })
        );
        assert!(matches!(parse("a: \u{1b}[31m\n"), Err(TreeError::BadChar { pos: Pos { line: 1, col: 4 }, .. })));
        // Tabs, CR LF and non-ASCII text are ordinary.
        assert!(parse("a: \"x\ty\"\r\nb: é\r\n").is_ok());
    }

    #[test]
    fn a_byte_order_mark_is_accepted() {
        let (root, errs) = parse("\u{feff}a: 1\n").expect("BOM accepted");
        assert!(errs.is_empty());
        assert_eq!(root.expect("root").get("a").expect("a").kind, Kind::Scalar("1".into(), false));
    }
}
