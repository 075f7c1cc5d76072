//! Second pass: turns a syntax tree into the AST, resolving placeholders and
//! checking everything that is not syntax (reserved words, functions, operand
//! types, overlapping paths). Problems are collected rather than returned at
//! once, so the most fundamental one is reported whatever its position.

use super::ast::{
    Comparator, Condition, ElemRef, Operand, Path, PathElem, SetValue, UpdateAction, UpdateExpr, UpdateOperand,
};
use super::reserved::is_reserved;
use super::syntax::{Section, Syn, SynAction, SynElem, SynPath, SynSet, SynUpdate};
use super::{ExprError, ExprKind, Invalid, Placeholders};
use crate::value::{AttrType, Value};

// Which problem DynamoDB reports when an expression has several (lower first).
const RANK_PARENS: u8 = 0;
const RANK_UNKNOWN_FUNCTION: u8 = 1;
const RANK_MISUSED_FUNCTION: u8 = 2;
const RANK_RESERVED: u8 = 3;
const RANK_SECTION: u8 = 4;
const RANK_UNDEFINED_NAME: u8 = 5;
const RANK_UNDEFINED_VALUE: u8 = 6;
const RANK_OVERLAP: u8 = 7;
const RANK_CONFLICT: u8 = 8;
/// An ADD or DELETE value of a type the action cannot take: before the
/// functions' operands (dynalite's tests, recorded against DynamoDB:
/// `SET b = list_append(:a, a), c = if_not_exists(a) ADD a.b :a` with a
/// string `:a` is refused for ADD).
const RANK_ACTION_OPERAND: u8 = 9;
const RANK_OPERAND: u8 = 10;

/// Condition functions that yield a boolean.
const BOOLEAN_FUNCTIONS: &[&str] =
    &["attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains"];

/// The type names `attribute_type` accepts.
const TYPE_NAMES: &[&str] = &["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"];

struct Resolver<'p> {
    ph: &'p mut Placeholders,
    best: Option<(u8, Invalid)>,
    /// Resolving a key condition: DynamoDB accepts doubled parentheses
    /// there (`((pk = :p)) AND ((sk = :s))`, the conformance suite's
    /// capture), refused in condition, filter and update expressions.
    key_condition: bool,
}

impl<'p> Resolver<'p> {
    fn new(ph: &'p mut Placeholders) -> Self {
        Resolver { ph, best: None, key_condition: false }
    }

    /// Records a problem; the lowest rank wins, then the first seen. A key
    /// condition reports an undefined value or a wrong operand type,
    /// whichever it meets first in the order written (the conformance
    /// suite's capture, 2026-10), so there the two rank alike.
    fn problem(&mut self, rank: u8, reason: Invalid) {
        let rank = if self.key_condition && rank == RANK_OPERAND { RANK_UNDEFINED_VALUE } else { rank };
        if self.best.as_ref().is_none_or(|(r, _)| rank < *r) {
            self.best = Some((rank, reason));
        }
    }

    /// The result, or the most fundamental problem found. Every `None` along
    /// the way recorded a problem, so a `None` without one cannot happen; it
    /// is still reported rather than trusted.
    fn finish<T>(self, kind: ExprKind, result: Option<T>) -> Result<T, ExprError> {
        match (self.best, result) {
            (None, Some(v)) => Ok(v),
            (Some((_, reason)), _) => Err(ExprError::invalid(kind, reason)),
            (None, None) => {
                Err(ExprError::invalid(kind, Invalid::Syntax { token: "<EOF>".into(), near: String::new() }))
            }
        }
    }

    fn path(&mut self, p: &SynPath<'_>) -> Option<Path> {
        let mut elems = Vec::with_capacity(p.elems.len());
        let mut ok = true;
        for e in &p.elems {
            match e {
                SynElem::Name(n) => {
                    if is_reserved(n) {
                        self.problem(RANK_RESERVED, Invalid::ReservedWord((*n).to_string()));
                    }
                    elems.push(PathElem::Attr((*n).to_string()));
                }
                SynElem::Placeholder(n) => match self.ph.name(n) {
                    Some(name) => elems.push(PathElem::Attr(name)),
                    None => {
                        self.problem(RANK_UNDEFINED_NAME, Invalid::UndefinedName((*n).to_string()));
                        ok = false;
                    }
                },
                SynElem::Index(i) => elems.push(PathElem::Index(*i)),
            }
        }
        if !ok {
            return None;
        }
        let mut it = elems.into_iter();
        match it.next() {
            Some(PathElem::Attr(head)) => Some(Path::new(head, it.collect())),
            // The parser always starts a path with a name.
            _ => None,
        }
    }

    fn value(&mut self, name: &str) -> Option<Value> {
        let v = self.ph.value(name);
        if v.is_none() {
            self.problem(RANK_UNDEFINED_VALUE, Invalid::UndefinedValue(name.to_string()));
        }
        v
    }

    fn operand_count(&mut self, function: &str, args: &[Syn<'_>], want: usize) -> bool {
        if args.len() != want {
            self.problem(RANK_OPERAND, Invalid::OperandCount { function: function.to_string(), count: args.len() });
            return false;
        }
        true
    }

    /// [`Self::operand_count`] for an update function: with the wrong
    /// count, its operands are still read, so an undefined name or value
    /// among them is what is reported (dynalite's tests, recorded against
    /// DynamoDB: `SET #a = if_not_exists(:c)`).
    fn update_operand_count(&mut self, function: &str, args: &[Syn<'_>], want: usize) -> bool {
        if self.operand_count(function, args, want) {
            return true;
        }
        for a in args {
            let _ = self.update_operand(a);
        }
        false
    }

    fn operand_type(&mut self, function: &str, t: AttrType) {
        self.problem(
            RANK_OPERAND,
            Invalid::OperandType { function: function.to_string(), operand_type: t.as_str().to_string() },
        );
    }

    fn check_distinct(&mut self, operator: &str, a: &Operand, b: &Operand) {
        if let (Operand::Path(x), Operand::Path(y)) = (a, b)
            && x == y
        {
            self.problem(RANK_OPERAND, Invalid::NotDistinct { operator: operator.to_string(), path: x.bracketed() });
        }
    }

    // ---- conditions --------------------------------------------------------

    fn condition(&mut self, s: &Syn<'_>) -> Option<Condition> {
        match s {
            Syn::Paren(inner) => {
                if !self.key_condition && matches!(**inner, Syn::Paren(_)) {
                    self.problem(RANK_PARENS, Invalid::RedundantParentheses);
                }
                self.condition(inner)
            }
            Syn::And(a, b) => {
                let (a, b) = (self.condition(a), self.condition(b));
                Some(Condition::And(Box::new(a?), Box::new(b?)))
            }
            Syn::Or(a, b) => {
                let (a, b) = (self.condition(a), self.condition(b));
                Some(Condition::Or(Box::new(a?), Box::new(b?)))
            }
            Syn::Not(c) => Some(Condition::Not(Box::new(self.condition(c)?))),
            Syn::Cmp(op, l, r) => {
                let (left, right) = (self.operand(l), self.operand(r));
                let (left, right) = (left?, right?);
                self.check_distinct(op.as_str(), &left, &right);
                if !matches!(op, Comparator::Eq | Comparator::Ne) {
                    self.check_ordered(op.as_str(), &[&left, &right]);
                }
                Some(Condition::Compare { op: *op, left, right })
            }
            Syn::Between(v, lo, hi) => {
                let (value, low, high) = (self.operand(v), self.operand(lo), self.operand(hi));
                let (value, low, high) = (value?, low?, high?);
                self.check_ordered("BETWEEN", &[&value, &low, &high]);
                if let (Operand::Value(l), Operand::Value(h)) = (&low, &high) {
                    self.check_bounds(l, h);
                }
                Some(Condition::Between { value, low, high })
            }
            Syn::In(v, list) => {
                let value = self.operand(v);
                let list: Vec<Option<Operand>> = list.iter().map(|o| self.operand(o)).collect();
                Some(Condition::In { value: value?, list: list.into_iter().collect::<Option<Vec<_>>>()? })
            }
            Syn::Call { name, args } => self.boolean_function(name, args),
            // The parser never puts an operand where a condition belongs.
            Syn::Path(_) | Syn::Value(_) => None,
        }
    }

    /// An ordering (`<`, `BETWEEN`) of a constant that has no order: only
    /// strings, numbers and binaries compare (Developer Guide, Comparison
    /// operator and function reference).
    fn check_ordered(&mut self, operator: &str, operands: &[&Operand]) {
        let unordered = operands.iter().find_map(|o| match o {
            Operand::Value(v) if !matches!(v.attr_type(), AttrType::S | AttrType::N | AttrType::B) => {
                Some(v.attr_type())
            }
            _ => None,
        });
        if let Some(t) = unordered {
            self.operand_type(operator, t);
        }
    }

    fn check_bounds(&mut self, low: &Value, high: &Value) {
        let (l, h) = (brief(low), brief(high));
        if low.attr_type() != high.attr_type() {
            self.problem(RANK_OPERAND, Invalid::BetweenTypes { low: l, high: h });
            return;
        }
        let reversed = match (low, high) {
            (Value::S(a), Value::S(b)) => a > b,
            (Value::N(a), Value::N(b)) => a > b,
            (Value::B(a), Value::B(b)) => a > b,
            _ => false,
        };
        if reversed {
            self.problem(RANK_OPERAND, Invalid::BetweenOrder { low: l, high: h });
        }
    }

    /// A path argument, looking through parentheses; `None` (with a problem
    /// recorded) if the argument is not a path.
    fn path_argument(&mut self, function: &str, arg: &Syn<'_>) -> Option<Path> {
        match arg {
            Syn::Paren(inner) => self.path_argument(function, inner),
            Syn::Path(p) => self.path(p),
            other => {
                // Resolve anyway, so its own problems are found too.
                let _ = self.operand(other);
                self.problem(RANK_OPERAND, Invalid::RequiresPath(function.to_string()));
                None
            }
        }
    }

    fn boolean_function(&mut self, name: &str, args: &[Syn<'_>]) -> Option<Condition> {
        match name {
            "attribute_exists" | "attribute_not_exists" => {
                if !self.operand_count(name, args, 1) {
                    return None;
                }
                let path = self.path_argument(name, &args[0])?;
                Some(if name == "attribute_exists" {
                    Condition::AttributeExists(path)
                } else {
                    Condition::AttributeNotExists(path)
                })
            }
            "attribute_type" => {
                if !self.operand_count(name, args, 2) {
                    return None;
                }
                // A constant first argument is allowed too, though the
                // documentation names a path (Alternator's tests against
                // DynamoDB): its type is known now, so the condition is a
                // constant.
                let mut first = &args[0];
                while let Syn::Paren(inner) = first {
                    first = inner;
                }
                if let Syn::Value(_) = first {
                    let constant = self.operand(first);
                    let type_name = self.operand(&args[1]);
                    let (Some(Operand::Value(v)), Some(Operand::Value(Value::S(t)))) = (constant, type_name) else {
                        self.problem(
                            RANK_OPERAND,
                            Invalid::OperandType {
                                function: name.to_string(),
                                operand_type: "{NS,SS,L,BS,N,M,B,BOOL,NULL,S}".to_string(),
                            },
                        );
                        return None;
                    };
                    let Some(want) = TYPE_NAMES.contains(&t.as_str()).then(|| AttrType::parse(&t)).flatten() else {
                        self.problem(RANK_OPERAND, Invalid::AttributeTypeName(t));
                        return None;
                    };
                    let holds = Value::Bool(v.attr_type() == want);
                    return Some(Condition::Compare {
                        op: Comparator::Eq,
                        left: Operand::Value(holds),
                        right: Operand::Value(Value::Bool(true)),
                    });
                }
                let path = self.path_argument(name, &args[0]);
                let type_name = self.operand(&args[1])?;
                let t = match &type_name {
                    Operand::Value(Value::S(s)) => {
                        match TYPE_NAMES.contains(&s.as_str()).then(|| AttrType::parse(s)).flatten() {
                            Some(t) => t,
                            None => {
                                self.problem(RANK_OPERAND, Invalid::AttributeTypeName(s.clone()));
                                return None;
                            }
                        }
                    }
                    other => {
                        let operand_type = static_type(other)
                            .map_or("{NS,SS,L,BS,N,M,B,BOOL,NULL,S}".to_string(), |t| t.as_str().to_string());
                        self.problem(RANK_OPERAND, Invalid::OperandType { function: name.to_string(), operand_type });
                        return None;
                    }
                };
                Some(Condition::AttributeType(path?, t))
            }
            "begins_with" | "contains" => {
                if !self.operand_count(name, args, 2) {
                    return None;
                }
                let (a, b) = (self.operand(&args[0]), self.operand(&args[1]));
                let (a, b) = (a?, b?);
                if name == "begins_with" {
                    for o in [&a, &b] {
                        if let Some(t) = static_type(o)
                            && !matches!(t, AttrType::S | AttrType::B)
                        {
                            self.operand_type(name, t);
                        }
                    }
                }
                self.check_distinct(name, &a, &b);
                Some(if name == "begins_with" { Condition::BeginsWith(a, b) } else { Condition::Contains(a, b) })
            }
            "size" => {
                self.problem(RANK_MISUSED_FUNCTION, Invalid::MisusedFunction(name.to_string()));
                None
            }
            "if_not_exists" | "list_append" => {
                self.problem(RANK_UNKNOWN_FUNCTION, Invalid::UpdateFunctionInCondition(name.to_string()));
                None
            }
            _ => {
                self.problem(RANK_UNKNOWN_FUNCTION, Invalid::UnknownFunction(name.to_string()));
                None
            }
        }
    }

    fn operand(&mut self, s: &Syn<'_>) -> Option<Operand> {
        match s {
            Syn::Paren(inner) => {
                if !self.key_condition && matches!(**inner, Syn::Paren(_)) {
                    self.problem(RANK_PARENS, Invalid::RedundantParentheses);
                }
                self.operand(inner)
            }
            Syn::Path(p) => Some(Operand::Path(self.path(p)?)),
            Syn::Value(v) => Some(Operand::Value(self.value(v)?)),
            Syn::Call { name: "size", args } => {
                if !self.operand_count("size", args, 1) {
                    return None;
                }
                let inner = self.operand(&args[0])?;
                if let Some(t) = static_type(&inner)
                    && matches!(t, AttrType::N | AttrType::Bool | AttrType::Null)
                {
                    self.operand_type("size", t);
                }
                Some(Operand::Size(Box::new(inner)))
            }
            Syn::Call { name, .. } => {
                if BOOLEAN_FUNCTIONS.contains(name) {
                    self.problem(RANK_MISUSED_FUNCTION, Invalid::MisusedFunction((*name).to_string()));
                } else if matches!(*name, "if_not_exists" | "list_append") {
                    self.problem(RANK_UNKNOWN_FUNCTION, Invalid::UpdateFunctionInCondition((*name).to_string()));
                } else {
                    self.problem(RANK_UNKNOWN_FUNCTION, Invalid::UnknownFunction((*name).to_string()));
                }
                None
            }
            // The parser never puts a condition where an operand belongs.
            _ => None,
        }
    }

    // ---- updates -----------------------------------------------------------

    fn update_operand(&mut self, s: &Syn<'_>) -> Option<UpdateOperand> {
        match s {
            Syn::Paren(inner) => self.update_operand(inner),
            Syn::Path(p) => Some(UpdateOperand::Path(self.path(p)?)),
            Syn::Value(v) => Some(UpdateOperand::Value(self.value(v)?)),
            Syn::Call { name: "if_not_exists", args } => {
                if !self.update_operand_count("if_not_exists", args, 2) {
                    return None;
                }
                let path = match strip_parens(&args[0]) {
                    Syn::Path(p) => self.path(p),
                    other => {
                        let _ = self.update_operand(other);
                        self.problem(RANK_OPERAND, Invalid::RequiresPath("if_not_exists".into()));
                        None
                    }
                };
                let fallback = self.update_operand(&args[1]);
                Some(UpdateOperand::IfNotExists(path?, Box::new(fallback?)))
            }
            Syn::Call { name: "list_append", args } => {
                if !self.update_operand_count("list_append", args, 2) {
                    return None;
                }
                // One list_append may not take another (Alternator's tests,
                // recorded against DynamoDB); if_not_exists is fine.
                if args.iter().any(|a| matches!(strip_parens(a), Syn::Call { name: "list_append", .. })) {
                    self.problem(RANK_MISUSED_FUNCTION, Invalid::MisusedFunction("list_append".into()));
                }
                let (a, b) = (self.update_operand(&args[0]), self.update_operand(&args[1]));
                let (a, b) = (a?, b?);
                for o in [&a, &b] {
                    if let UpdateOperand::Value(v) = o
                        && v.attr_type() != AttrType::L
                    {
                        self.operand_type("list_append", v.attr_type());
                    }
                }
                Some(UpdateOperand::ListAppend(Box::new(a), Box::new(b)))
            }
            Syn::Call { name, .. } => {
                self.problem(RANK_UNKNOWN_FUNCTION, Invalid::UnknownFunction((*name).to_string()));
                None
            }
            // The update parser only builds the shapes above.
            _ => None,
        }
    }

    fn set_value(&mut self, s: &SynSet<'_>) -> Option<SetValue> {
        let (a, b, op) = match s {
            SynSet::Operand(o) => return Some(SetValue::Operand(self.update_operand(o)?)),
            SynSet::Plus(a, b) => (a, b, "+"),
            SynSet::Minus(a, b) => (a, b, "-"),
        };
        let (a, b) = (self.update_operand(a), self.update_operand(b));
        let (a, b) = (a?, b?);
        for o in [&a, &b] {
            if let UpdateOperand::Value(v) = o
                && v.attr_type() != AttrType::N
            {
                self.operand_type(op, v.attr_type());
            }
        }
        Some(if op == "+" { SetValue::Plus(a, b) } else { SetValue::Minus(a, b) })
    }

    fn action_value(&mut self, section: Section, name: &str) -> Option<Value> {
        let v = self.value(name)?;
        let allowed = match v.attr_type() {
            AttrType::Ss | AttrType::Ns | AttrType::Bs => true,
            AttrType::N => section == Section::Add,
            _ => false,
        };
        if !allowed {
            self.problem(
                RANK_ACTION_OPERAND,
                Invalid::ActionOperandType { action: section.as_str(), operand_type: long_type_name(v.attr_type()) },
            );
        }
        Some(v)
    }

    fn check_overlaps(&mut self, paths: &[&Path]) {
        for (i, later) in paths.iter().enumerate() {
            for earlier in &paths[..i] {
                match relate(earlier, later) {
                    Relation::Disjoint => {}
                    Relation::Overlap => self.problem(
                        RANK_OVERLAP,
                        Invalid::OverlappingPaths { one: earlier.bracketed(), two: later.bracketed() },
                    ),
                    Relation::Conflict => self.problem(
                        RANK_CONFLICT,
                        Invalid::ConflictingPaths { one: earlier.bracketed(), two: later.bracketed() },
                    ),
                }
            }
        }
    }
}

fn strip_parens<'s, 'a>(s: &'s Syn<'a>) -> &'s Syn<'a> {
    match s {
        Syn::Paren(inner) => strip_parens(inner),
        other => other,
    }
}

/// The type an operand is known to have before evaluation, if any.
fn static_type(o: &Operand) -> Option<AttrType> {
    match o {
        Operand::Value(v) => Some(v.attr_type()),
        Operand::Size(_) => Some(AttrType::N),
        Operand::Path(_) => None,
    }
}

/// How DynamoDB names a type in ADD and DELETE errors.
fn long_type_name(t: AttrType) -> &'static str {
    match t {
        AttrType::S => "STRING",
        AttrType::N => "NUMBER",
        AttrType::B => "BINARY",
        AttrType::Bool => "BOOLEAN",
        AttrType::Null => "NULL",
        AttrType::M => "MAP",
        AttrType::L => "LIST",
        AttrType::Ss => "STRING_SET",
        AttrType::Ns => "NUMBER_SET",
        AttrType::Bs => "BINARY_SET",
    }
}

/// A value as DynamoDB shows it in BETWEEN errors: `{N:5}`, `{S:abc}`.
fn brief(v: &Value) -> String {
    let t = v.attr_type();
    match v {
        Value::S(s) => format!("{{{t}:{s}}}"),
        Value::N(n) => format!("{{{t}:{n}}}"),
        Value::B(b) => format!("{{{t}:{}}}", base64(b)),
        other => format!("{{{t}:{other:?}}}"),
    }
}

/// Standard base64 with padding, as binary values travel on the wire.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 0x3f) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// How two paths written by the same expression relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Relation {
    Disjoint,
    /// One is a prefix of the other (or they are equal).
    Overlap,
    /// At some step one indexes a list where the other names a map key.
    Conflict,
}

pub(crate) fn relate(a: &Path, b: &Path) -> Relation {
    for (x, y) in a.elems().zip(b.elems()) {
        match (x, y) {
            (ElemRef::Attr(p), ElemRef::Attr(q)) if p != q => return Relation::Disjoint,
            (ElemRef::Index(p), ElemRef::Index(q)) if p != q => return Relation::Disjoint,
            (ElemRef::Attr(_), ElemRef::Index(_)) | (ElemRef::Index(_), ElemRef::Attr(_)) => {
                return Relation::Conflict;
            }
            _ => {}
        }
    }
    Relation::Overlap
}

/// Resolves a condition syntax tree.
pub(crate) fn condition(tree: Syn<'_>, ph: &mut Placeholders, kind: ExprKind) -> Result<Condition, ExprError> {
    let mut r = Resolver::new(ph);
    r.key_condition = kind == ExprKind::KeyCondition;
    let cond = r.condition(&tree);
    r.finish(kind, cond)
}

/// Resolves an update syntax tree and checks its paths do not overlap.
pub(crate) fn update(tree: SynUpdate<'_>, ph: &mut Placeholders) -> Result<UpdateExpr, ExprError> {
    let mut r = Resolver::new(ph);
    let mut seen: Vec<Section> = Vec::new();
    let mut actions = Some(Vec::new());
    // Every action's target whose path resolved, whether or not its value
    // did: paths overlap whatever their values.
    let mut targets = Vec::new();
    for (section, syn_actions) in &tree.sections {
        if seen.contains(section) {
            r.problem(RANK_SECTION, Invalid::DuplicateSection(section.as_str()));
        }
        seen.push(*section);
        for a in syn_actions {
            let action = match a {
                SynAction::Set(p, v) => {
                    let (p, v) = (r.path(p), r.set_value(v));
                    targets.extend(p.clone());
                    p.zip(v).map(|(p, v)| UpdateAction::Set(p, v))
                }
                SynAction::Remove(p) => {
                    let p = r.path(p);
                    targets.extend(p.clone());
                    p.map(UpdateAction::Remove)
                }
                SynAction::Add(p, v) => {
                    let (p, v) = (r.path(p), r.action_value(Section::Add, v));
                    targets.extend(p.clone());
                    p.zip(v).map(|(p, v)| UpdateAction::Add(p, v))
                }
                SynAction::Delete(p, v) => {
                    let (p, v) = (r.path(p), r.action_value(Section::Delete, v));
                    targets.extend(p.clone());
                    p.zip(v).map(|(p, v)| UpdateAction::Delete(p, v))
                }
            };
            match (action, actions.as_mut()) {
                (Some(a), Some(list)) => list.push(a),
                _ => actions = None,
            }
        }
    }
    let targets: Vec<&Path> = targets.iter().collect();
    r.check_overlaps(&targets);
    r.finish(ExprKind::Update, actions.map(|actions| UpdateExpr { actions }))
}

/// Resolves projection paths and checks they do not overlap.
pub(crate) fn projection(tree: Vec<SynPath<'_>>, ph: &mut Placeholders) -> Result<Vec<Path>, ExprError> {
    let mut r = Resolver::new(ph);
    let paths: Vec<Option<Path>> = tree.iter().map(|p| r.path(p)).collect();
    let paths: Option<Vec<Path>> = paths.into_iter().collect();
    if let Some(list) = &paths {
        let refs: Vec<&Path> = list.iter().collect();
        r.check_overlaps(&refs);
    }
    r.finish(ExprKind::Projection, paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        for (input, out) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")] {
            assert_eq!(base64(input.as_bytes()), out);
        }
    }

    #[test]
    fn relations() {
        let p = |s: &str| {
            let mut ph = Placeholders::default();
            super::super::parse_projection(s, &mut ph).unwrap().remove(0)
        };
        assert_eq!(relate(&p("a"), &p("a.b")), Relation::Overlap);
        assert_eq!(relate(&p("a.b"), &p("a.b")), Relation::Overlap);
        assert_eq!(relate(&p("a.b"), &p("a.c")), Relation::Disjoint);
        assert_eq!(relate(&p("a[1]"), &p("a[2]")), Relation::Disjoint);
        assert_eq!(relate(&p("a[1]"), &p("a.b")), Relation::Conflict);
    }
}
