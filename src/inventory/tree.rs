//! The inventory's YAML as a tree that remembers where each key and value stands, so every
//! finding can name its line and column. Built from yaml-rust2's events: serde-based parsers
//! drop positions once the document is typed.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
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
    Syntax { pos: Pos, message: String },
    DuplicateKey { key: String, pos: Pos, first: Pos },
    ComplexKey { pos: Pos },
}

fn pos(m: Marker) -> Pos {
    // yaml-rust2 counts lines from 1 and columns from 0.
    Pos { line: m.line(), col: m.col() + 1 }
}

enum Frame {
    Map { entries: Vec<Entry>, pending: Option<(String, Pos)>, pos: Pos, anchor: usize },
    Seq { items: Vec<Node>, pos: Pos, anchor: usize },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    anchors: HashMap<usize, Node>,
    errors: Vec<TreeError>,
    documents: usize,
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
            Some(Frame::Map { entries, pending, .. }) => match pending.take() {
                None => match &node.kind {
                    Kind::Scalar(s, _) => *pending = Some((s.clone(), node.pos)),
                    Kind::Null => *pending = Some((String::new(), node.pos)),
                    _ => {
                        self.errors.push(TreeError::ComplexKey { pos: node.pos });
                        *pending = Some((String::from("?"), node.pos));
                    }
                },
                Some((key, key_pos)) => {
                    if let Some(first) = entries.iter().find(|e| e.key == key) {
                        self.errors.push(TreeError::DuplicateKey {
                            key: key.clone(),
                            pos: key_pos,
                            first: first.key_pos,
                        });
                    } else {
                        entries.push(Entry { key, key_pos, value: node });
                    }
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let p = pos(mark);
        match ev {
            Event::DocumentStart => self.documents += 1,
            Event::Scalar(value, style, anchor, _tag) => {
                let quoted = style != TScalarStyle::Plain;
                let kind = if !quoted && matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL") {
                    Kind::Null
                } else {
                    Kind::Scalar(value, quoted)
                };
                let node = Node { kind, pos: p };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push_value(node);
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().map(|mut n| {
                    n.pos = p;
                    n
                });
                self.push_value(node.unwrap_or(Node { kind: Kind::Null, pos: p }));
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq { items: Vec::new(), pos: p, anchor }),
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map { entries: Vec::new(), pending: None, pos: p, anchor })
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { items, pos, anchor }) => (Node { kind: Kind::Seq(items), pos }, anchor),
                    Some(Frame::Map { entries, pos, anchor, .. }) => (Node { kind: Kind::Map(entries), pos }, anchor),
                    None => return,
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push_value(node);
            }
            _ => {}
        }
    }
}

/// Parse YAML text. `Ok` carries the root (None for an empty document) and the non-fatal
/// problems (duplicate keys); `Err` is a syntax error.
pub fn parse(text: &str) -> Result<(Option<Node>, Vec<TreeError>), TreeError> {
    let mut b = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut b, true) {
        let m = e.marker();
        return Err(TreeError::Syntax { pos: pos(*m), message: e.info().to_string() });
    }
    if b.documents > 1 {
        return Err(TreeError::Syntax {
            pos: Pos { line: 1, col: 1 },
            message: "more than one YAML document in the file".into(),
        });
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
}
