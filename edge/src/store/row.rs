//! Typed rows: one declaration per row type yields its column list and its
//! decoder, so the two cannot drift apart.
//!
//! [`row!`](crate::row) declares a struct whose fields are, in order, the
//! columns it selects; [`FromRow::COLUMNS`] is the `SELECT`/`RETURNING` list
//! and [`FromRow::from_row`] decodes a result row by the same order. Each
//! field decodes through [`FromColumn`]: a missing column, a row of the wrong
//! width or a value of the wrong type is a [`DbError`] naming the table and
//! column, never a silent default.
//!
//! Rows are decoded by position, not by name. Both adapters could give names
//! (rusqlite's column names, D1's `.all()` objects), but names are the weaker
//! key here: D1's objects keep one value per name, so a join selecting
//! `t.scope` and `c.scope` loses one of them, and computed columns
//! (`owner_developer = ?1`) have no stable name. Since the column list is
//! generated from the same declaration as the decoder, the position is
//! exactly as robust as a name, and the width check catches a list that
//! was edited by hand.
//!
//! [`sql_enum!`](crate::sql_enum) declares the enums stored as text
//! (statuses, roles, methods): `as_str`, parsing, serde and column decoding,
//! one value list each; migration 0008 restricts the columns to the same values.

use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use super::{DbError, Row};

/// A value that one column of a result row decodes to.
pub trait FromColumn: Sized {
    /// Decodes `value`; `Err` describes what was found instead.
    fn from_column(value: &Json) -> Result<Self, String>;
}

/// What a value is, for error messages (never the value itself: columns hold secrets' hashes).
#[doc(hidden)]
pub fn found(value: &Json) -> &'static str {
    match value {
        Json::Null => "NULL",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "text",
        Json::Array(_) | Json::Object(_) => "a JSON value",
    }
}

impl FromColumn for String {
    fn from_column(value: &Json) -> Result<Self, String> {
        match value {
            Json::String(s) => Ok(s.clone()),
            other => Err(format!("expected text, found {}", found(other))),
        }
    }
}

impl FromColumn for i64 {
    fn from_column(value: &Json) -> Result<Self, String> {
        // D1 returns every number as a JS double: accept integral floats.
        value
            .as_i64()
            .or_else(|| {
                value
                    .as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0)
                    .map(|f| f as i64)
            })
            .ok_or_else(|| format!("expected an integer, found {}", found(value)))
    }
}

impl FromColumn for bool {
    fn from_column(value: &Json) -> Result<Self, String> {
        match i64::from_column(value) {
            Ok(0) => Ok(false),
            Ok(1) => Ok(true),
            _ => Err(format!("expected 0 or 1, found {}", found(value))),
        }
    }
}

impl<T: FromColumn> FromColumn for Option<T> {
    fn from_column(value: &Json) -> Result<Self, String> {
        match value {
            Json::Null => Ok(None),
            v => T::from_column(v).map(Some),
        }
    }
}

/// JSON stored as text (`metadata`, `params`, `context`…).
impl FromColumn for Json {
    fn from_column(value: &Json) -> Result<Self, String> {
        let text = String::from_column(value).map_err(|e| format!("{e} (JSON text)"))?;
        serde_json::from_str(&text).map_err(|e| format!("invalid JSON text: {e}"))
    }
}

/// A JSON array stored as text (`redirect_uris`, `grant_types`, `members`…).
impl<T: DeserializeOwned> FromColumn for Vec<T> {
    fn from_column(value: &Json) -> Result<Self, String> {
        serde_json::from_value(Json::from_column(value)?).map_err(|e| format!("unexpected JSON array: {e}"))
    }
}

/// A column taken as it comes, of any type (a search's sort key, which is
/// text or a number depending on the sort).
#[derive(Debug, Clone, PartialEq)]
pub struct Raw(pub Json);

impl FromColumn for Raw {
    fn from_column(value: &Json) -> Result<Self, String> {
        Ok(Raw(value.clone()))
    }
}

/// A row type: what it selects and how a result row decodes to it.
/// Declared with [`row!`](crate::row).
pub trait FromRow: Sized {
    /// The table (or query) the row comes from, for error messages.
    const TABLE: &'static str;
    /// The select list, comma-separated, in decoding order.
    const COLUMNS: &'static str;
    /// The same columns one by one.
    const NAMES: &'static [&'static str];
    /// The fields' names, in the same order: the names a statement of these
    /// rows gives its columns when it is wrapped ([`crate::store::positional`]).
    const FIELDS: &'static [&'static str];

    /// Decodes one result row (exactly [`Self::NAMES`] wide).
    fn from_row(row: &[Json]) -> Result<Self, DbError>;

    /// The select list with each column qualified by a table alias (`d.email, …`).
    fn columns_as(alias: &str) -> String {
        Self::NAMES
            .iter()
            .map(|c| format!("{alias}.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Checks a row's width before decoding it.
pub fn check_width(row: &[Json], table: &str, width: usize) -> Result<(), DbError> {
    if row.len() == width {
        Ok(())
    } else {
        Err(DbError(format!(
            "{table}: expected {width} columns, the row has {}",
            row.len()
        )))
    }
}

/// Decodes column `i` (`name`) of `row`, naming table and column on failure.
pub fn column<T: FromColumn>(row: &[Json], i: usize, table: &str, name: &str) -> Result<T, DbError> {
    let value = row
        .get(i)
        .ok_or_else(|| DbError(format!("{table}.{name}: missing (column {i} of {})", row.len())))?;
    T::from_column(value).map_err(|e| DbError(format!("{table}.{name}: {e}")))
}

/// Decodes every row.
pub fn decode_all<T: FromRow>(rows: &[Row]) -> Result<Vec<T>, DbError> {
    rows.iter().map(|r| T::from_row(r)).collect()
}

/// Decodes the first row, if any.
pub fn decode_first<T: FromRow>(rows: &[Row]) -> Result<Option<T>, DbError> {
    rows.first().map(|r| T::from_row(r)).transpose()
}

/// The only column of the first row (`SELECT pin_hash …`, `… RETURNING failed`);
/// `what` names it (`table.column`) in errors.
pub fn scalar<T: FromColumn>(rows: &[Row], what: &str) -> Result<Option<T>, DbError> {
    rows.first()
        .map(|r| {
            check_width(r, what, 1)?;
            column(r, 0, what, "value")
        })
        .transpose()
}

/// The only column of every row.
pub fn scalars<T: FromColumn>(rows: &[Row], what: &str) -> Result<Vec<T>, DbError> {
    rows.iter()
        .map(|r| {
            check_width(r, what, 1)?;
            column(r, 0, what, "value")
        })
        .collect()
}

/// Declares a row type: a struct whose fields are the selected columns, in
/// order, with [`FromRow`] implemented from the same list. A field's column
/// is its name unless given as `= "sql"` (a qualified or computed column).
///
/// ```ignore
/// row! {
///     /// A practice.
///     #[derive(Debug)]
///     pub struct Practice in "practices" {
///         /// Its key.
///         pub key: String,
///         /// Its display name.
///         pub name: String,
///     }
/// }
/// ```
#[macro_export]
macro_rules! row {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident in $table:literal {
            $(#[$fmeta0:meta])* $fvis0:vis $field0:ident : $ty0:ty $(= $sql0:literal)?
            $(, $(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty $(= $sql:literal)?)* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $(#[$fmeta0])* $fvis0 $field0: $ty0,
            $($(#[$fmeta])* $fvis $field: $ty,)*
        }

        impl $crate::store::row::FromRow for $name {
            const TABLE: &'static str = $table;
            const COLUMNS: &'static str = concat!(
                $crate::__row_col!($field0 $($sql0)?)
                $(, ", ", $crate::__row_col!($field $($sql)?))*
            );
            const NAMES: &'static [&'static str] = &[
                $crate::__row_col!($field0 $($sql0)?),
                $($crate::__row_col!($field $($sql)?),)*
            ];
            const FIELDS: &'static [&'static str] = &[stringify!($field0), $(stringify!($field),)*];

            fn from_row(row: &[serde_json::Value]) -> Result<Self, $crate::store::DbError> {
                use $crate::store::row::{check_width, column};
                check_width(row, $table, Self::NAMES.len())?;
                #[allow(unused_mut)] // a row of one column never advances
                let mut i = 0;
                let $field0 = column(row, i, $table, stringify!($field0))?;
                $(
                    i += 1;
                    let $field = column(row, i, $table, stringify!($field))?;
                )*
                let _ = i;
                Ok($name { $field0, $($field,)* })
            }
        }
    };
}

/// A field's column: its name, or the SQL given for it.
#[doc(hidden)]
#[macro_export]
macro_rules! __row_col {
    ($field:ident) => {
        stringify!($field)
    };
    ($field:ident $sql:literal) => {
        $sql
    };
}

/// Declares an enum stored as text: `as_str`, [`std::str::FromStr`],
/// `Display`, serde (as the text), [`FromColumn`] (an unknown value is an
/// error) and binding as a [`super::SqlValue`].
#[macro_export]
macro_rules! sql_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stored text.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The value stored as `text`, if it is one.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $name::parse(s).ok_or_else(|| {
                    format!("unknown value {s:?} (one of {})", [$($text),+].join(", "))
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl $crate::store::row::FromColumn for $name {
            fn from_column(value: &serde_json::Value) -> Result<Self, String> {
                match value {
                    serde_json::Value::String(s) => s.parse(),
                    other => Err(format!("expected text, found {}", $crate::store::row::found(other))),
                }
            }
        }

        impl From<$name> for $crate::store::SqlValue {
            fn from(v: $name) -> Self {
                $crate::store::SqlValue::Text(v.as_str().to_string())
            }
        }
    };
}
