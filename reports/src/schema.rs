//! One declaration per CSV file: `csv_rows!` declares a row type, its column list (the
//! header, in file order, named after the fields), how each cell is written and, from
//! the same list, how every row is read back. A file written from these rows and read
//! back gives the same rows (up to the fixed precision of its floats).
//!
//! Also the helpers that pick the columns a reader needs from a file's one column list
//! ([`select`]), and the cell formats shared by the files.

/// Declare a CSV row type: `pub struct Row, columns COLS { field: Type = format_fn, ... }`
/// gives the struct (every field public), `pub const COLS: &[&str]` (the field names in
/// order), `Row::cells` (each field through its `format_fn(&field) -> String`),
/// `Row::read_all` (every column of a file, each cell parsed as its field's
/// [`crate::input::Cell`] type) and `Row::csv` (header and rows as bytes).
macro_rules! csv_rows {
    (
        $(#[$meta:meta])*
        pub struct $name:ident, columns $cols:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty = $fmt:path, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        /// The columns, in file order (the header): the row type's fields.
        pub const $cols: &[&str] = &[$( stringify!($field) ),*];

        impl $name {
            /// The row's cells, in column order.
            pub fn cells(&self) -> Vec<String> {
                vec![$( $fmt(&self.$field) ),*]
            }

            /// Read every row of `path`, which must have every column.
            pub fn read_all(
                path: &std::path::Path,
            ) -> Result<Vec<$name>, $crate::input::InputError> {
                let mut __table = $crate::input::CsvTable::read(path, $cols)?;
                let __rows = __table.len();
                $( let mut $field = __table.take::<$ty>(stringify!($field))?.into_iter(); )*
                let mut __out = Vec::with_capacity(__rows);
                for _ in 0..__rows {
                    __out.push($name {
                        $( $field: $field.next().expect("one cell per row in every column"), )*
                    });
                }
                Ok(__out)
            }

            /// The CSV bytes of `rows` under the header.
            pub fn csv(rows: &[$name]) -> Vec<u8> {
                $crate::schema::csv_bytes($cols, rows.iter().map($name::cells))
            }
        }
    };
    (
        $(#[$meta:meta])*
        pub struct $name:ident, columns $cols:ident, optional $ocols:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty = $fmt:path, )*
        } optional {
            $( $(#[$ometa:meta])* $ofield:ident : $oty:ty = $ofmt:path, default $odef:expr, )*
        }
    ) => {
        $(#[$meta])*
        ///
        /// The optional columns are written only when some row has a value other than
        /// its default, and read back as the default when the file has none of them.
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
            $( $(#[$ometa])* pub $ofield: $oty, )*
        }

        /// The columns every file has, in file order (the header's start).
        pub const $cols: &[&str] = &[$( stringify!($field) ),*];

        /// The optional columns, in file order after the required ones, written together
        /// or not at all.
        pub const $ocols: &[&str] = &[$( stringify!($ofield) ),*];

        impl $name {
            /// Whether the row has a value other than the default in an optional column.
            pub fn has_optional(&self) -> bool {
                false $( || self.$ofield != $odef )*
            }

            /// The row's cells, in column order, with the optional ones when `optional`.
            pub fn cells(&self, optional: bool) -> Vec<String> {
                let mut cells = vec![$( $fmt(&self.$field) ),*];
                if optional {
                    cells.extend([$( $ofmt(&self.$ofield) ),*]);
                }
                cells
            }

            /// Read every row of `path`, which must have every required column (and
            /// every optional one, or none).
            pub fn read_all(
                path: &std::path::Path,
            ) -> Result<Vec<$name>, $crate::input::InputError> {
                let mut __table = $crate::input::CsvTable::read_with(path, $cols, $ocols)?;
                let __rows = __table.len();
                let __optional = $ocols.iter().any(|c| __table.has(c));
                if __optional && let Some(c) = $ocols.iter().find(|c| !__table.has(c)) {
                    return Err($crate::input::InputError::MissingColumn {
                        path: path.to_path_buf(),
                        column: (*c).to_string(),
                    });
                }
                $( let mut $field = __table.take::<$ty>(stringify!($field))?.into_iter(); )*
                $(
                    let mut $ofield = if __optional {
                        __table.take::<$oty>(stringify!($ofield))?
                    } else {
                        vec![$odef; __rows]
                    }
                    .into_iter();
                )*
                let mut __out = Vec::with_capacity(__rows);
                for _ in 0..__rows {
                    __out.push($name {
                        $( $field: $field.next().expect("one cell per row in every column"), )*
                        $( $ofield: $ofield.next().expect("one cell per row in every column"), )*
                    });
                }
                Ok(__out)
            }

            /// The CSV bytes of `rows` under the header (with the optional columns when
            /// a row has a value in one).
            pub fn csv(rows: &[$name]) -> Vec<u8> {
                let optional = rows.iter().any($name::has_optional);
                let mut header: Vec<&str> = $cols.to_vec();
                if optional {
                    header.extend_from_slice($ocols);
                }
                $crate::schema::csv_bytes(&header, rows.iter().map(|r| r.cells(optional)))
            }
        }
    };
}

pub(crate) use csv_rows;

/// CSV bytes: `header`, then `rows`.
pub(crate) fn csv_bytes(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    // Writing to a Vec cannot fail; the csv crate only errors on I/O.
    w.write_record(header).expect("csv to memory");
    for r in rows {
        w.write_record(&r).expect("csv to memory");
    }
    w.into_inner().expect("csv to memory")
}

/// `names`, each checked to be a column of `schema`: what a reader that keeps only some
/// of a file's columns asks for. Panics on a name outside the schema (a bug).
pub fn select<const N: usize>(schema: &[&str], names: [&'static str; N]) -> [&'static str; N] {
    for n in names {
        assert!(
            schema.contains(&n),
            "column `{n}` is not in the file's schema"
        );
    }
    names
}

/// A value as text (integers, text, booleans).
pub(crate) fn plain<T: ToString>(x: &T) -> String {
    x.to_string()
}

/// A float to 6 decimals; empty when not finite.
pub(crate) fn f6(x: &f64) -> String {
    if x.is_finite() {
        format!("{x:.6}")
    } else {
        String::new()
    }
}

/// An optional float to 6 decimals; empty when absent or not finite.
pub(crate) fn opt_f6(x: &Option<f64>) -> String {
    x.as_ref().map(f6).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "not in the file's schema")]
    fn select_rejects_foreign_columns() {
        select(&["a", "b"], ["a", "c"]);
    }

    #[test]
    fn formats() {
        assert_eq!(f6(&0.5), "0.500000");
        assert_eq!(f6(&f64::INFINITY), "");
        assert_eq!(opt_f6(&None), "");
        assert_eq!(opt_f6(&Some(1.0)), "1.000000");
        assert_eq!(plain(&true), "true");
    }
}
