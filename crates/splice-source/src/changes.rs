//! What a save changed: the parts of a file a program took, paired with the parts of the text
//! now, and the request that brings the program up to date. splice-lsp and the agent's file
//! watcher both decide with this, so that they cannot disagree.

use std::collections::HashMap;
use std::sync::Arc;

use ropey::Rope;
use splice_protocol::{Change, Definition, PartKind, PatchParams, StatementPolicy, Status};

use crate::python_index::{DefKind, PyDefinition};

/// A part as it was sent, to place the agent's answer in the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentDefinition {
    pub key: String,
    pub qualname: String,
    pub start: usize,
    pub end: usize,
    pub name_start: usize,
    pub name_end: usize,
}

/// Every definition with a key that tells apart those sharing a qualified name.
pub fn keyed(defs: &[PyDefinition]) -> Vec<(String, &PyDefinition)> {
    let mut seen: HashMap<(&str, DefKind), usize> = HashMap::new();
    defs.iter()
        .map(|def| {
            let n = seen.entry((&*def.qualname, def.kind)).or_default();
            let key = def.key(*n);
            *n += 1;
            (key, def)
        })
        .collect()
}

/// The innermost function containing `char_idx`.
pub fn innermost_at(defs: &[PyDefinition], char_idx: usize) -> Option<(String, &PyDefinition)> {
    keyed(defs)
        .into_iter()
        .filter(|(_, d)| d.kind == DefKind::Function && d.start <= char_idx && char_idx <= d.end)
        .min_by_key(|(_, d)| d.end - d.start)
}

/// The innermost part of `kind` around `char_idx`; for a function nested in another, the
/// part holding it.
pub fn part_at(defs: &[PyDefinition], char_idx: usize, kind: DefKind) -> Option<&PyDefinition> {
    defs.iter()
        .filter(|d| d.part && d.kind == kind && d.start <= char_idx && char_idx <= d.end)
        .min_by_key(|d| d.end - d.start)
}

/// Whether a save sends this part: every difference, but removals wait until the file parses
/// (a broken definition looks removed), and module statements only if `module_statements`.
pub fn sends(diff: &PartDiff<'_>, has_error: bool, module_statements: bool) -> bool {
    let Some(change) = diff.change else {
        return false;
    };
    let module_statement = diff
        .new
        .or(diff.old.map(TakenPart::def))
        .is_some_and(|d| d.kind == DefKind::Statement && d.qualname.is_empty());
    let held_back =
        (change == Change::Removed && has_error) || (module_statement && !module_statements);
    !held_back
}

/// A part as a program took it: its definition (shared with the other parts of the text it
/// was found in) and that text.
#[derive(Debug, Clone)]
pub struct TakenPart {
    defs: Arc<Vec<PyDefinition>>,
    index: usize,
    pub rope: Rope,
}

impl TakenPart {
    pub fn def(&self) -> &PyDefinition {
        &self.defs[self.index]
    }

    /// Whether two programs took the same parts, from the same parse (then their diffs agree).
    pub fn same_parts(a: &[TakenPart], b: &[TakenPart]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.index == y.index && Arc::ptr_eq(&x.defs, &y.defs))
    }

    pub fn first_line(&self) -> u32 {
        self.rope
            .char_to_line(self.def().start.min(self.rope.len_chars())) as u32
            + 1
    }
}

/// How one part of the current text relates to what an agent took: `change` is `None` for a
/// part the agent runs as it is.
#[derive(Debug, Clone)]
pub struct PartDiff<'a> {
    pub change: Option<Change>,
    /// Of `new` in the current definitions.
    pub index: Option<usize>,
    pub old: Option<&'a TakenPart>,
    pub new: Option<&'a PyDefinition>,
}

/// The parts of a text as a program that took all of it runs them.
pub fn taken_from(rope: &Rope, defs: &Arc<Vec<PyDefinition>>) -> Vec<TakenPart> {
    (0..defs.len())
        .filter(|&index| defs[index].part)
        .map(|index| TakenPart {
            defs: defs.clone(),
            index,
            rope: rope.clone(),
        })
        .collect()
}

/// Pairs the parts of the current text with those an agent took. Parts are told apart by kind
/// and qualified name, then by text (a namesake keeps its identity when lines move), then in
/// order. Statements pair only by text: a changed statement is a new one, the old removed.
pub fn diff<'a>(taken: &'a [TakenPart], current: &'a [PyDefinition]) -> Vec<PartDiff<'a>> {
    // A save diffs every part, once per agent: each lookup is a hash, never a scan, and the
    // parts sharing a key are chained through `next` (in file order) rather than collected.
    type Key<'k> = (&'k str, DefKind);
    let mut same_text: foldhash::HashMap<(Key<'_>, u64), usize> = Default::default();
    let mut in_order: foldhash::HashMap<Key<'_>, usize> = Default::default();
    same_text.reserve(taken.len());
    in_order.reserve(taken.len());
    let (mut next_same, mut next_in_order) =
        (vec![usize::MAX; taken.len()], vec![usize::MAX; taken.len()]);
    for (j, old) in taken.iter().enumerate().rev() {
        let key = (&*old.def().qualname, old.def().kind);
        if let Some(head) = same_text.insert((key, old.def().text_hash), j) {
            next_same[j] = head;
        }
        if let Some(head) = in_order.insert(key, j) {
            next_in_order[j] = head;
        }
    }
    let mut used = vec![false; taken.len()];
    let mut pairs: Vec<Option<usize>> = vec![None; current.len()];
    let parts: Vec<usize> = (0..current.len()).filter(|&i| current[i].part).collect();
    for &i in &parts {
        let new = &current[i];
        let key = ((&*new.qualname, new.kind), new.text_hash);
        if let Some(head) = same_text.get_mut(&key) {
            let j = *head;
            if j != usize::MAX {
                *head = next_same[j];
                used[j] = true;
                pairs[i] = Some(j);
            }
        }
    }
    for &i in &parts {
        let new = &current[i];
        if pairs[i].is_some() || new.kind == DefKind::Statement {
            continue;
        }
        let Some(head) = in_order.get_mut(&(&*new.qualname, new.kind)) else {
            continue;
        };
        while *head != usize::MAX && used[*head] {
            *head = next_in_order[*head];
        }
        if *head != usize::MAX {
            let j = *head;
            *head = next_in_order[j];
            used[j] = true;
            pairs[i] = Some(j);
        }
    }
    let mut found = Vec::new();
    for &i in &parts {
        let new = &current[i];
        let old = pairs[i].map(|j| &taken[j]);
        let change = match old {
            None => Some(Change::New),
            Some(old) if old.def().text_hash != new.text_hash => Some(Change::Changed),
            // Only a function's code knows its lines.
            Some(old) if new.kind == DefKind::Function && old.def().line != new.line => {
                Some(Change::Moved)
            }
            Some(_) => None,
        };
        found.push(PartDiff {
            change,
            index: Some(i),
            old,
            new: Some(new),
        });
    }
    for (j, old) in taken.iter().enumerate() {
        if !used[j] {
            found.push(PartDiff {
                change: Some(Change::Removed),
                index: None,
                old: Some(old),
                new: None,
            });
        }
    }
    found
}

/// The functions nested in the changed function parts among `diffs`, as changes whose text the
/// agent compares with what its enclosing function's patch made of them.
pub fn nested_in<'a, 'b>(
    defs: &'a [PyDefinition],
    diffs: impl Iterator<Item = &'b PartDiff<'a>>,
) -> Vec<PartDiff<'a>>
where
    'a: 'b,
{
    let mut found = Vec::new();
    for diff in diffs {
        let Some(outer) = diff.new.filter(|d| d.kind == DefKind::Function) else {
            continue;
        };
        if diff.change == Some(Change::Moved) {
            continue;
        }
        found.extend(
            defs.iter()
                .enumerate()
                .filter(|(_, d)| !d.part && d.kind == DefKind::Function)
                .filter(|(_, d)| outer.start <= d.start && d.end <= outer.end)
                .map(|(i, d)| PartDiff {
                    change: Some(Change::Changed),
                    index: Some(i),
                    old: None,
                    new: Some(d),
                }),
        );
    }
    found
}

/// Whether the `chosen` parts of `diffs` are every part that differs: taken, they bring the
/// program in step with the whole text (`PatchParams::complete`).
pub fn is_complete(diffs: &[PartDiff<'_>], chosen: &[usize]) -> bool {
    (0..diffs.len()).all(|i| diffs[i].change.is_none() || chosen.contains(&i))
}

/// The status an agent answered for each of `diffs`, from its answers to the `chosen` ones in
/// the order sent (`None` for those not sent), as `taken_after` wants them.
pub fn statuses(diffs: usize, chosen: &[usize], answered: &[Status]) -> Vec<Option<Status>> {
    let mut statuses = vec![None; diffs];
    for (&i, &status) in chosen.iter().zip(answered) {
        statuses[i] = Some(status);
    }
    statuses
}

/// What an agent runs after an attempt: `answers` are the statuses of the parts of `diffs`
/// that were sent (`None` for those that were not).
pub fn taken_after(
    rope: &Rope,
    defs: &Arc<Vec<PyDefinition>>,
    diffs: &[PartDiff<'_>],
    answers: &[Option<Status>],
) -> Vec<TakenPart> {
    let mut taken = Vec::new();
    for (diff, answer) in diffs.iter().zip(answers) {
        let now = || {
            diff.index.map(|index| TakenPart {
                defs: defs.clone(),
                index,
                rope: rope.clone(),
            })
        };
        let kept = match (diff.change, answer) {
            (None, _) => now(),
            (Some(_), Some(status)) if status.taken() => now(),
            (Some(Change::Removed), Some(Status::Refused))
                if diff.old.is_some_and(|o| o.def().kind == DefKind::Statement) =>
            {
                None
            }
            _ => diff.old.cloned(),
        };
        taken.extend(kept);
    }
    taken
}

/// The request for the selected parts of `rope` (whose whole text is `text`).
pub fn request(
    path: &str,
    text: &str,
    rope: &Rope,
    selected: &[&PartDiff<'_>],
    statements: StatementPolicy,
) -> (PatchParams, Vec<SentDefinition>) {
    let definitions = selected
        .iter()
        .map(|diff| {
            let change = diff.change.unwrap_or(Change::Changed);
            let any = diff
                .new
                .or(diff.old.map(TakenPart::def))
                .expect("a part on one side");
            let moved = change == Change::Moved;
            let source = diff.new.filter(|_| !moved).map(|d| d.context_from(rope));
            let previous = diff
                .old
                .filter(|_| !moved)
                .map(|o| o.def().context_from(&o.rope));
            Definition {
                qualname: any.qualname.to_string(),
                kind: match any.kind {
                    DefKind::Statement => PartKind::Statement,
                    _ => PartKind::Definition,
                },
                change,
                source: source.as_ref().map(|(_, text)| text.clone()),
                source_line: source.as_ref().map_or(0, |(row, _)| *row as u32 + 1),
                previous: previous.as_ref().map(|(_, text)| text.clone()),
                previous_source_line: previous.as_ref().map_or(0, |(row, _)| *row as u32 + 1),
                previous_line: diff.old.map(TakenPart::first_line),
                line: diff
                    .new
                    .map(|d| rope.char_to_line(d.start.min(rope.len_chars())) as u32 + 1),
            }
        })
        .collect();
    let params = PatchParams {
        path: path.to_owned(),
        source: Some(text.to_owned()),
        definitions,
        statements,
        complete: false,
    };
    (params, sent(rope, selected))
}

/// The selected parts as sent, to place the agents' answers: a removed part at its old line.
pub fn sent(rope: &Rope, selected: &[&PartDiff<'_>]) -> Vec<SentDefinition> {
    selected
        .iter()
        .map(|diff| match (diff.new, diff.old) {
            (Some(def), _) => SentDefinition {
                key: part_key(def),
                qualname: def.qualname.to_string(),
                start: def.start,
                end: def.end,
                name_start: def.name_start,
                name_end: def.name_end,
            },
            (None, Some(old)) => {
                let line = (old.first_line() as usize - 1).min(rope.len_lines().saturating_sub(1));
                let at = rope.line_to_char(line);
                SentDefinition {
                    key: format!("removed:{}", part_key(old.def())),
                    qualname: old.def().qualname.to_string(),
                    start: at,
                    end: at,
                    name_start: at,
                    name_end: at,
                }
            }
            (None, None) => unreachable!("a part on one side"),
        })
        .collect()
}

/// Names a part in notes: kind, qualified name and first line.
fn part_key(def: &PyDefinition) -> String {
    let kind = match def.kind {
        DefKind::Function => "def",
        DefKind::Class => "class",
        DefKind::Statement => "statement",
    };
    format!("{kind}:{}:{}", def.qualname, def.line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::Document;

    /// The changes a save of `after` sends to a program that took `before`, as
    /// `change qualname line` (statements by their first line's text).
    fn changes(before: &str, after: &str) -> Vec<String> {
        let mut old = Document::new(before, 0);
        let old_defs = old.definitions();
        let taken = taken_from(&old.rope, &old_defs);
        let mut new = Document::new(after, 0);
        let defs = new.definitions();
        diff(&taken, &defs)
            .iter()
            .filter_map(|d| {
                let change = d.change?;
                let def = d.new.or(d.old.map(TakenPart::def))?;
                let name = match def.kind {
                    DefKind::Statement => {
                        let rope = if d.new.is_some() {
                            &new.rope
                        } else {
                            &old.rope
                        };
                        rope.line(def.line).to_string().trim().to_owned()
                    }
                    _ => def.qualname.to_string(),
                };
                Some(format!(
                    "{} {name} {}",
                    serde_json::to_value(change).ok()?.as_str()?,
                    def.line + 1
                ))
            })
            .collect()
    }

    #[test]
    fn a_save_sends_what_differs_from_what_the_program_took() {
        // before, after, expected changes
        let cases: &[(&str, &str, &[&str])] = &[
            ("def a():\n    return 1\n", "def a():\n    return 1\n", &[]),
            ("def a():\n    return 1\n", "def a():\n    return 2\n", &["changed a 1"]),
            (
                "def a():\n    return 1\n",
                "\ndef a():\n    return 1\n",
                &["moved a 2"],
            ),
            ("LIMIT = 10\n", "LIMIT = 20\n", &["new LIMIT = 20 1", "removed LIMIT = 10 1"]),
            ("import os\n", "import os\nimport json\n", &["new import json 2"]),
            ("X = 1\n", "\nX = 1\n", &[]),
            (
                "class A:\n    x = 1\n    def m(self):\n        pass\n",
                "class A:\n    x = 2\n    def m(self):\n        pass\n",
                &["new x = 2 2", "removed x = 1 2"],
            ),
            (
                "class A:\n    def m(self):\n        pass\n",
                "class A(B):\n    def m(self):\n        pass\n",
                &["changed A 1"],
            ),
            (
                "class A:\n    def m(self):\n        pass\n    def n(self):\n        pass\n",
                "class A:\n    def n(self):\n        pass\n",
                &["moved A.n 2", "removed A.m 2"],
            ),
            // Namesakes keep their identity when one moves.
            (
                "@r\ndef _():\n    return 1\n@r\ndef _():\n    return 2\n",
                "@r\ndef _():\n    return 1\n\n@r\ndef _():\n    return 3\n",
                &["changed _ 6"],
            ),
            (
                "@r\ndef _():\n    return 1\n@r\ndef _():\n    return 2\n",
                "@r\ndef _():\n    return 0\n@r\ndef _():\n    return 1\n@r\ndef _():\n    return 2\n",
                &["new _ 2", "moved _ 5", "moved _ 8"],
            ),
            // A block's own text leaves out the definitions inside it.
            (
                "try:\n    import u\nexcept ImportError:\n    def f():\n        return 1\n",
                "try:\n    import u\nexcept ImportError:\n    def f():\n        return 2\n",
                &["changed f 4"],
            ),
            ("# one\nX = 1\n", "# two\nX = 1\n", &[]),
        ];
        for (before, after, expected) in cases {
            assert_eq!(&changes(before, after), expected, "{before:?} -> {after:?}");
        }
    }

    #[test]
    fn innermost_definition_at_cursor() {
        let text =
            "class A:\n    def m(self):\n        def inner():\n            pass\n    x = 1\n";
        let mut doc = Document::new(text, 0);
        let defs = doc.definitions();
        // (char index, expected qualname)
        let cases = [
            (text.find("pass").unwrap(), Some("A.m.<locals>.inner")),
            (text.find("def m").unwrap(), Some("A.m")),
            (text.find("x = 1").unwrap(), None),
            (text.len() + 5, None),
        ];
        for (at, expected) in cases {
            let found = innermost_at(&defs, at).map(|(_, d)| d.qualname.clone());
            assert_eq!(found.as_deref(), expected, "at {at}");
        }
    }

    #[test]
    fn getter_and_setter_get_distinct_keys() {
        let text = "class A:\n    @property\n    def x(self):\n        return 1\n    @x.setter\n    def x(self, v):\n        pass\n";
        let mut doc = Document::new(text, 0);
        let defs = doc.definitions();
        let keys: Vec<String> = keyed(&defs).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec!["A#0", "A.x#0", "A.x#1"]);
    }
}
