//! The parsed forms of expressions. Placeholders are already resolved: paths
//! hold plain attribute names and operands hold concrete values.

use std::fmt;

use crate::value::{AttrType, Value};

/// One step of a document path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathElem {
    /// A map key (or, first in a path, a top-level attribute name).
    Attr(String),
    /// A list index.
    Index(usize),
}

/// A document path such as `a.b[2].c`. It always starts with an attribute
/// name and is never empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Path {
    head: String,
    rest: Vec<PathElem>,
}

impl Path {
    /// A path naming one top-level attribute (any characters allowed: the
    /// name has already been resolved).
    pub fn attr(name: impl Into<String>) -> Self {
        Path { head: name.into(), rest: Vec::new() }
    }

    /// A path from a top-level name and further steps.
    pub fn new(head: impl Into<String>, rest: Vec<PathElem>) -> Self {
        Path { head: head.into(), rest }
    }

    /// The top-level attribute name.
    pub fn top(&self) -> &str {
        &self.head
    }

    /// The steps after the top-level name.
    pub fn rest(&self) -> &[PathElem] {
        &self.rest
    }

    /// Number of steps, counting the top-level name.
    pub fn len(&self) -> usize {
        1 + self.rest.len()
    }

    /// Always false: a path names at least a top-level attribute.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Appends a step.
    pub fn push(&mut self, elem: PathElem) {
        self.rest.push(elem);
    }

    /// All steps, the top-level name first.
    pub(crate) fn elems(&self) -> impl Iterator<Item = ElemRef<'_>> {
        std::iter::once(ElemRef::Attr(&self.head)).chain(self.rest.iter().map(|e| match e {
            PathElem::Attr(a) => ElemRef::Attr(a),
            PathElem::Index(i) => ElemRef::Index(*i),
        }))
    }

    /// DynamoDB's rendering in error messages: `[a, b, [2]]`.
    pub(crate) fn bracketed(&self) -> String {
        let parts: Vec<String> = self
            .elems()
            .map(|e| match e {
                ElemRef::Attr(a) => a.to_string(),
                ElemRef::Index(i) => format!("[{i}]"),
            })
            .collect();
        format!("[{}]", parts.join(", "))
    }
}

/// A borrowed path step, so the head and the rest can be walked alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ElemRef<'a> {
    Attr(&'a str),
    Index(usize),
}

impl fmt::Display for Path {
    /// Renders the path as written in an expression: `a.b[2]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.head)?;
        for e in &self.rest {
            match e {
                PathElem::Attr(a) => write!(f, ".{a}")?,
                PathElem::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Comparator {
    /// `=`
    Eq,
    /// `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Comparator {
    /// The operator as written in an expression.
    pub fn as_str(self) -> &'static str {
        match self {
            Comparator::Eq => "=",
            Comparator::Ne => "<>",
            Comparator::Lt => "<",
            Comparator::Le => "<=",
            Comparator::Gt => ">",
            Comparator::Ge => ">=",
        }
    }

    /// The operator with its operands swapped: `a < b` is `b > a`.
    pub fn mirrored(self) -> Self {
        match self {
            Comparator::Lt => Comparator::Gt,
            Comparator::Le => Comparator::Ge,
            Comparator::Gt => Comparator::Lt,
            Comparator::Ge => Comparator::Le,
            other => other,
        }
    }
}

/// Something a condition compares: an attribute, a constant, or the size of
/// either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    /// The attribute at a document path.
    Path(Path),
    /// A constant from `ExpressionAttributeValues`.
    Value(Value),
    /// `size(operand)`; the inner operand is a path or a value.
    Size(Box<Operand>),
}

/// A parsed condition or filter expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `left op right`.
    Compare {
        /// The comparison.
        op: Comparator,
        /// The left operand.
        left: Operand,
        /// The right operand.
        right: Operand,
    },
    /// `value BETWEEN low AND high`, inclusive.
    Between {
        /// What is tested.
        value: Operand,
        /// The lower bound.
        low: Operand,
        /// The upper bound.
        high: Operand,
    },
    /// `value IN (list...)`.
    In {
        /// What is tested.
        value: Operand,
        /// The candidates.
        list: Vec<Operand>,
    },
    /// `attribute_exists(path)`.
    AttributeExists(Path),
    /// `attribute_not_exists(path)`.
    AttributeNotExists(Path),
    /// `attribute_type(path, :type)`.
    AttributeType(Path, AttrType),
    /// `begins_with(a, b)`.
    BeginsWith(Operand, Operand),
    /// `contains(a, b)`.
    Contains(Operand, Operand),
    /// `a AND b`.
    And(Box<Condition>, Box<Condition>),
    /// `a OR b`.
    Or(Box<Condition>, Box<Condition>),
    /// `NOT c`.
    Not(Box<Condition>),
}

impl Condition {
    /// Every top-level attribute name the condition reads, sorted and
    /// deduplicated.
    pub fn top_level_names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.paths().into_iter().map(Path::top).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Every document path the condition reads, in the order written.
    pub fn paths(&self) -> Vec<&Path> {
        let mut out = Vec::new();
        self.collect_paths(&mut out);
        out
    }

    fn collect_paths<'a>(&'a self, out: &mut Vec<&'a Path>) {
        fn operand<'a>(o: &'a Operand, out: &mut Vec<&'a Path>) {
            match o {
                Operand::Path(p) => out.push(p),
                Operand::Value(_) => {}
                Operand::Size(inner) => operand(inner, out),
            }
        }
        match self {
            Condition::Compare { left, right, .. } => {
                operand(left, out);
                operand(right, out);
            }
            Condition::Between { value, low, high } => {
                for o in [value, low, high] {
                    operand(o, out);
                }
            }
            Condition::In { value, list } => {
                operand(value, out);
                list.iter().for_each(|o| operand(o, out));
            }
            Condition::AttributeExists(p) | Condition::AttributeNotExists(p) | Condition::AttributeType(p, _) => {
                out.push(p)
            }
            Condition::BeginsWith(a, b) | Condition::Contains(a, b) => {
                operand(a, out);
                operand(b, out);
            }
            Condition::And(a, b) | Condition::Or(a, b) => {
                a.collect_paths(out);
                b.collect_paths(out);
            }
            Condition::Not(c) => c.collect_paths(out),
        }
    }
}

/// An operand on the right-hand side of a `SET` action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateOperand {
    /// The attribute at a document path (it must exist).
    Path(Path),
    /// A constant from `ExpressionAttributeValues`.
    Value(Value),
    /// `if_not_exists(path, operand)`.
    IfNotExists(Path, Box<UpdateOperand>),
    /// `list_append(operand, operand)`.
    ListAppend(Box<UpdateOperand>, Box<UpdateOperand>),
}

/// The value a `SET` action assigns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetValue {
    /// A single operand.
    Operand(UpdateOperand),
    /// `a + b` on numbers.
    Plus(UpdateOperand, UpdateOperand),
    /// `a - b` on numbers.
    Minus(UpdateOperand, UpdateOperand),
}

/// One action of an update expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateAction {
    /// `SET path = value`.
    Set(Path, SetValue),
    /// `REMOVE path`.
    Remove(Path),
    /// Adds a number, or adds elements to a set.
    Add(Path, Value),
    /// Removes elements from a set.
    Delete(Path, Value),
}

impl UpdateAction {
    /// The path the action writes.
    pub fn target(&self) -> &Path {
        match self {
            UpdateAction::Set(p, _)
            | UpdateAction::Remove(p)
            | UpdateAction::Add(p, _)
            | UpdateAction::Delete(p, _) => p,
        }
    }
}

/// A parsed update expression: its actions in the order written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdateExpr {
    /// The actions in the order written (clauses concatenated).
    pub actions: Vec<UpdateAction>,
}

impl UpdateExpr {
    /// The top-level attribute each action writes, in action order (a name
    /// appears once per action that writes under it), so the caller can refuse
    /// updates of key attributes.
    pub fn top_level_names(&self) -> impl Iterator<Item = &str> {
        self.actions.iter().map(|a| a.target().top())
    }

    /// Every document path the update writes or reads, in the order
    /// written: each action's target, then the paths its value reads.
    pub fn paths(&self) -> Vec<&Path> {
        fn operand<'a>(o: &'a UpdateOperand, out: &mut Vec<&'a Path>) {
            match o {
                UpdateOperand::Path(p) => out.push(p),
                UpdateOperand::Value(_) => {}
                UpdateOperand::IfNotExists(p, inner) => {
                    out.push(p);
                    operand(inner, out);
                }
                UpdateOperand::ListAppend(a, b) => {
                    operand(a, out);
                    operand(b, out);
                }
            }
        }
        let mut out = Vec::new();
        for action in &self.actions {
            out.push(action.target());
            if let UpdateAction::Set(_, value) = action {
                match value {
                    SetValue::Operand(o) => operand(o, &mut out),
                    SetValue::Plus(a, b) | SetValue::Minus(a, b) => {
                        operand(a, &mut out);
                        operand(b, &mut out);
                    }
                }
            }
        }
        out
    }
}

/// A condition on one key attribute of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeCondition {
    /// `= value`.
    Eq(Value),
    /// `< value`.
    Lt(Value),
    /// `<= value`.
    Le(Value),
    /// `> value`.
    Gt(Value),
    /// `>= value`.
    Ge(Value),
    /// Inclusive on both ends.
    Between(Value, Value),
    /// `begins_with(key, value)`.
    BeginsWith(Value),
}

impl RangeCondition {
    /// The values the condition compares with.
    pub fn values(&self) -> impl Iterator<Item = &Value> {
        let (a, b) = match self {
            RangeCondition::Between(a, b) => (a, Some(b)),
            RangeCondition::Eq(v)
            | RangeCondition::Lt(v)
            | RangeCondition::Le(v)
            | RangeCondition::Gt(v)
            | RangeCondition::Ge(v)
            | RangeCondition::BeginsWith(v) => (v, None),
        };
        std::iter::once(a).chain(b)
    }
}

/// A parsed key condition: conditions, each on a distinct top-level
/// attribute.
///
/// The parser cannot know the table's key schema, so it does not decide which
/// condition is on the partition key, nor whether there are too many. Use
/// [`KeyCondition::split`] to match the conditions to a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCondition {
    /// `(attribute name, condition)`; of two, an `Eq` first when either is.
    pub conditions: Vec<(String, RangeCondition)>,
    /// From legacy `KeyConditions`, which words too many conditions its
    /// own way.
    pub legacy: bool,
    /// Legacy conditions whose operator (`NULL`, `CONTAINS`, ...) cannot
    /// select keys; their entry in `conditions` holds no value.
    pub not_indexable: Vec<String>,
}
