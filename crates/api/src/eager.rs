//! Objects whose selected fields are at hand, resolved without one future per field.
//!
//! async-graphql resolves every field of an object as a boxed future collected in a
//! `FuturesUnordered` (`resolver_utils::resolve_container`): ~4,000 instructions a field,
//! whether it awaits anything or not, and the fields come out in the order they finished.
//! A canvas or a dashboard selects thousands of fields, most of them columns of a row already
//! loaded. [`resolve`] answers those at once (a small sub-object such as a node's
//! `position` too, through [`object`]), awaits only the fields that have to (relations, a
//! row not loaded yet, fields with arguments), and keeps the selection's order.
//!
//! A list of such objects (a connection's page, a node's `children`) goes further through
//! [`all`]: its selection is answered column by column, a relation once for all the items
//! ([`Many`]), so a page of 50 nodes with their children and creators costs two loads and
//! no future per node. That path answers whole or not at all: when a field is not
//! answered that way, or a load fails, the list resolves item by item as before (and
//! reports its errors there, with their paths).
//!
//! It handles a selection set of plain fields, each response key once. Anything else
//! (fragments, custom directives, a key selected twice, whose sub-selections merge) goes
//! through `resolve_container` as before. `@skip`/`@include` are applied and removed by
//! async-graphql before execution. Field extensions are not called for eager fields: the
//! schema registers none (`schema::build_schema`); adding one means leaving this path.

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::resolver_utils::{ContainerType, resolve_container};
use async_graphql::{
    Context, ContextSelectionSet, Name, OutputType, Positioned, ServerResult, Value,
};
use futures_util::future::BoxFuture;

use crate::connection::Items;

/// An object with fields that can be answered without awaiting.
pub(crate) trait Eager: ContainerType {
    /// The value of the argument-less `field` if it is at hand, else `None` (the field's
    /// resolver runs). An object-valued field can answer through [`object`].
    fn eager(&self, field: &Field) -> Option<Value>;
}

/// The value of a sub-object whose fields are all at hand: `value(name)` for each field of
/// a plain `selection` (`__typename` is `type_name`), in selection order; `None` when the
/// selection is not plain or a field is not at hand, and the usual path resolves it.
pub(crate) fn object(
    selection: &SelectionSet,
    type_name: &str,
    value: impl Fn(&str) -> Option<Value>,
) -> Option<Value> {
    all_at_hand(selection, type_name, |f| value(f.name.node.as_str()))
}

/// `value(field)` for every field of a plain `selection`, as an object in selection
/// order; `None` when the selection is not plain or a field is not at hand.
fn all_at_hand(
    selection: &SelectionSet,
    type_name: &str,
    value: impl Fn(&Field) -> Option<Value>,
) -> Option<Value> {
    if !plain(&selection.items) {
        return None;
    }
    let mut map = IndexMap::with_capacity(selection.items.len());
    for s in &selection.items {
        let Selection::Field(field) = &s.node else {
            return None;
        };
        let v = at_hand(&field.node, type_name, &value)?;
        map.insert(field.node.response_key().node.clone(), v);
    }
    Some(object_value(map))
}

/// Eager objects answered together ([`all`]): the fields that are not at hand.
pub(crate) trait Many: Eager + Sync + Sized {
    /// The values of the field at `ctx` for each of `items`, for a field their `eager` does
    /// not answer, with what it needs loaded once for all of them; `None` when this field
    /// is not answered that way (the items then resolve one by one).
    fn many<'a>(
        _ctx: &'a Context<'a>,
        _items: &'a [&'a Self],
    ) -> BoxFuture<'a, Option<Vec<Value>>> {
        Box::pin(std::future::ready(None))
    }
}

/// The values of `items` for the selection at `ctx`, answered together: the fields at hand
/// at once, the others through [`Many::many`], all of those awaited together (so each
/// loader is asked once). `None` when the selection is not plain or a field is not
/// answered that way; nothing is reported then.
pub(crate) async fn all<T: Many>(
    ctx: &ContextSelectionSet<'_>,
    items: &[&T],
) -> Option<Vec<Value>> {
    let selection = &ctx.item.node.items;
    if !plain(selection) {
        return None;
    }
    let Some(first) = items.first() else {
        return Some(Vec::new());
    };
    let type_name = first.introspection_type_name();
    let mut keys = Vec::with_capacity(selection.len());
    let mut columns: Vec<Vec<Value>> = Vec::with_capacity(selection.len());
    let mut later = Vec::new();
    for s in selection {
        let Selection::Field(field) = &s.node else {
            return None;
        };
        keys.push(field.node.response_key().node.clone());
        let column: Option<Vec<Value>> = items
            .iter()
            .map(|item| at_hand(&field.node, &type_name, |f| item.eager(f)))
            .collect();
        if column.is_none() {
            later.push((columns.len(), ctx.with_field(field)));
        }
        columns.push(column.unwrap_or_default());
    }
    if !later.is_empty() {
        let loaded =
            futures_util::future::join_all(later.iter().map(|(_, c)| T::many(c, items))).await;
        for ((i, _), column) in later.iter().zip(loaded) {
            columns[*i] = column.filter(|c| c.len() == items.len())?;
        }
    }
    let mut columns: Vec<_> = columns.into_iter().map(Vec::into_iter).collect();
    let shape = Shape::new(keys);
    Some(
        (0..items.len())
            .map(|_| shape.object(columns.iter_mut().map(|c| c.next().unwrap_or_default())))
            .collect(),
    )
}

/// The keys of many objects of one selection, hashed once: each object is a copy of
/// one map with its values filled in (an `IndexMap` insert hashes its key with SipHash,
/// ~4% of a dashboard's instructions when done per object).
pub(crate) struct Shape(IndexMap<Name, Value>);

impl Shape {
    /// The shape of objects with these keys, in this order (no key twice).
    pub(crate) fn new(keys: impl IntoIterator<Item = Name>) -> Self {
        Self(keys.into_iter().map(|k| (k, Value::Null)).collect())
    }

    /// An object of this shape with `values`, in key order; as `resolve_container` gives
    /// it, null when it has no key.
    pub(crate) fn object(&self, values: impl IntoIterator<Item = Value>) -> Value {
        let mut map = self.0.clone();
        for (slot, value) in map.values_mut().zip(values) {
            *slot = value;
        }
        object_value(map)
    }
}

/// A list of eager objects (`[T!]!` in the schema, as a `Vec<T>`), answered together
/// ([`Items::all`]) when it can be, as for a list of references selecting `id`; otherwise
/// item by item, as async-graphql resolves a `Vec` (one future each).
pub(crate) struct List<T>(pub Vec<T>);

impl<T: Items> OutputType for List<T> {
    fn type_name() -> std::borrow::Cow<'static, str> {
        <Vec<T> as OutputType>::type_name()
    }

    fn qualified_type_name() -> String {
        <Vec<T> as OutputType>::qualified_type_name()
    }

    fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
        <Vec<T> as OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        crate::connection::resolve_items(ctx, field, self.0.iter().collect()).await
    }
}

/// A selected field's value when it needs no resolver: `__typename`, or what `value` has
/// for an argument-less field.
fn at_hand(
    field: &Field,
    type_name: &str,
    value: impl FnOnce(&Field) -> Option<Value>,
) -> Option<Value> {
    if field.name.node == "__typename" {
        Some(Value::String(type_name.to_owned()))
    } else if field.arguments.is_empty() {
        value(field)
    } else {
        None
    }
}

/// An object's answer, as `resolve_container` gives it: null when no field is left.
fn object_value(map: IndexMap<Name, Value>) -> Value {
    if map.is_empty() {
        Value::Null
    } else {
        Value::Object(map)
    }
}

/// Whether `resolve` handles this selection itself: plain fields only, no key twice.
pub(crate) fn plain(items: &[async_graphql::Positioned<Selection>]) -> bool {
    items.iter().enumerate().all(|(i, s)| match &s.node {
        Selection::Field(f) => {
            let key = &f.node.response_key().node;
            f.node.directives.is_empty()
                && items[..i].iter().all(|p| match &p.node {
                    Selection::Field(p) => p.node.response_key().node != *key,
                    _ => true,
                })
        }
        _ => false,
    })
}

/// Resolves `root`'s selection: eager fields at once, the others concurrently, the result
/// in selection order. The same errors as `resolve_container`: a failed field is reported
/// and left out.
pub(crate) async fn resolve<T: Eager>(
    ctx: &ContextSelectionSet<'_>,
    root: &T,
) -> ServerResult<Value> {
    let items = &ctx.item.node.items;
    if !plain(items) {
        return resolve_container(ctx, root).await;
    }
    let type_name = root.introspection_type_name();
    let mut map = IndexMap::with_capacity(items.len());
    let mut later = Vec::new();
    for s in items {
        let Selection::Field(field) = &s.node else {
            continue;
        };
        let value = at_hand(&field.node, &type_name, |f| root.eager(f));
        let key = field.node.response_key().node.clone();
        match value {
            Some(value) => {
                map.insert(key, value);
            }
            None => {
                later.push((map.len(), ctx.with_field(field)));
                map.insert(key, Value::Null);
            }
        }
    }
    if !later.is_empty() {
        // Boxed, as async-graphql does (`Fields::add_set`): a field of a type that contains
        // itself (a node's `children`) would otherwise make this future's type infinite.
        let results = futures_util::future::join_all(later.iter().map(|(_, c)| {
            let field: futures_util::future::BoxFuture<'_, ServerResult<Option<Value>>> =
                Box::pin(root.resolve_field(c));
            field
        }))
        .await;
        let mut failed = Vec::new();
        for ((i, _), result) in later.iter().zip(results) {
            match result {
                Ok(value) => {
                    if let Some((_, slot)) = map.get_index_mut(*i) {
                        *slot = value.unwrap_or_default();
                    }
                }
                Err(e) => {
                    ctx.add_error(e);
                    failed.push(*i);
                }
            }
        }
        for i in failed.into_iter().rev() {
            map.shift_remove_index(i);
        }
    }
    Ok(object_value(map))
}

/// Makes `$outer`, a newtype around the `#[Object]` type `$inner`, the GraphQL type that
/// `$inner` declares, resolved through [`resolve`] (a list of them through [`all`]);
/// `$inner` implements [`Eager`] and [`Many`]. Also
/// gives `$outer` the `id` method that the `Node` interface calls.
macro_rules! eager_object {
    ($outer:ty => $inner:ty) => {
        impl async_graphql::OutputType for $outer {
            fn type_name() -> std::borrow::Cow<'static, str> {
                <$inner as async_graphql::OutputType>::type_name()
            }

            fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
                <$inner as async_graphql::OutputType>::create_type_info(registry)
            }

            async fn resolve(
                &self,
                ctx: &async_graphql::ContextSelectionSet<'_>,
                _field: &async_graphql::Positioned<async_graphql::parser::types::Field>,
            ) -> async_graphql::ServerResult<async_graphql::Value> {
                $crate::eager::resolve(ctx, &self.0).await
            }
        }

        impl async_graphql::ContainerType for $outer {
            async fn resolve_field(
                &self,
                ctx: &async_graphql::Context<'_>,
            ) -> async_graphql::ServerResult<Option<async_graphql::Value>> {
                self.0.resolve_field(ctx).await
            }
        }

        impl async_graphql::ObjectType for $outer {}

        impl $crate::connection::Items for $outer {
            fn all<'a>(
                ctx: &'a async_graphql::ContextSelectionSet<'a>,
                items: &'a [&'a Self],
            ) -> futures_util::future::BoxFuture<'a, Option<Vec<async_graphql::Value>>> {
                Box::pin(async move {
                    let inner: Vec<&$inner> = items.iter().map(|item| &item.0).collect();
                    $crate::eager::all(ctx, &inner).await
                })
            }
        }

        impl $outer {
            /// Global id: the `Node` interface's field, called as `#[Object]` generates it.
            pub async fn id(
                &self,
                ctx: &async_graphql::Context<'_>,
            ) -> async_graphql::Result<async_graphql::ID> {
                self.0.id(ctx).await
            }
        }
    };
}
pub(crate) use eager_object;
