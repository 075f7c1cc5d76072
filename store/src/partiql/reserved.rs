//! PartiQL's keywords: SQL-92's reserved words plus PartiQL's own and its
//! type names. A keyword cannot stand as a bare attribute name (write it in
//! double quotes); `WHERE pad = 'x'` is a syntax error in DynamoDB too.

/// Sorted, lower-case.
const KEYWORDS: &[&str] = &[
    "absolute",
    "action",
    "add",
    "all",
    "allocate",
    "alter",
    "and",
    "any",
    "are",
    "as",
    "asc",
    "assertion",
    "at",
    "authorization",
    "avg",
    "bag",
    "begin",
    "between",
    "bit",
    "bit_length",
    "blob",
    "bool",
    "boolean",
    "both",
    "by",
    "cascade",
    "cascaded",
    "case",
    "cast",
    "catalog",
    "char",
    "char_length",
    "character",
    "character_length",
    "check",
    "clob",
    "close",
    "coalesce",
    "collate",
    "collation",
    "column",
    "commit",
    "conflict",
    "connect",
    "connection",
    "constraint",
    "constraints",
    "continue",
    "convert",
    "corresponding",
    "count",
    "create",
    "cross",
    "current",
    "current_date",
    "current_time",
    "current_timestamp",
    "current_user",
    "cursor",
    "date",
    "day",
    "deallocate",
    "dec",
    "decimal",
    "declare",
    "default",
    "deferrable",
    "deferred",
    "delete",
    "desc",
    "describe",
    "descriptor",
    "diagnostics",
    "disconnect",
    "distinct",
    "do",
    "domain",
    "double",
    "drop",
    "else",
    "end",
    "end-exec",
    "escape",
    "except",
    "exception",
    "exec",
    "execute",
    "exists",
    "external",
    "extract",
    "false",
    "fetch",
    "first",
    "float",
    "for",
    "foreign",
    "found",
    "from",
    "full",
    "get",
    "global",
    "go",
    "goto",
    "grant",
    "group",
    "having",
    "hour",
    "identity",
    "immediate",
    "in",
    "index",
    "indicator",
    "initially",
    "inner",
    "input",
    "insensitive",
    "insert",
    "int",
    "int4",
    "int8",
    "integer",
    "integer4",
    "integer8",
    "intersect",
    "interval",
    "into",
    "is",
    "isolation",
    "join",
    "key",
    "language",
    "last",
    "leading",
    "left",
    "let",
    "level",
    "like",
    "limit",
    "list",
    "local",
    "lower",
    "match",
    "max",
    "min",
    "minute",
    "missing",
    "modified",
    "module",
    "month",
    "names",
    "national",
    "natural",
    "nchar",
    "new",
    "next",
    "no",
    "not",
    "null",
    "nullif",
    "numeric",
    "octet_length",
    "of",
    "old",
    "on",
    "only",
    "open",
    "option",
    "or",
    "order",
    "outer",
    "output",
    "overlaps",
    "pad",
    "partial",
    "pivot",
    "position",
    "precision",
    "prepare",
    "preserve",
    "primary",
    "prior",
    "privileges",
    "procedure",
    "public",
    "read",
    "real",
    "references",
    "relative",
    "remove",
    "replace",
    "restrict",
    "returning",
    "revoke",
    "right",
    "rollback",
    "rows",
    "schema",
    "scroll",
    "second",
    "section",
    "select",
    "session",
    "session_user",
    "set",
    "sexp",
    "size",
    "smallint",
    "some",
    "space",
    "sql",
    "sqlcode",
    "sqlerror",
    "sqlstate",
    "string",
    "struct",
    "substring",
    "sum",
    "symbol",
    "system_user",
    "table",
    "temporary",
    "then",
    "time",
    "timestamp",
    "timezone_hour",
    "timezone_minute",
    "to",
    "trailing",
    "transaction",
    "translate",
    "translation",
    "trim",
    "true",
    "tuple",
    "union",
    "unique",
    "unknown",
    "unpivot",
    "update",
    "upper",
    "upsert",
    "usage",
    "user",
    "using",
    "value",
    "values",
    "varchar",
    "varying",
    "view",
    "when",
    "whenever",
    "where",
    "with",
    "work",
    "write",
    "year",
    "zone",
];

/// The words the lexer reads as operators rather than keywords: where a
/// term should start, DynamoDB calls one an "Unexpected operator".
const OPERATOR_WORDS: &[&str] = &["and", "between", "except", "in", "intersect", "is", "like", "not", "or", "union"];

/// Whether `word` (any case) is an operator spelled as a word (`AND`, `IS`, ...).
pub(crate) fn is_operator_word(word: &str) -> bool {
    OPERATOR_WORDS.iter().any(|w| w.eq_ignore_ascii_case(word))
}

/// The type names `IS` accepts, by canonical name (two-word names joined by
/// `_`), with the most parameters each may take in parentheses.
const TYPE_NAMES: &[(&str, usize)] = &[
    ("any", 0),
    ("bag", 0),
    ("blob", 0),
    ("boolean", 0),
    ("character", 1),
    ("character_varying", 1),
    ("clob", 0),
    ("date", 0),
    ("decimal", 2),
    ("double_precision", 0),
    ("float", 1),
    ("integer", 0),
    ("integer4", 0),
    ("integer8", 0),
    ("list", 0),
    ("missing", 0),
    ("null", 0),
    ("numeric", 2),
    ("real", 0),
    ("sexp", 0),
    ("smallint", 0),
    ("string", 0),
    ("struct", 0),
    ("symbol", 0),
    ("time", 1),
    ("timestamp", 0),
    ("tuple", 0),
];

/// Names that stand for a type name of [`TYPE_NAMES`].
const TYPE_ALIASES: &[(&str, &str)] = &[
    ("bool", "boolean"),
    ("char", "character"),
    ("dec", "decimal"),
    ("int", "integer"),
    ("int4", "integer4"),
    ("int8", "integer8"),
    ("varchar", "character_varying"),
];

/// The canonical name of a type name (any case; `double_precision` and
/// `character_varying` for the two-word names) and the most parameters it
/// takes; `None` when `word` names no type.
pub(crate) fn type_name(word: &str) -> Option<(&'static str, usize)> {
    let lower = word.to_ascii_lowercase();
    let canonical = TYPE_ALIASES.iter().find(|(alias, _)| *alias == lower).map_or(lower.as_str(), |(_, t)| *t);
    TYPE_NAMES.iter().find(|(name, _)| *name == canonical).copied()
}

/// Whether `word` (any case) is a keyword.
pub(crate) fn is_keyword(word: &str) -> bool {
    if word.len() > 20 {
        return false;
    }
    let lower = word.to_ascii_lowercase();
    KEYWORDS.binary_search(&lower.as_str()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_sorted_and_lower_case() {
        assert!(KEYWORDS.windows(2).all(|w| w[0] < w[1]), "KEYWORDS must stay sorted for binary search");
        assert!(KEYWORDS.iter().all(|k| *k == k.to_ascii_lowercase()));
    }

    #[test]
    fn matches_any_case() {
        assert!(is_keyword("SELECT"));
        assert!(is_keyword("Pad"));
        assert!(!is_keyword("artist"));
        assert!(!is_keyword("begins_with"));
    }

    #[test]
    fn type_names_are_keywords_and_resolve_aliases() {
        assert!(TYPE_NAMES.windows(2).all(|w| w[0].0 < w[1].0));
        for (name, _) in TYPE_NAMES {
            // Two-word names are checked word by word.
            assert!(name.split('_').all(is_keyword), "{name}");
        }
        for (alias, _) in TYPE_ALIASES {
            assert!(is_keyword(alias), "{alias}");
        }
        assert_eq!(type_name("INT4"), Some(("integer4", 0)));
        assert_eq!(type_name("VarChar"), Some(("character_varying", 1)));
        assert_eq!(type_name("double"), None);
        assert_eq!(type_name("foo"), None);
        assert!(is_operator_word("Like") && !is_operator_word("select"));
    }
}
