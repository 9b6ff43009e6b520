//! Relay connections: `edges { cursor node }`, `nodes`, `pageInfo` and a lazily counted
//! `totalCount` (the count runs only when the field is selected).

use async_graphql::parser::types::{Field, Selection};
use async_graphql::resolver_utils::resolve_list;
use async_graphql::{
    ContextSelectionSet, Object, OutputType, Positioned, ServerResult, SimpleObject, TypeName,
    Value,
};
use futures_util::future::BoxFuture;
use plexus_core::{Cursor, DomainResult, Page};
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::error::ApiResult;

type CountFuture = Pin<Box<dyn Future<Output = DomainResult<u64>> + Send>>;

/// One page of a list.
pub struct Connection<N> {
    edges: Vec<Edge<N>>,
    page_info: PageInfo,
    count: Arc<dyn Fn() -> CountFuture + Send + Sync>,
}

impl<N> Connection<N> {
    /// A connection over a page; `count` counts the whole list when asked.
    pub fn new<F, Fut>(page: Page<N>, count: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = DomainResult<u64>> + Send + 'static,
    {
        let total_count = page.total_count;
        let edges: Vec<Edge<N>> = page
            .items
            .into_iter()
            .map(|(cursor, node)| Edge { cursor, node })
            .collect();
        let page_info = PageInfo {
            has_next_page: page.has_next_page,
            has_previous_page: page.has_previous_page,
            start_cursor: edges.first().map(|e| e.cursor.encode()),
            end_cursor: edges.last().map(|e| e.cursor.encode()),
        };
        let count: Arc<dyn Fn() -> CountFuture + Send + Sync> = match total_count {
            Some(n) => Arc::new(move || Box::pin(std::future::ready(Ok(n))) as CountFuture),
            None => Arc::new(move || Box::pin(count()) as CountFuture),
        };
        Self {
            edges,
            page_info,
            count,
        }
    }
}

impl<N> Connection<N> {
    /// The rows of this page with their cursors (for connections that add fields).
    pub fn edge_list(&self) -> &[Edge<N>] {
        &self.edges
    }

    /// The rows of this page.
    pub fn node_list(&self) -> Vec<&N> {
        self.edges.iter().map(|e| &e.node).collect()
    }

    /// Where this page sits in its list.
    pub fn info(&self) -> &PageInfo {
        &self.page_info
    }

    /// Counts the whole list.
    pub async fn count(&self) -> DomainResult<u64> {
        (self.count)().await
    }
}

impl<N: OutputType> TypeName for Connection<N> {
    fn type_name() -> Cow<'static, str> {
        format!("{}Connection", N::type_name()).into()
    }
}

/// A type whose lists (a connection's page, a node's `children`) may be answered together,
/// every item's selection at once ([`crate::eager::all`]), rather than one future per item.
pub trait Items: OutputType + Sized {
    /// The values of `items` for the selection at `ctx`, or `None` when they resolve one by
    /// one (the default; the eager types answer together when they can).
    fn all<'a>(
        _ctx: &'a ContextSelectionSet<'a>,
        _items: &'a [&'a Self],
    ) -> BoxFuture<'a, Option<Vec<Value>>> {
        Box::pin(std::future::ready(None))
    }
}

/// Types whose lists resolve item by item, one future each (no eager path).
macro_rules! item_by_item {
    ($($t:ty),* $(,)?) => { $(impl Items for $t {})* };
}
item_by_item!(
    crate::agents::Agent,
    crate::agents::AgentTask,
    crate::agents::KnowledgePack,
    crate::agents::Tool,
    crate::conversations::Conversation,
    crate::conversations::Message,
    crate::conversations::ToolCall,
    crate::graph::GraphEdge,
    crate::knowledge::Memory,
    crate::knowledge::SystemLog,
    crate::knowledge::Workflow,
    crate::media::Media,
    crate::media::VoiceInteraction,
    crate::notifications::Notification,
    crate::projects::Project,
    crate::projects::ProjectMember,
);

/// Resolves a list of `N`: together when it can be ([`Items::all`]), else item by item, as
/// async-graphql resolves a `Vec` (one future each, errors with their paths).
pub(crate) async fn resolve_items<N: Items>(
    ctx: &ContextSelectionSet<'_>,
    field: &Positioned<Field>,
    items: Vec<&N>,
) -> ServerResult<Value> {
    match N::all(ctx, &items).await {
        Some(values) => Ok(Value::List(values)),
        None => {
            let len = items.len();
            resolve_list(ctx, field, items, Some(len)).await
        }
    }
}

/// A page of a list, with cursors for keyset pagination (stable while rows are added).
#[Object(name_type)]
impl<N: Items> Connection<N> {
    /// The rows of this page, each with its cursor.
    async fn edges(&self) -> Edges<'_, N> {
        Edges(&self.edges)
    }

    /// The rows of this page, without cursors.
    async fn nodes(&self) -> Nodes<'_, N> {
        Nodes(&self.edges)
    }

    /// Where this page sits in the whole list.
    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }

    /// The number of rows in the whole list (all pages), counted when asked.
    async fn total_count(&self) -> ApiResult<u64> {
        Ok((self.count)().await?)
    }
}

/// A row of a page and its cursor (encoded when asked: most queries never select it, and
/// encoding every row's was 2–3% of a canvas or dashboard request).
pub struct Edge<N> {
    cursor: Cursor,
    node: N,
}

impl<N: OutputType> TypeName for Edge<N> {
    fn type_name() -> Cow<'static, str> {
        format!("{}Edge", N::type_name()).into()
    }
}

/// A page's edges (`[Edge!]!`): answered together when the rows can be ([`Items`]) and the
/// edge selection is plain (`node`, `cursor`, `__typename`), else edge by edge.
pub struct Edges<'e, N>(&'e [Edge<N>]);

impl<N: Items> OutputType for Edges<'_, N> {
    fn type_name() -> Cow<'static, str> {
        <Vec<Edge<N>> as OutputType>::type_name()
    }

    fn qualified_type_name() -> String {
        <Vec<Edge<N>> as OutputType>::qualified_type_name()
    }

    fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
        <Vec<Edge<N>> as OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        match self.at_once(ctx).await {
            Some(edges) => Ok(Value::List(edges)),
            None => resolve_list(ctx, field, self.0, Some(self.0.len())).await,
        }
    }
}

impl<N: Items> Edges<'_, N> {
    /// Every edge's value, its rows answered together; `None` when that is not possible.
    async fn at_once(&self, ctx: &ContextSelectionSet<'_>) -> Option<Vec<Value>> {
        let selection = &ctx.item.node.items;
        if !crate::eager::plain(selection) {
            return None;
        }
        let mut fields = Vec::with_capacity(selection.len());
        let mut node = None;
        for s in selection {
            let Selection::Field(f) = &s.node else {
                return None;
            };
            match f.node.name.node.as_str() {
                "node" => node = Some(f),
                "cursor" | "__typename" => {}
                _ => return None,
            }
            fields.push(&f.node);
        }
        let mut nodes = match node {
            Some(f) => {
                let ctx_field = ctx.with_field(f);
                let ctx_node = ctx_field.with_selection_set(&f.node.selection_set);
                let items: Vec<&N> = self.0.iter().map(|e| &e.node).collect();
                N::all(&ctx_node, &items).await?.into_iter()
            }
            None => Vec::new().into_iter(),
        };
        let type_name = <Edge<N> as OutputType>::type_name();
        let shape = crate::eager::Shape::new(fields.iter().map(|f| f.response_key().node.clone()));
        Some(
            self.0
                .iter()
                .map(|edge| {
                    shape.object(fields.iter().map(|f| match f.name.node.as_str() {
                        "node" => nodes.next().unwrap_or_default(),
                        "cursor" => Value::String(edge.cursor.encode()),
                        _ => Value::String(type_name.to_string()),
                    }))
                })
                .collect(),
        )
    }
}

/// A page's rows without cursors (`[N!]!`): answered together when they can be ([`Items`]).
pub struct Nodes<'e, N>(&'e [Edge<N>]);

impl<N: Items> OutputType for Nodes<'_, N> {
    fn type_name() -> Cow<'static, str> {
        <Vec<N> as OutputType>::type_name()
    }

    fn qualified_type_name() -> String {
        <Vec<N> as OutputType>::qualified_type_name()
    }

    fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
        <Vec<N> as OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        resolve_items(ctx, field, self.0.iter().map(|e| &e.node).collect()).await
    }
}

/// A row of a list with its cursor.
#[Object(name_type)]
impl<N: OutputType> Edge<N> {
    /// Opaque position of this row: pass it as `after` or `before`.
    async fn cursor(&self) -> String {
        self.cursor.encode()
    }

    /// The row.
    async fn node(&self) -> &N {
        &self.node
    }
}

/// Where a page sits in its list (Relay `PageInfo`).
#[derive(SimpleObject, Clone)]
pub struct PageInfo {
    /// More rows follow this page.
    pub has_next_page: bool,
    /// More rows precede this page.
    pub has_previous_page: bool,
    /// Cursor of the first row of this page.
    pub start_cursor: Option<String>,
    /// Cursor of the last row of this page.
    pub end_cursor: Option<String>,
}
