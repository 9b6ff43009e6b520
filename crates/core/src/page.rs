//! Relay-style keyset pagination: page requests, opaque cursors and pages.
//!
//! A cursor holds the values of the ordering columns of one row (plus the ordering's name,
//! so a cursor from another ordering is refused). Pages are fetched with `WHERE (keys) >
//! (cursor)` — never an offset — so they stay stable while rows are inserted.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, FixedOffset};
use sea_orm::IntoIdentity;
use sea_orm::sea_query::{Value, ValueTuple};
use sea_orm::{ConnectionTrait, EntityTrait, Select};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::row::{Layout, Positional};
use crate::{DomainError, DomainResult};

/// Page size bounds (configurable at start-up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimits {
    /// Rows returned when neither `first` nor `last` is given.
    pub default_size: u64,
    /// The largest `first`/`last` accepted.
    pub max_size: u64,
}

impl Default for PageLimits {
    fn default() -> Self {
        Self {
            default_size: 20,
            max_size: 100,
        }
    }
}

/// The connection arguments as the client sent them.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

/// One value of an ordering key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum KeyValue {
    /// A uuid (primary and foreign keys).
    U(Uuid),
    /// A timestamp.
    T(DateTime<FixedOffset>),
    /// A string.
    S(String),
    /// An integer.
    I(i64),
    /// A float.
    F(f64),
}

impl From<KeyValue> for Value {
    fn from(v: KeyValue) -> Self {
        match v {
            KeyValue::U(u) => u.into(),
            KeyValue::T(t) => t.into(),
            KeyValue::S(s) => s.into(),
            KeyValue::I(i) => i.into(),
            KeyValue::F(f) => f.into(),
        }
    }
}

/// An opaque position in an ordered list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// The ordering the cursor belongs to.
    #[serde(rename = "o")]
    pub order: String,
    /// The values of the ordering columns at this position.
    #[serde(rename = "k")]
    pub keys: Vec<KeyValue>,
}

impl Cursor {
    /// A cursor for the row with these key values in `order`.
    pub fn new(order: &str, keys: Vec<KeyValue>) -> Self {
        Self {
            order: order.to_string(),
            keys,
        }
    }

    /// The opaque text handed to clients.
    pub fn encode(&self) -> String {
        // Serialising plain data into a Vec cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Decodes a cursor of the given ordering; `arg` names the argument in the error.
    pub fn decode(s: &str, order: &str, arity: usize, arg: &str) -> DomainResult<Self> {
        let bad = || DomainError::invalid(arg, "invalid cursor: pass a cursor this list returned");
        if s.len() > 1024 {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if cursor.order != order || cursor.keys.len() != arity {
            return Err(DomainError::invalid(
                arg,
                "invalid cursor: it belongs to another ordering or list",
            ));
        }
        Ok(cursor)
    }

    fn value_tuple(&self) -> ValueTuple {
        let values: Vec<Value> = self.keys.iter().cloned().map(Value::from).collect();
        let mut it = values.into_iter();
        match (it.next(), it.next(), it.next(), it.next()) {
            (Some(a), None, _, _) => ValueTuple::One(a),
            (Some(a), Some(b), None, _) => ValueTuple::Two(a, b),
            (Some(a), Some(b), Some(c), None) => ValueTuple::Three(a, b, c),
            (a, b, c, d) => {
                ValueTuple::Many([a, b, c, d].into_iter().flatten().chain(it).collect())
            }
        }
    }
}

/// Validated arguments for one page.
#[derive(Debug, Clone)]
pub struct PageArgs {
    /// How many rows to return.
    pub limit: u64,
    /// True for `last`/`before` paging: the rows nearest the end are taken.
    pub backward: bool,
    /// Only rows after this position.
    pub after: Option<Cursor>,
    /// Only rows before this position.
    pub before: Option<Cursor>,
}

impl PageRequest {
    /// Validates the arguments for a list in `order` whose key has `arity` columns.
    pub fn resolve(&self, limits: PageLimits, order: &str, arity: usize) -> DomainResult<PageArgs> {
        if self.first.is_some() && self.last.is_some() {
            return Err(DomainError::invalid(
                "first",
                "pass either `first` or `last`, not both",
            ));
        }
        let check = |n: i32, arg: &str| -> DomainResult<u64> {
            if n < 0 {
                return Err(DomainError::invalid(
                    arg,
                    format!("`{arg}` must not be negative"),
                ));
            }
            let n = n as u64;
            if n > limits.max_size {
                return Err(DomainError::invalid(
                    arg,
                    format!("`{arg}` must be at most {}", limits.max_size),
                ));
            }
            Ok(n)
        };
        let (limit, backward) = match (self.first, self.last) {
            (Some(n), _) => (check(n, "first")?, false),
            (None, Some(n)) => (check(n, "last")?, true),
            (None, None) => (
                limits.default_size,
                self.before.is_some() && self.after.is_none(),
            ),
        };
        let after = self
            .after
            .as_deref()
            .map(|s| Cursor::decode(s, order, arity, "after"));
        let before = self
            .before
            .as_deref()
            .map(|s| Cursor::decode(s, order, arity, "before"));
        Ok(PageArgs {
            limit,
            backward,
            after: after.transpose()?,
            before: before.transpose()?,
        })
    }
}

/// One page of rows with their cursors.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The rows, in list order, each with its cursor.
    pub items: Vec<(Cursor, T)>,
    /// More rows follow the last one.
    pub has_next_page: bool,
    /// More rows precede the first one.
    pub has_previous_page: bool,
    /// The size of the whole list, when the page query could count it for free.
    pub total_count: Option<u64>,
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Self {
            items: vec![],
            has_next_page: false,
            has_previous_page: false,
            total_count: Some(0),
        }
    }
}

impl<T> Page<T> {
    /// Transforms the rows, keeping cursors and page info.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        let mut f = f;
        Page {
            items: self.items.into_iter().map(|(c, t)| (c, f(t))).collect(),
            has_next_page: self.has_next_page,
            has_previous_page: self.has_previous_page,
            total_count: self.total_count,
        }
    }
}

/// An ordering of a list: its name (stored in cursors), its columns (the last one unique)
/// and its direction.
pub struct Ordering<C> {
    /// Name stored in cursors.
    pub name: &'static str,
    /// The ordering columns; the last must make the key unique (usually the id).
    pub columns: C,
    /// The number of columns in `columns`.
    pub arity: usize,
    /// Descending instead of ascending.
    pub descending: bool,
}

/// Fetches one page of `select` in `ordering` (one statement, `limit + 1` rows).
pub async fn fetch_page<E, C, D>(
    db: &D,
    select: Select<E>,
    ordering: Ordering<C>,
    args: &PageArgs,
    key_of: impl Fn(&E::Model) -> Vec<KeyValue>,
) -> DomainResult<Page<E::Model>>
where
    E: EntityTrait,
    E::Model: Sync,
    C: IntoIdentity,
    D: ConnectionTrait,
{
    let mut cursor = select.cursor_by(ordering.columns);
    if ordering.descending {
        cursor.desc();
    }
    if let Some(after) = &args.after {
        cursor.after(after.value_tuple());
    }
    if let Some(before) = &args.before {
        cursor.before(before.value_tuple());
    }
    if args.backward {
        cursor.last(args.limit + 1);
    } else {
        cursor.first(args.limit + 1);
    }
    let mut rows = cursor.all(db).await?;
    let more = rows.len() as u64 > args.limit;
    if more {
        if args.backward {
            rows.remove(0);
        } else {
            rows.pop();
        }
    }
    let (has_next_page, has_previous_page) = if args.backward {
        (args.before.is_some(), more)
    } else {
        (more, args.after.is_some())
    };
    let items = rows
        .into_iter()
        .map(|row| (Cursor::new(ordering.name, key_of(&row)), row))
        .collect();
    Ok(Page {
        items,
        has_next_page,
        has_previous_page,
        total_count: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(first: Option<i32>, last: Option<i32>) -> PageRequest {
        PageRequest {
            first,
            last,
            ..Default::default()
        }
    }

    #[test]
    fn cursor_round_trips() {
        let t = DateTime::parse_from_rfc3339("2026-11-22T03:00:00.123456+00:00").unwrap();
        let c = Cursor::new(
            "createdAt",
            vec![KeyValue::T(t), KeyValue::U(Uuid::now_v7())],
        );
        let s = c.encode();
        assert!(
            s.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
        );
        assert_eq!(Cursor::decode(&s, "createdAt", 2, "after").unwrap(), c);
    }

    #[test]
    fn cursor_of_another_ordering_is_refused() {
        let s = Cursor::new(
            "name",
            vec![KeyValue::S("a".into()), KeyValue::U(Uuid::nil())],
        )
        .encode();
        let e = Cursor::decode(&s, "createdAt", 2, "after").unwrap_err();
        assert_eq!((e.code(), e.field()), ("BAD_USER_INPUT", Some("after")));
        let e = Cursor::decode(&s, "name", 1, "before").unwrap_err();
        assert_eq!(e.field(), Some("before"));
    }

    #[test]
    fn garbage_cursors_are_refused() {
        for bad in ["", "!!!", "eyJvIjoxfQ", &"a".repeat(5000)] {
            let e = Cursor::decode(bad, "id", 1, "after").unwrap_err();
            assert_eq!(e.code(), "BAD_USER_INPUT");
        }
    }

    #[test]
    fn page_sizes_are_bounded() {
        let limits = PageLimits::default();
        assert_eq!(req(None, None).resolve(limits, "id", 1).unwrap().limit, 20);
        assert_eq!(
            req(Some(100), None).resolve(limits, "id", 1).unwrap().limit,
            100
        );
        let e = req(Some(101), None).resolve(limits, "id", 1).unwrap_err();
        assert_eq!(e.field(), Some("first"));
        let e = req(None, Some(-1)).resolve(limits, "id", 1).unwrap_err();
        assert_eq!(e.field(), Some("last"));
        assert!(req(Some(1), Some(1)).resolve(limits, "id", 1).is_err());
        let back = req(None, Some(5)).resolve(limits, "id", 1).unwrap();
        assert!(back.backward);
        assert_eq!(back.limit, 5);
    }
}

/// A nested page request in `id` order, usable as part of a DataLoader key (the same
/// arguments for many parents are loaded together).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChildPage {
    /// Rows per parent.
    pub limit: u64,
    /// Take the rows nearest the end.
    pub backward: bool,
    /// Only rows with a greater id.
    pub after: Option<Uuid>,
    /// Only rows with a smaller id.
    pub before: Option<Uuid>,
    /// Count each parent's rows in the same statement (when the page has no cursor); off
    /// when nobody asks for the total, so a page costs its rows alone.
    pub count: bool,
}

/// Name of the `id` ordering in cursors of nested lists.
pub const ID_ORDER: &str = "id";

impl ChildPage {
    /// Validates connection arguments for a nested list ordered by id (creation order).
    pub fn resolve(req: &PageRequest, limits: PageLimits) -> DomainResult<Self> {
        let args = req.resolve(limits, ID_ORDER, 1)?;
        let id = |c: &Option<Cursor>| match c.as_ref().and_then(|c| c.keys.first()) {
            Some(KeyValue::U(u)) => Some(*u),
            _ => None,
        };
        Ok(Self {
            limit: args.limit,
            backward: args.backward,
            after: id(&args.after),
            before: id(&args.before),
            count: true,
        })
    }
}

/// Up to this many parents, a nested page is a UNION ALL of one LIMITed scan per parent.
const UNION_MAX_PARENTS: usize = 100;

/// Fetches one page per parent in a single statement, so a nested connection costs one
/// query for all its parents: a UNION ALL of `ORDER BY id LIMIT n` scans (up to
/// `UNION_MAX_PARENTS` parents), else `ROW_NUMBER() OVER (PARTITION BY parent ORDER BY id)`.
pub async fn fetch_child_pages<E, D>(
    db: &D,
    select: Select<E>,
    parent_col: E::Column,
    id_col: E::Column,
    parents: &[Uuid],
    page: ChildPage,
) -> DomainResult<std::collections::HashMap<Uuid, Page<E::Model>>>
where
    E: EntityTrait,
    E::Model: Positional,
    D: ConnectionTrait,
{
    use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, Query};
    use sea_orm::{
        ColumnTrait, IdenStatic, ModelTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    };
    let uuid_at = |m: &E::Model, col: E::Column| match m.get(col) {
        Value::Uuid(Some(u)) => u,
        _ => Uuid::nil(),
    };

    if let [parent] = parents {
        // One parent (a canvas opened on its own): an index range scan with LIMIT, instead
        // of numbering every row of the partition. The total is then counted on demand.
        use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
        let mut q = select.filter(parent_col.eq(*parent));
        if let Some(after) = page.after {
            q = q.filter(id_col.gt(after));
        }
        if let Some(before) = page.before {
            q = q.filter(id_col.lt(before));
        }
        q = if page.backward {
            q.order_by_desc(id_col)
        } else {
            q.order_by_asc(id_col)
        };
        let mut rows = crate::row::all(db, q.limit(page.limit + 1)).await?;
        let more = rows.len() as u64 > page.limit;
        rows.truncate(page.limit as usize);
        if page.backward {
            rows.reverse();
        }
        let (has_next_page, has_previous_page) = if page.backward {
            (page.before.is_some(), more)
        } else {
            (more, page.after.is_some())
        };
        let id_of = |m: &E::Model| match sea_orm::ModelTrait::get(m, id_col) {
            Value::Uuid(Some(u)) => u,
            _ => Uuid::nil(),
        };
        let items = rows
            .into_iter()
            .map(|m| (Cursor::new(ID_ORDER, vec![KeyValue::U(id_of(&m))]), m))
            .collect();
        let page = Page {
            items,
            has_next_page,
            has_previous_page,
            total_count: None,
        };
        return Ok(std::collections::HashMap::from([(*parent, page)]));
    }
    // Without a cursor the page sees the whole list: count it in the same statement, if asked.
    let counted = page.count && page.after.is_none() && page.before.is_none();
    let outer = if parents.len() <= UNION_MAX_PARENTS {
        // One LIMITed index range scan per parent, glued with UNION ALL: the cost follows
        // the page size, not the size of the parents' lists (the window below numbers every
        // row of every parent before it keeps the first ones).
        let mut members = parents.iter().enumerate().map(|(i, parent)| {
            let mut q = select.clone().filter(parent_col.eq(*parent));
            if let Some(after) = page.after {
                q = q.filter(id_col.gt(after));
            }
            if let Some(before) = page.before {
                q = q.filter(id_col.lt(before));
            }
            let count = counted.then(|| {
                q.clone()
                    .select_only()
                    .expr(Expr::cust("COUNT(*)"))
                    .into_query()
            });
            q = if page.backward {
                q.order_by_desc(id_col)
            } else {
                q.order_by_asc(id_col)
            };
            let mut branch = q.limit(page.limit + 1).into_query();
            if let Some(count) = count {
                branch.expr_as(
                    Expr::SubQuery(None, Box::new(count.into())),
                    Alias::new("plexus_total"),
                );
            }
            Query::select()
                .column(Asterisk)
                .from_subquery(branch, Alias::new(format!("plexus_p{i}")))
                .to_owned()
        });
        let mut first = members.next().unwrap_or_else(Query::select);
        for member in members {
            first.union(sea_orm::sea_query::UnionType::All, member);
        }
        first
    } else {
        let table = E::default().table_name().to_string();
        let mut select = select.filter(parent_col.is_in(parents.iter().copied()));
        if let Some(after) = page.after {
            select = select.filter(id_col.gt(after));
        }
        if let Some(before) = page.before {
            select = select.filter(id_col.lt(before));
        }
        let dir = if page.backward { "DESC" } else { "ASC" };
        let window = format!(
            "ROW_NUMBER() OVER (PARTITION BY \"{table}\".\"{}\" ORDER BY \"{table}\".\"{}\" {dir})",
            parent_col.as_str(),
            id_col.as_str()
        );
        let mut inner = select.into_query();
        inner.expr_as(Expr::cust(window), Alias::new("plexus_rn"));
        if counted {
            let total = format!(
                "COUNT(*) OVER (PARTITION BY \"{table}\".\"{}\")",
                parent_col.as_str()
            );
            inner.expr_as(Expr::cust(total), Alias::new("plexus_total"));
        }
        Query::select()
            .column(Asterisk)
            .from_subquery(inner, Alias::new("plexus_page"))
            .and_where(Expr::col(Alias::new("plexus_rn")).lte((page.limit + 1) as i64))
            .order_by(Alias::new("plexus_rn"), sea_orm::sea_query::Order::Asc)
            .to_owned()
    };
    let rows = db.query_all(&outer).await?;
    let layout = Layout::of_rows::<E::Model>(&rows, "");
    let mut grouped: std::collections::HashMap<Uuid, Vec<E::Model>> =
        std::collections::HashMap::new();
    let mut totals: std::collections::HashMap<Uuid, u64> = std::collections::HashMap::new();
    for row in rows {
        let model: E::Model = layout.read(&row, "")?;
        let parent = uuid_at(&model, parent_col);
        if counted {
            totals.insert(parent, row.try_get::<i64>("", "plexus_total")? as u64);
        }
        grouped.entry(parent).or_default().push(model);
    }
    let mut pages = std::collections::HashMap::with_capacity(parents.len());
    for parent in parents {
        let mut rows = grouped.remove(parent).unwrap_or_default();
        // UNION ALL does not promise to keep each branch's order: restore it.
        if page.backward {
            rows.sort_by_key(|m| std::cmp::Reverse(uuid_at(m, id_col)));
        } else {
            rows.sort_by_key(|m| uuid_at(m, id_col));
        }
        let more = rows.len() as u64 > page.limit;
        rows.truncate(page.limit as usize);
        if page.backward {
            rows.reverse();
        }
        let (has_next_page, has_previous_page) = if page.backward {
            (page.before.is_some(), more)
        } else {
            (more, page.after.is_some())
        };
        let items = rows
            .into_iter()
            .map(|m| {
                (
                    Cursor::new(ID_ORDER, vec![KeyValue::U(uuid_at(&m, id_col))]),
                    m,
                )
            })
            .collect();
        let total_count = counted.then(|| totals.get(parent).copied().unwrap_or(0));
        pages.insert(
            *parent,
            Page {
                items,
                has_next_page,
                has_previous_page,
                total_count,
            },
        );
    }
    Ok(pages)
}

/// Row counts of `select` per parent (`parent_col`), for the given parents, in one
/// statement: the `totalCount` of nested connections. Parents without rows are absent.
pub async fn count_children<E, D>(
    db: &D,
    select: Select<E>,
    parent_col: E::Column,
    id_col: E::Column,
    parents: &[Uuid],
) -> DomainResult<std::collections::HashMap<Uuid, u64>>
where
    E: EntityTrait,
    D: ConnectionTrait,
{
    use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
    let rows: Vec<(Option<Uuid>, i64)> = select
        .select_only()
        .column(parent_col)
        .column_as(id_col.count(), "n")
        .filter(parent_col.is_in(parents.iter().copied()))
        .group_by(parent_col)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(p, n)| p.map(|p| (p, n as u64)))
        .collect())
}
