//! Relay connections: `edges { cursor node }`, `nodes`, `pageInfo` and a lazily counted
//! `totalCount` (the count runs only when the field is selected).

use async_graphql::{Object, OutputType, SimpleObject, TypeName};
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

/// A page of a list, with cursors for keyset pagination (stable while rows are added).
#[Object(name_type)]
impl<N: OutputType> Connection<N> {
    /// The rows of this page, each with its cursor.
    async fn edges(&self) -> &[Edge<N>] {
        &self.edges
    }

    /// The rows of this page, without cursors.
    async fn nodes(&self) -> Vec<&N> {
        self.edges.iter().map(|e| &e.node).collect()
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
