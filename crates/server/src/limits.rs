//! Limits checked on the parsed document before async-graphql sees it: aliases, root fields,
//! the nesting of selections and fragment spreads, and the size of the document once its
//! fragments are expanded. Fragments are counted every time they are spread, in linear time
//! (memoised), so fragment "bombs" and cycles cannot make the check itself expensive.
//!
//! The same walk estimates the operation's cost: the values its response can hold, each
//! connection's selection counted once per row of its page (`first`/`last`, or the default
//! page size). The server admits only a few costly operations at a time (see `Admission`).

use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::{Name, Positioned, Value, Variables};
use std::collections::{HashMap, HashSet};

/// The limits.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    /// Most aliases in the operation (`PLEXUS_MAX_ALIASES`).
    pub max_aliases: usize,
    /// Most root fields (`PLEXUS_MAX_ROOT_FIELDS`).
    pub max_root_fields: usize,
    /// Deepest nesting of selection sets and spreads (`PLEXUS_MAX_RECURSIVE_DEPTH`).
    pub max_recursive_depth: usize,
    /// Most fields once fragments are expanded (`PLEXUS_MAX_COMPLEXITY`).
    pub max_fields: usize,
    /// Rows of a connection page without `first`/`last` (`PLEXUS_DEFAULT_PAGE_SIZE`).
    pub default_page_size: u64,
    /// Largest page (`PLEXUS_MAX_PAGE_SIZE`).
    pub max_page_size: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    aliases: usize,
    fields: usize,
    root_fields: usize,
    /// Nesting below this selection set.
    height: usize,
    /// Values the response can hold (see the module docs).
    cost: u64,
}

struct Walker<'a> {
    doc: &'a ExecutableDocument,
    variables: &'a Variables,
    limits: &'a QueryLimits,
    max_depth: usize,
    memo: HashMap<&'a Name, Counts>,
    in_progress: HashSet<&'a Name>,
}

fn too_deep(max: usize) -> String {
    format!(
        "the operation nests selections or fragments deeper than {max} levels (PLEXUS_MAX_RECURSIVE_DEPTH)"
    )
}

impl<'a> Walker<'a> {
    fn selection_set(&mut self, ss: &'a SelectionSet, depth: usize) -> Result<Counts, String> {
        if depth > self.max_depth {
            return Err(too_deep(self.max_depth));
        }
        let mut c = Counts::default();
        for item in &ss.items {
            let (nested, is_field) = match &item.node {
                Selection::Field(f) => {
                    c.fields = c.fields.saturating_add(1);
                    c.root_fields = c.root_fields.saturating_add(1);
                    c.cost = c.cost.saturating_add(1);
                    if f.node.alias.is_some() {
                        c.aliases = c.aliases.saturating_add(1);
                    }
                    if f.node.selection_set.node.items.is_empty() {
                        continue;
                    }
                    let mut nested = self.selection_set(&f.node.selection_set.node, depth + 1)?;
                    nested.cost = nested.cost.saturating_mul(self.rows(&f.node));
                    (nested, true)
                }
                Selection::InlineFragment(f) => (
                    self.selection_set(&f.node.selection_set.node, depth + 1)?,
                    false,
                ),
                Selection::FragmentSpread(s) => {
                    (self.fragment(&s.node.fragment_name, depth + 1)?, false)
                }
            };
            c.aliases = c.aliases.saturating_add(nested.aliases);
            c.fields = c.fields.saturating_add(nested.fields);
            c.cost = c.cost.saturating_add(nested.cost);
            if !is_field {
                c.root_fields = c.root_fields.saturating_add(nested.root_fields);
            }
            c.height = c.height.max(nested.height + 1);
        }
        Ok(c)
    }

    /// How many times a field's selection is resolved per parent: the page size of a
    /// connection (`first`/`last`, else the default when it selects `edges` or `nodes`).
    fn rows(&self, field: &Field) -> u64 {
        let asked = ["first", "last"].iter().find_map(|arg| {
            let value = field.get_argument(arg)?.node.clone();
            match value.into_const_with(|name| self.variables.get(&name).cloned().ok_or(())) {
                Ok(Value::Number(n)) => n.as_u64(),
                _ => None,
            }
        });
        // A connection is selected through `edges`, or `nodes` when that is its list of rows
        // (a field named `nodes` that is itself a connection, like `Project.nodes`, selects
        // connection fields in turn).
        let selects = |set: &SelectionSet, names: &[&str]| {
            set.items.iter().any(|i| match &i.node {
                Selection::Field(f) => names.contains(&f.node.name.node.as_str()),
                _ => false,
            })
        };
        let paged = || {
            field
                .selection_set
                .node
                .items
                .iter()
                .any(|i| match &i.node {
                    Selection::Field(f) => match f.node.name.node.as_str() {
                        "edges" => true,
                        "nodes" => !selects(
                            &f.node.selection_set.node,
                            &["edges", "nodes", "pageInfo", "totalCount"],
                        ),
                        _ => false,
                    },
                    _ => false,
                })
        };
        match asked {
            Some(n) => n.min(self.limits.max_page_size),
            None if paged() => self.limits.default_page_size,
            None => 1,
        }
    }

    fn fragment(&mut self, name: &'a Positioned<Name>, depth: usize) -> Result<Counts, String> {
        let name = &name.node;
        let counts = if let Some(c) = self.memo.get(name) {
            *c
        } else if self.in_progress.contains(name) {
            // A cycle: validation rejects it later; count nothing more here.
            return Ok(Counts::default());
        } else if let Some(def) = self.doc.fragments.get(name) {
            self.in_progress.insert(name);
            let c = self.selection_set(&def.node.selection_set.node, depth);
            self.in_progress.remove(name);
            let c = c?;
            self.memo.insert(name, c);
            c
        } else {
            return Ok(Counts::default());
        };
        if depth + counts.height > self.max_depth {
            return Err(too_deep(self.max_depth));
        }
        Ok(counts)
    }
}

/// Checks the operations `operation_name` selects (every operation when `None`) and returns
/// the highest estimated cost among them.
pub fn check(
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
    limits: &QueryLimits,
) -> Result<u64, String> {
    let mut cost = 0;
    let mut w = Walker {
        doc,
        variables,
        limits,
        max_depth: limits.max_recursive_depth,
        memo: HashMap::new(),
        in_progress: HashSet::new(),
    };
    for (name, op) in doc.operations.iter() {
        if operation_name.is_some() && name.map(|n| n.as_str()) != operation_name {
            continue;
        }
        let c = w.selection_set(&op.node.selection_set.node, 0)?;
        if c.root_fields > limits.max_root_fields {
            return Err(format!(
                "the operation selects {} root fields; at most {} are allowed (PLEXUS_MAX_ROOT_FIELDS)",
                c.root_fields, limits.max_root_fields
            ));
        }
        if c.aliases > limits.max_aliases {
            return Err(format!(
                "the operation uses {} aliases; at most {} are allowed (PLEXUS_MAX_ALIASES)",
                c.aliases, limits.max_aliases
            ));
        }
        if c.fields > limits.max_fields {
            return Err(format!(
                "the operation expands to more than {} fields (PLEXUS_MAX_COMPLEXITY)",
                limits.max_fields
            ));
        }
        cost = cost.max(c.cost);
    }
    Ok(cost)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const L: QueryLimits = QueryLimits {
        max_aliases: 2,
        max_root_fields: 3,
        max_recursive_depth: 4,
        max_fields: 1000,
        default_page_size: 20,
        max_page_size: 100,
    };

    fn run(q: &str) -> Result<u64, String> {
        check(
            &async_graphql::parser::parse_query(q).unwrap(),
            None,
            &Variables::default(),
            &L,
        )
    }

    #[test]
    fn cost_counts_each_page_row() {
        let roomy = QueryLimits {
            max_recursive_depth: 32,
            max_fields: 20_000,
            ..L
        };
        let doc = |q: &str| async_graphql::parser::parse_query(q).unwrap();
        let run = |q: &str| check(&doc(q), None, &Variables::default(), &roomy);
        assert_eq!(run("{ a b }").unwrap(), 2);
        // 1 (projects) + 3 × (1 + 1): the page size comes from `first`.
        assert_eq!(run("{ projects(first: 3) { id name } }").unwrap(), 7);
        // Nested pages multiply; a field selecting `edges` or `nodes` without `first` is
        // a page of the default size (20).
        assert_eq!(
            run("{ p(first: 2) { edges { node { id n { nodes { id } } } } } }").unwrap(),
            1 + 2 * (1 + (1 + (1 + (1 + 20 * (1 + 1))))),
        );
        // ...but not a field whose `nodes` is a connection of its own.
        assert_eq!(
            run("{ project { nodes { edges { node { id } } } } }").unwrap(),
            1 + (1 + 20 * (1 + (1 + 1)))
        );
        // Variables count, and no page is larger than the largest page.
        let vars = Variables::from_json(serde_json::json!({ "n": 7 }));
        let q = doc("query($n: Int) { a(first: $n) { id } b(last: 5000) { id } }");
        assert_eq!(check(&q, None, &vars, &roomy).unwrap(), (1 + 7) + (1 + 100));
        // The benchmark's canvas and dashboard (issue 9), as the README states them.
        assert_eq!(
            run("{ project(id: 1) { id nodes(first: 100) { edges { node { id position { x y } status parents { id } children { id } } } } } }").unwrap(),
            1103
        );
        assert_eq!(
            run("{ projects(first: 20) { edges { node { id name owner { id username } members(first: 10) { edges { node { role user { id username } } } } nodes(first: 50) { edges { node { id status children { id } createdBy { id username } } } } } } } }").unwrap(),
            10_381
        );
        // Fragments cost what they expand to, wherever they are spread.
        assert_eq!(
            run("{ a(first: 4) { ...F } b { ...F } } fragment F on T { x y }").unwrap(),
            (1 + 4 * 2) + (1 + 2)
        );
    }

    #[test]
    fn aliases_count_through_fragments() {
        run("{ a: viewer { id } b: viewer { id } }").unwrap();
        let e = run("{ ...F ...F ...F } fragment F on Query { a: viewer { id } }").unwrap_err();
        assert!(e.contains("PLEXUS_MAX_ALIASES"), "{e}");
    }

    #[test]
    fn root_fields_count_through_fragments() {
        run("{ a b c }").unwrap();
        let e = run("{ a ... on Query { b } ...F } fragment F on Query { c d }").unwrap_err();
        assert!(e.contains("4 root fields"), "{e}");
        // Nested fields of a fragment are not root fields.
        run("{ ...F } fragment F on Query { a { b c d e } }").unwrap();
    }

    #[test]
    fn depth_counts_spreads_and_memo_keeps_it() {
        run("{ a { b { c { d } } } }").unwrap();
        run("{ a { b { c { d { e } } } } }").unwrap();
        assert!(run("{ a { b { c { d { e { f } } } } } }").is_err());
        let e =
            run("{ a { ...F } x { y { z { ...F } } } } fragment F on T { b { c } }").unwrap_err();
        assert!(e.contains("PLEXUS_MAX_RECURSIVE_DEPTH"), "{e}");
    }

    #[test]
    fn bombs_and_cycles_are_cheap() {
        let mut q = String::from("{ ...F0 }");
        for i in 0..60 {
            q.push_str(&format!(
                " fragment F{i} on Query {{ ...F{} ...F{} }}",
                i + 1,
                i + 1
            ));
        }
        q.push_str(" fragment F60 on Query { a }");
        let limits = QueryLimits {
            max_recursive_depth: 100,
            max_root_fields: usize::MAX,
            ..L
        };
        let doc = async_graphql::parser::parse_query(&q).unwrap();
        let e = check(&doc, None, &Variables::default(), &limits).unwrap_err();
        assert!(e.contains("more than 1000 fields"), "{e}");
        run("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }").unwrap();
    }
}
