//! Lowering: constants to [`Value`]s, a `WHERE` to a [`Condition`], `SET` and
//! `REMOVE` to [`UpdateAction`]s, with `?` parameters bound. The results are
//! the expression language's own types, so evaluation is shared with
//! ConditionExpression and UpdateExpression.

use std::collections::{BTreeMap, BTreeSet};

use super::PartiqlError;
use super::ast::{Action, ArithOp, Expr, Literal, SynPath, SynStep};
use super::reserved;
use crate::expr::{
    Comparator, Condition, ExprError, ExprKind, Invalid, MAX_IN_OPERANDS, Operand, Path, PathElem, SetValue,
    UpdateAction, UpdateExpr, UpdateOperand,
};
use crate::messages;
use crate::value::{AttrType, MAX_NESTING_DEPTH, Number, NumberError, Value};

type Result<T> = std::result::Result<T, PartiqlError>;

/// Lowers expressions of one statement, whose parameters are `params`.
pub(crate) struct Lower<'p> {
    pub params: &'p [Value],
}

/// A document path of the expression language.
pub(crate) fn path(p: &SynPath) -> Path {
    Path::new(
        p.head.clone(),
        p.steps
            .iter()
            .map(|s| match s {
                SynStep::Attr(a) => PathElem::Attr(a.clone()),
                SynStep::Index(i) => PathElem::Index(*i),
            })
            .collect(),
    )
}

fn type_name(v: &Value) -> &'static str {
    v.attr_type().as_str()
}

/// A constant's rendering in "Input collection [..] contains duplicates".
fn shown(v: &Value) -> String {
    match v {
        Value::S(s) => s.clone(),
        Value::N(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

fn is_bool_function(name: &str) -> bool {
    ["attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains"]
        .iter()
        .any(|f| name.eq_ignore_ascii_case(f))
}

fn operand_count(function: &str, count: usize) -> PartiqlError {
    PartiqlError::invalid(messages::expression::Invalid::OperandCount { function: function.into(), count }.to_string())
}

fn operand_type(function: &str, v: &Value) -> PartiqlError {
    PartiqlError::invalid(
        messages::expression::Invalid::OperandType { function: function.into(), operand_type: type_name(v).into() }
            .to_string(),
    )
}

fn requires_path(function: &str) -> PartiqlError {
    PartiqlError::invalid(messages::expression::Invalid::RequiresPath(function.into()).to_string())
}

/// Refuses a constant that an ordering comparison cannot order.
fn check_ordered(function: &str, o: &Operand) -> Result<()> {
    if let Operand::Value(v) = o
        && !matches!(v, Value::S(_) | Value::N(_) | Value::B(_))
    {
        return Err(operand_type(function, v));
    }
    Ok(())
}

impl Lower<'_> {
    fn param(&self, i: usize) -> Result<Value> {
        self.params.get(i).cloned().ok_or_else(|| PartiqlError::invalid(messages::partiql::PARAMETER_COUNT))
    }

    /// The constant `e` denotes; `at` names where it sits for error
    /// messages (`root`, `root.x`, `root[1]`).
    pub(crate) fn value(&self, e: &Expr, at: &str, depth: usize) -> Result<Value> {
        Ok(match e {
            Expr::Lit(Literal::Str(s)) => Value::S(s.clone()),
            Expr::Lit(Literal::Num(text)) => Value::N(Number::parse_legacy(text).map_err(|err| match err {
                NumberError::NotNumeric(_) => PartiqlError::malformed(messages::partiql::UNREADABLE),
                other => PartiqlError::invalid(messages::partiql::number_under(other, at)),
            })?),
            Expr::Lit(Literal::Bool(b)) => Value::Bool(*b),
            Expr::Lit(Literal::Null) => Value::Null,
            Expr::Lit(Literal::Missing) => {
                return Err(PartiqlError::invalid(messages::partiql::missing_value(at)));
            }
            Expr::Param(i) => self.param(*i)?,
            Expr::List(items) => {
                if depth >= MAX_NESTING_DEPTH {
                    return Err(PartiqlError::invalid(messages::expression::ExprError::NestingTooDeep.to_string()));
                }
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(self.value(item, &format!("{at}[{i}]"), depth + 1)?);
                }
                Value::L(out)
            }
            Expr::Struct(fields) => {
                if depth >= MAX_NESTING_DEPTH {
                    return Err(PartiqlError::invalid(messages::expression::ExprError::NestingTooDeep.to_string()));
                }
                Value::M(self.fields(fields, Some(at), depth + 1)?)
            }
            Expr::Bag(items) => self.bag(items, at)?,
            Expr::Call { name, span, .. } => {
                return Err(PartiqlError::invalid(messages::partiql::call_as_value(name, at, span)));
            }
            Expr::Path(p) => {
                return Err(PartiqlError::invalid(messages::partiql::path_as_value(p, at)));
            }
            _ => return Err(PartiqlError::invalid(messages::partiql::expression_as_value(at))),
        })
    }

    /// The attributes of a struct literal. `at` is where the struct sits and
    /// its attributes are `at.name`; `None` is the top of an item, where each
    /// attribute is `root`.
    pub(crate) fn fields(
        &self,
        fields: &[(Expr, Expr)],
        at: Option<&str>,
        depth: usize,
    ) -> Result<BTreeMap<String, Value>> {
        let mut out = BTreeMap::new();
        let shown_at = at.unwrap_or("root");
        for (k, v) in fields {
            let key = match k {
                Expr::Lit(Literal::Str(s)) => s.clone(),
                Expr::Lit(Literal::Num(_)) => {
                    return Err(PartiqlError::invalid(messages::partiql::number_tuple_key(shown_at)));
                }
                _ => {
                    return Err(PartiqlError::invalid(messages::partiql::expression_tuple_key(shown_at)));
                }
            };
            let here = match at {
                Some(at) => format!("{at}.{key}"),
                None => "root".to_string(),
            };
            let value = self.value(v, &here, depth)?;
            if out.insert(key.clone(), value).is_some() {
                return Err(PartiqlError::invalid(messages::partiql::duplicate_tuple_key(&key, shown_at)));
            }
        }
        Ok(out)
    }

    /// `<<...>>`: a string, number or binary set.
    fn bag(&self, items: &[Expr], at: &str) -> Result<Value> {
        if items.is_empty() {
            return Err(PartiqlError::invalid(messages::partiql::EMPTY_BAG));
        }
        let mut values = Vec::with_capacity(items.len());
        for item in items {
            let v = match item {
                Expr::Lit(Literal::Str(_) | Literal::Num(_)) | Expr::Param(_) => self.value(item, at, 0)?,
                _ => {
                    return Err(PartiqlError::invalid(messages::partiql::BAG_TYPE));
                }
            };
            values.push(v);
        }
        let duplicates = || {
            PartiqlError::invalid(messages::item::set_duplicates(
                values.iter().map(shown).collect::<Vec<_>>().join(", "),
            ))
        };
        let mismatch =
            |set: &str, v: &Value| PartiqlError::invalid(messages::partiql::bag_member_type(type_name(v), set, at));
        Ok(match &values[0] {
            Value::S(_) => {
                let mut set = BTreeSet::new();
                for v in &values {
                    let Value::S(s) = v else { return Err(mismatch("String", v)) };
                    if !set.insert(s.clone()) {
                        return Err(duplicates());
                    }
                }
                Value::Ss(set)
            }
            Value::N(_) => {
                let mut set = BTreeSet::new();
                for v in &values {
                    let Value::N(n) = v else { return Err(mismatch("Number", v)) };
                    if !set.insert(n.clone()) {
                        return Err(duplicates());
                    }
                }
                Value::Ns(set)
            }
            Value::B(_) => {
                let mut set = BTreeSet::new();
                for v in &values {
                    let Value::B(b) = v else { return Err(mismatch("Binary", v)) };
                    if !set.insert(b.clone()) {
                        return Err(duplicates());
                    }
                }
                Value::Bs(set)
            }
            _ => {
                return Err(PartiqlError::invalid(messages::partiql::BAG_TYPE));
            }
        })
    }

    /// A `WHERE` clause (or part of one) as a condition.
    pub(crate) fn condition(&self, e: &Expr) -> Result<Condition> {
        Ok(match e {
            Expr::And(..) | Expr::Or(..) => {
                // A chain of one operator is flattened and rebuilt balanced,
                // so evaluating (and dropping) it recurses log(n) deep, not n.
                let and = matches!(e, Expr::And(..));
                let mut leaves = Vec::new();
                let mut stack = vec![e];
                while let Some(x) = stack.pop() {
                    match x {
                        Expr::And(a, b) if and => stack.extend([b.as_ref(), a.as_ref()]),
                        Expr::Or(a, b) if !and => stack.extend([b.as_ref(), a.as_ref()]),
                        leaf => leaves.push(self.condition(leaf)?),
                    }
                }
                balanced(leaves, and).ok_or_else(|| PartiqlError::malformed(messages::partiql::EXPECTED_EXPRESSION))?
            }
            Expr::Not(a) => Condition::Not(Box::new(self.condition(a)?)),
            Expr::Cmp { op, left, right } => self.compare(*op, left, right)?,
            Expr::Between { value, low, high, negated } => {
                let value = self.operand(value)?;
                let low = self.operand(low)?;
                let high = self.operand(high)?;
                for o in [&value, &low, &high] {
                    check_ordered("BETWEEN", o)?;
                }
                negate(Condition::Between { value, low, high }, *negated)
            }
            Expr::In { value, list, negated } => {
                let value = self.operand(value)?;
                if !matches!(value, Operand::Path(_)) {
                    return Err(invalid_in());
                }
                let list: Vec<Operand> = match list.as_ref() {
                    Expr::List(items) | Expr::Bag(items) => {
                        items.iter().map(|i| self.operand(i)).collect::<Result<_>>()?
                    }
                    Expr::Param(i) => match self.param(*i)? {
                        Value::L(items) => items.into_iter().map(Operand::Value).collect(),
                        Value::Ss(s) => s.into_iter().map(|x| Operand::Value(Value::S(x))).collect(),
                        Value::Ns(s) => s.into_iter().map(|x| Operand::Value(Value::N(x))).collect(),
                        Value::Bs(s) => s.into_iter().map(|x| Operand::Value(Value::B(x))).collect(),
                        _ => return Err(invalid_in()),
                    },
                    _ => return Err(invalid_in()),
                };
                if list.is_empty() {
                    return Err(invalid_in());
                }
                if list.len() > MAX_IN_OPERANDS {
                    return Err(PartiqlError::invalid(
                        messages::expression::Invalid::TooManyInOperands(list.len()).to_string(),
                    ));
                }
                negate(Condition::In { value, list }, *negated)
            }
            Expr::Is { value, ty, negated } => {
                let Expr::Path(p) = value.as_ref() else {
                    return Err(PartiqlError::invalid(messages::partiql::IS_OPERAND));
                };
                let p = path(p);
                let typed = |t: AttrType| Condition::AttributeType(p.clone(), t);
                // The parser only lets through names it knows as types.
                let canonical = reserved::type_name(&ty.replace(' ', "_")).map_or("", |(name, _)| name);
                match canonical {
                    "missing" if *negated => Condition::AttributeExists(p),
                    "missing" => Condition::AttributeNotExists(p),
                    "null" if *negated => Condition::And(
                        Box::new(Condition::AttributeExists(p.clone())),
                        Box::new(Condition::Not(Box::new(typed(AttrType::Null)))),
                    ),
                    "null" => typed(AttrType::Null),
                    other => {
                        let t = match other {
                            "boolean" => AttrType::Bool,
                            "string" | "character" | "character_varying" | "symbol" => AttrType::S,
                            "numeric" | "decimal" | "integer" | "smallint" | "float" | "real" | "double_precision" => {
                                AttrType::N
                            }
                            "blob" => AttrType::B,
                            "struct" | "tuple" => AttrType::M,
                            "list" => AttrType::L,
                            _ => {
                                return Err(PartiqlError::invalid(messages::partiql::is_type(ty)));
                            }
                        };
                        negate(typed(t), *negated)
                    }
                }
            }
            Expr::Call { name, args, span } => {
                if !is_bool_function(name) {
                    if name.eq_ignore_ascii_case("size") {
                        return Err(PartiqlError::invalid(
                            messages::expression::Invalid::MisusedFunction("size".into()).to_string(),
                        ));
                    }
                    return Err(PartiqlError::invalid(messages::partiql::unrecognized_function_at(
                        name.to_ascii_lowercase(),
                        span,
                    )));
                }
                self.bool_function(&name.to_ascii_lowercase(), args)?
            }
            _ => {
                return Err(PartiqlError::invalid(messages::partiql::WHERE_NOT_BOOLEAN));
            }
        })
    }

    fn bool_function(&self, name: &str, args: &[Expr]) -> Result<Condition> {
        let path_arg = |e: &Expr| match e {
            Expr::Path(p) => Ok(path(p)),
            _ => Err(requires_path(name)),
        };
        Ok(match name {
            "attribute_exists" | "attribute_not_exists" => {
                let [arg] = args else { return Err(operand_count(name, args.len())) };
                let p = path_arg(arg)?;
                if name == "attribute_exists" {
                    Condition::AttributeExists(p)
                } else {
                    Condition::AttributeNotExists(p)
                }
            }
            "attribute_type" => {
                let [p, t] = args else { return Err(operand_count(name, args.len())) };
                let p = path_arg(p)?;
                match self.operand(t)? {
                    Operand::Value(Value::S(s)) => match AttrType::parse(&s) {
                        Some(t) => Condition::AttributeType(p, t),
                        None => {
                            return Err(ExprError::Invalid {
                                kind: ExprKind::Condition,
                                reason: Invalid::AttributeTypeName(s),
                            }
                            .into());
                        }
                    },
                    Operand::Value(v) => return Err(operand_type(name, &v)),
                    _ => {
                        return Err(PartiqlError::invalid(
                            messages::expression::Invalid::OperandType {
                                function: name.into(),
                                operand_type: "PATH".into(),
                            }
                            .to_string(),
                        ));
                    }
                }
            }
            "begins_with" | "contains" => {
                let [a, b] = args else { return Err(operand_count(name, args.len())) };
                let (a, b) = (self.operand(a)?, self.operand(b)?);
                if name == "begins_with" {
                    for o in [&a, &b] {
                        if let Operand::Value(v) = o
                            && !matches!(v, Value::S(_) | Value::B(_))
                        {
                            return Err(operand_type(name, v));
                        }
                    }
                    Condition::BeginsWith(a, b)
                } else {
                    Condition::Contains(a, b)
                }
            }
            _ => return Err(PartiqlError::invalid(messages::partiql::unrecognized_function(name))),
        })
    }

    fn compare(&self, op: Comparator, left: &Expr, right: &Expr) -> Result<Condition> {
        if [left, right].iter().any(|e| matches!(e, Expr::Lit(Literal::Missing))) {
            return Err(PartiqlError::invalid(messages::partiql::MISSING_COMPARED));
        }
        // `attribute_exists(a) = true` and the like.
        for (call, other) in [(left, right), (right, left)] {
            if let (Expr::Call { name, .. }, Expr::Lit(Literal::Bool(b))) = (call, other)
                && is_bool_function(name)
                && matches!(op, Comparator::Eq | Comparator::Ne)
            {
                let cond = self.condition(call)?;
                return Ok(negate(cond, (op == Comparator::Eq) != *b));
            }
        }
        let left = self.operand(left)?;
        let right = self.operand(right)?;
        if !matches!(op, Comparator::Eq | Comparator::Ne) {
            check_ordered(op.as_str(), &left)?;
            check_ordered(op.as_str(), &right)?;
        }
        Ok(Condition::Compare { op, left, right })
    }

    /// Something a condition compares: a path, `size(...)` or a constant.
    fn operand(&self, e: &Expr) -> Result<Operand> {
        Ok(match e {
            Expr::Path(p) => Operand::Path(path(p)),
            Expr::Call { name, args, span } => {
                if name.eq_ignore_ascii_case("size") {
                    let [arg] = args.as_slice() else { return Err(operand_count("size", args.len())) };
                    return Ok(Operand::Size(Box::new(self.operand(arg)?)));
                }
                if is_bool_function(name) {
                    return Err(PartiqlError::invalid(
                        messages::expression::Invalid::MisusedFunction(name.to_ascii_lowercase()).to_string(),
                    ));
                }
                return Err(PartiqlError::invalid(messages::partiql::unrecognized_function_at(
                    name.to_ascii_lowercase(),
                    span,
                )));
            }
            Expr::Arith { op, .. } => {
                return Err(PartiqlError::invalid(messages::partiql::unsupported_condition_operator(op.as_str())));
            }
            Expr::Neg(_) => {
                return Err(PartiqlError::invalid(messages::partiql::unsupported_condition_operator("-")));
            }
            Expr::Lit(_) | Expr::Param(_) | Expr::List(_) | Expr::Struct(_) | Expr::Bag(_) => {
                Operand::Value(self.value(e, "root", 0)?)
            }
            Expr::Star => return Err(PartiqlError::invalid(messages::partiql::UNEXPECTED_PATH_COMPONENT)),
            _ => return Err(PartiqlError::invalid(messages::partiql::AND_OR_OPERANDS)),
        })
    }

    /// The actions of an `UPDATE`, in the order written.
    pub(crate) fn update(&self, actions: &[Action]) -> Result<UpdateExpr> {
        let mut out = Vec::with_capacity(actions.len());
        for action in actions {
            out.push(match action {
                Action::Remove(p) => UpdateAction::Remove(path(p)),
                Action::Set(target, value) => self.set_action(target, value)?,
            });
        }
        // Two actions on overlapping paths are refused, as in UpdateExpression.
        for (i, a) in out.iter().enumerate() {
            for b in &out[..i] {
                let (x, y) = (b.target(), a.target());
                let (short, long) = if x.len() <= y.len() { (x, y) } else { (y, x) };
                if short.top() == long.top() && long.rest().starts_with(short.rest()) {
                    return Err(ExprError::Invalid {
                        kind: ExprKind::Update,
                        reason: Invalid::OverlappingPaths { one: x.bracketed(), two: y.bracketed() },
                    }
                    .into());
                }
            }
        }
        Ok(UpdateExpr { actions: out })
    }

    fn set_action(&self, target: &SynPath, value: &Expr) -> Result<UpdateAction> {
        let target_path = path(target);
        if let Expr::Call { name, args, span } = value {
            let upper = name.to_ascii_uppercase();
            if upper == "SET_ADD" || upper == "SET_DELETE" {
                let op = &upper[4..];
                let [first, second] = args.as_slice() else {
                    return Err(PartiqlError::invalid(messages::partiql::set_function_arguments(op, span)));
                };
                let first_span = match first {
                    Expr::Path(p) if path(p) == target_path => p.span,
                    _ => {
                        return Err(PartiqlError::invalid(messages::partiql::set_function_target(op, span)));
                    }
                };
                let not_a_set = || PartiqlError::invalid(messages::partiql::set_function_not_a_set(op, first_span));
                if !matches!(second, Expr::Bag(_) | Expr::Param(_)) {
                    return Err(not_a_set());
                }
                let set = self.value(second, "root", 0)?;
                if !matches!(set, Value::Ss(_) | Value::Ns(_) | Value::Bs(_)) {
                    return Err(not_a_set());
                }
                return Ok(if op == "ADD" {
                    UpdateAction::Add(target_path, set)
                } else {
                    UpdateAction::Delete(target_path, set)
                });
            }
        }
        let set = match value {
            Expr::Arith { op: op @ (ArithOp::Plus | ArithOp::Minus), left, right } => {
                let (a, b) = (self.update_operand(left)?, self.update_operand(right)?);
                if *op == ArithOp::Plus { SetValue::Plus(a, b) } else { SetValue::Minus(a, b) }
            }
            other => SetValue::Operand(self.update_operand(other)?),
        };
        Ok(UpdateAction::Set(target_path, set))
    }

    fn update_operand(&self, e: &Expr) -> Result<UpdateOperand> {
        Ok(match e {
            Expr::Path(p) => UpdateOperand::Path(path(p)),
            Expr::Call { name, args, span } => match name.to_ascii_lowercase().as_str() {
                "list_append" => {
                    let [a, b] = args.as_slice() else { return Err(operand_count("list_append", args.len())) };
                    UpdateOperand::ListAppend(Box::new(self.update_operand(a)?), Box::new(self.update_operand(b)?))
                }
                "if_not_exists" => {
                    let [p, v] = args.as_slice() else { return Err(operand_count("if_not_exists", args.len())) };
                    let Expr::Path(p) = p else { return Err(requires_path("if_not_exists")) };
                    UpdateOperand::IfNotExists(path(p), Box::new(self.update_operand(v)?))
                }
                lower => {
                    return Err(PartiqlError::invalid(messages::partiql::unrecognized_function_at(lower, span)));
                }
            },
            Expr::Arith { op, .. } => {
                return Err(PartiqlError::invalid(messages::partiql::unsupported_update_operator(op.as_str())));
            }
            Expr::Is { .. } => return Err(PartiqlError::invalid(messages::partiql::IS_IN_UPDATE)),
            Expr::Lit(_) | Expr::Param(_) | Expr::List(_) | Expr::Struct(_) | Expr::Bag(_) => {
                UpdateOperand::Value(self.value(e, "root", 0)?)
            }
            _ => return Err(PartiqlError::invalid(messages::partiql::unsupported_update_operator("expression"))),
        })
    }
}

/// `parts` joined by `AND` (or `OR`) as a balanced tree; `None` when empty.
pub(crate) fn balanced(mut parts: Vec<Condition>, and: bool) -> Option<Condition> {
    if parts.len() <= 1 {
        return parts.pop();
    }
    let right = parts.split_off(parts.len() / 2);
    let (l, r) = (balanced(parts, and)?, balanced(right, and)?);
    Some(if and { Condition::And(Box::new(l), Box::new(r)) } else { Condition::Or(Box::new(l), Box::new(r)) })
}

fn negate(c: Condition, negated: bool) -> Condition {
    if negated { Condition::Not(Box::new(c)) } else { c }
}

fn invalid_in() -> PartiqlError {
    PartiqlError::invalid(messages::partiql::IN_OPERANDS)
}
