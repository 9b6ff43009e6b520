//! Reading models by column position, straight through the driver.
//!
//! sea-orm reads a model column by column by name: each read looks the name up (SipHash),
//! checks the column's type twice and, for every NULL, formats an error string that the
//! `Option` wrapper then throws away. For a node row (16 columns) that was ~14,000
//! instructions, 15% of a canvas request. A [`Positional`] model reads its columns in
//! order by index instead, once the first row of a result has shown that its columns are
//! the model's fields, in order and by name; any other layout falls back to sea-orm's
//! reads, so a positional read always returns what a by-name read would.
//!
//! On PostgreSQL a column's type is the same in every row of a result (the row
//! description gives it once), so the layout check compares each column's type with its
//! field's once, and the rows decode without sqlx's per-value check (three type
//! comparisons per text column: 7% of a dashboard request). SQLite types each value on
//! its own, so there every value is checked.

use sea_orm::sqlx::{Column as _, Decode, Postgres, Row as _, Sqlite, Type};
use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, QueryResult, QueryTrait,
    RuntimeErr, Select,
};

/// A column value either driver decodes (the types sea-orm models hold).
pub trait Value: Sized {
    /// Decodes column `index` of `row`. With `checked` false, a PostgreSQL column's type
    /// is taken as already found to [`fit`](Value::fits) (every row of a result has the
    /// same column types).
    fn read(row: &QueryResult, index: usize, checked: bool) -> Result<Self, DbErr>;

    /// Whether column `index` of `row` has a type that `Self` decodes: on PostgreSQL the
    /// column's type (so a NULL is no exception); SQLite types each value, and its reads
    /// check each one, so there it is true.
    fn fits(row: &QueryResult, index: usize) -> bool;
}

impl<T> Value for T
where
    T: for<'r> Decode<'r, Postgres> + Type<Postgres> + for<'r> Decode<'r, Sqlite> + Type<Sqlite>,
{
    fn read(row: &QueryResult, index: usize, checked: bool) -> Result<Self, DbErr> {
        let read = if let Some(row) = row.try_as_pg_row() {
            if checked {
                row.try_get(index)
            } else {
                row.try_get_unchecked(index)
            }
        } else if let Some(row) = row.try_as_sqlite_row() {
            row.try_get(index)
        } else {
            return Err(DbErr::Type("positional reads need a sqlx row".into()));
        };
        read.map_err(|e| DbErr::Query(RuntimeErr::SqlxError(std::sync::Arc::new(e))))
    }

    fn fits(row: &QueryResult, index: usize) -> bool {
        match row.try_as_pg_row() {
            Some(row) => row
                .try_column(index)
                .is_ok_and(|c| <T as Type<Postgres>>::compatible(c.type_info())),
            None => true,
        }
    }
}

/// The next columns of one row, read in order, of a result whose column types were found
/// to fit (see [`Layout::of`]).
pub struct Columns<'r> {
    row: &'r QueryResult,
    next: usize,
}

impl Columns<'_> {
    /// Reads the next column.
    pub fn get<T: Value>(&mut self) -> Result<T, DbErr> {
        let value = T::read(self.row, self.next, false);
        self.next += 1;
        value
    }

    /// Whether the next column [fits](Value::fits) the field that `field` picks out of an
    /// `M` (which names the field's type without reading anything).
    pub fn fits<M, T: Value>(&mut self, _field: impl Fn(&M) -> &T) -> bool {
        let fits = T::fits(self.row, self.next);
        self.next += 1;
        fits
    }
}

/// A model that can read itself from consecutive columns named after its fields.
/// Implemented with [`positional!`](crate::positional).
pub trait Positional: FromQueryResult {
    /// The model's fields, in the order [`Positional::read`] reads them.
    const FIELDS: &'static [&'static str];

    /// Reads the model from the next columns.
    fn read(columns: &mut Columns<'_>) -> Result<Self, DbErr>;

    /// Whether the next columns' types fit the model's fields ([`Value::fits`]).
    fn fits(columns: &mut Columns<'_>) -> bool;
}

/// Where a result's columns hold `M`'s fields, each named `{prefix}{field}`, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Consecutively from this index, with types that fit (as [`Layout::of`] finds): read
    /// by position, PostgreSQL values unchecked.
    At(usize),
    /// Some other way: read by name.
    ByName,
}

impl Layout {
    /// The layout of `row`'s columns (every row of one result has the same), for reading
    /// the rows of `row`'s result: positional only when the columns' names and types fit
    /// the model's fields, so its reads skip PostgreSQL's per-value type checks.
    pub fn of<M: Positional>(row: &QueryResult, prefix: &str) -> Self {
        let names = row.column_names();
        let named = |name: &str, field: &str| {
            name.len() == prefix.len() + field.len()
                && name.starts_with(prefix)
                && name.ends_with(field)
        };
        let Some(first) = M::FIELDS.first() else {
            return Self::ByName;
        };
        let Some(at) = names.iter().position(|n| named(n, first)) else {
            return Self::ByName;
        };
        let fits = names.len() >= at + M::FIELDS.len()
            && names[at..]
                .iter()
                .zip(M::FIELDS)
                .all(|(name, field)| named(name, field));
        if fits && M::fits(&mut Columns { row, next: at }) {
            Self::At(at)
        } else {
            Self::ByName
        }
    }

    /// The layout of a result's rows (read by name when there are none).
    pub fn of_rows<M: Positional>(rows: &[QueryResult], prefix: &str) -> Self {
        rows.first()
            .map_or(Self::ByName, |row| Self::of::<M>(row, prefix))
    }

    /// Reads one `M` from `row`.
    pub fn read<M: Positional>(self, row: &QueryResult, prefix: &str) -> Result<M, DbErr> {
        match self {
            Self::At(next) => M::read(&mut Columns { row, next }),
            Self::ByName => M::from_query_result(row, prefix),
        }
    }
}

/// Reads every row of a result as an `M` whose columns are named `{prefix}{field}`.
pub fn read_all<M: Positional>(rows: &[QueryResult], prefix: &str) -> Result<Vec<M>, DbErr> {
    let layout = Layout::of_rows::<M>(rows, prefix);
    rows.iter().map(|row| layout.read(row, prefix)).collect()
}

/// Reads every row of a result as the pair of its first two columns (on PostgreSQL the
/// column types are checked once, as for models).
pub fn pairs<A: Value, B: Value>(rows: &[QueryResult]) -> Result<Vec<(A, B)>, DbErr> {
    let checked = !rows.first().is_some_and(|r| A::fits(r, 0) && B::fits(r, 1));
    rows.iter()
        .map(|row| Ok((A::read(row, 0, checked)?, B::read(row, 1, checked)?)))
        .collect()
}

/// The select list of a hand-written statement that reads `M` from `table` by position:
/// each field as `"table"."field" AS "{prefix}field"`, in order (as `select_also` names
/// them, `A_`/`B_`).
pub fn select_list<M: Positional>(table: &str, prefix: &str) -> String {
    M::FIELDS
        .iter()
        .map(|f| format!("\"{table}\".\"{f}\" AS \"{prefix}{f}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `n` bind parameters of a hand-written statement, comma-separated: `$first, $first+1, …`
/// on PostgreSQL, `?, ?, …` on SQLite (whose parameters are numbered by position).
pub fn placeholders(backend: DbBackend, first: usize, n: usize) -> String {
    match backend {
        DbBackend::Postgres => (first..first + n)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", "),
        _ => vec!["?"; n].join(", "),
    }
}

/// Runs `select` and reads its rows by position: `Select::all`, without by-name reads.
pub async fn all<E, D>(db: &D, select: Select<E>) -> Result<Vec<E::Model>, DbErr>
where
    E: EntityTrait,
    E::Model: Positional,
    D: ConnectionTrait,
{
    let rows = db.query_all(&select.into_query()).await?;
    read_all(&rows, "")
}

/// Makes a model [`Positional`]: list every field, in the order of the entity's columns
/// (the order sea-orm selects them in). A field left out does not compile; a field out of
/// order only loses the fast path, as the layout check then finds the names out of place.
#[macro_export]
macro_rules! positional {
    ($model:ty { $($field:ident),+ $(,)? }) => {
        impl $crate::row::Positional for $model {
            const FIELDS: &'static [&'static str] = &[$(stringify!($field)),+];

            fn read(
                columns: &mut $crate::row::Columns<'_>,
            ) -> Result<Self, sea_orm::DbErr> {
                Ok(Self { $($field: columns.get()?),+ })
            }

            fn fits(columns: &mut $crate::row::Columns<'_>) -> bool {
                $(columns.fits(|m: &Self| &m.$field))&&+
            }
        }
    };
}
