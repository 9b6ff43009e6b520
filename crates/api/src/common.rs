//! Small shared GraphQL types: canvas coordinates, ordering direction, id arguments.

use async_graphql::{Enum, ID, InputObject, SimpleObject};
use plexus_core::{DomainError, GlobalId, IdKind};
use serde_json::Value;
use uuid::Uuid;

use crate::error::ApiResult;

/// A point on the canvas.
#[derive(SimpleObject, Clone, Copy, Debug, PartialEq)]
pub struct Position {
    /// Horizontal coordinate.
    pub x: f64,
    /// Vertical coordinate.
    pub y: f64,
}

impl Position {
    /// Reads `{x, y}` from stored JSON (missing numbers read as 0).
    pub fn from_json(v: &Value) -> Self {
        let n = |k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        Self {
            x: n("x"),
            y: n("y"),
        }
    }
}

/// A point on the canvas.
#[derive(InputObject, Clone, Copy, Debug)]
pub struct PositionInput {
    /// Horizontal coordinate (finite).
    pub x: f64,
    /// Vertical coordinate (finite).
    pub y: f64,
}

/// Where a project's canvas is scrolled and zoomed.
#[derive(SimpleObject, Clone, Copy, Debug)]
pub struct Viewport {
    /// Horizontal offset.
    pub x: f64,
    /// Vertical offset.
    pub y: f64,
    /// Zoom factor (positive).
    pub zoom: f64,
}

impl Viewport {
    /// Reads `{x, y, zoom}` from stored JSON.
    pub fn from_json(v: &Value) -> Self {
        let n = |k: &str, d: f64| v.get(k).and_then(Value::as_f64).unwrap_or(d);
        Self {
            x: n("x", 0.0),
            y: n("y", 0.0),
            zoom: n("zoom", 1.0),
        }
    }
}

/// Where a project's canvas is scrolled and zoomed.
#[derive(InputObject, Clone, Copy, Debug)]
pub struct ViewportInput {
    /// Horizontal offset.
    pub x: f64,
    /// Vertical offset.
    pub y: f64,
    /// Zoom factor (positive).
    pub zoom: f64,
}

impl ViewportInput {
    /// The stored JSON form.
    pub fn to_json(self) -> Value {
        serde_json::json!({ "x": self.x, "y": self.y, "zoom": self.zoom })
    }
}

/// Sort direction.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
pub enum OrderDirection {
    /// Smallest first.
    Asc,
    /// Largest first.
    #[default]
    Desc,
}

/// Decodes an id argument of a given type.
pub fn uuid_of(id: &ID, kind: IdKind, arg: &str) -> ApiResult<Uuid> {
    Ok(GlobalId::parse_as(id, kind, arg)?)
}

/// The global id of a row.
pub fn gid(kind: IdKind, id: Uuid) -> ID {
    ID(plexus_core::id::encode(kind, id))
}

/// `NOT_FOUND` for a kind of object.
pub fn not_found(what: &str) -> crate::error::ApiError {
    DomainError::not_found(what).into()
}
