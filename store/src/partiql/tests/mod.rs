//! Table-driven tests of the PartiQL parser and planner, and hostile input.

mod hostile;
mod parse;
mod plan;

use super::ast::{Action, Expr, Literal, Op, Select, Statement, SynPath};

fn path(p: &SynPath) -> String {
    p.to_string()
}

fn list(items: &[Expr]) -> String {
    items.iter().map(render_expr).collect::<Vec<_>>().join(" ")
}

/// An expression as an s-expression.
pub(super) fn render_expr(e: &Expr) -> String {
    match e {
        Expr::Path(p) => path(p),
        Expr::Lit(Literal::Str(s)) => format!("'{s}'"),
        Expr::Lit(Literal::Num(n)) => n.clone(),
        Expr::Lit(Literal::Bool(b)) => b.to_string(),
        Expr::Lit(Literal::Null) => "NULL".into(),
        Expr::Lit(Literal::Missing) => "MISSING".into(),
        Expr::Param(i) => format!("?{i}"),
        Expr::List(items) => format!("[{}]", list(items)),
        Expr::Bag(items) => format!("<<{}>>", list(items)),
        Expr::Struct(fields) => {
            let f: Vec<String> =
                fields.iter().map(|(k, v)| format!("{}: {}", render_expr(k), render_expr(v))).collect();
            format!("{{{}}}", f.join(", "))
        }
        Expr::Star => "*".into(),
        Expr::Call { name, args, span } => format!("({name}@{span} {})", list(args)),
        Expr::Cmp { op, left, right } => format!("({} {} {})", op.as_str(), render_expr(left), render_expr(right)),
        Expr::Between { value, low, high, negated } => format!(
            "({}between {} {} {})",
            if *negated { "not-" } else { "" },
            render_expr(value),
            render_expr(low),
            render_expr(high)
        ),
        Expr::In { value, list, negated } => {
            format!("({}in {} {})", if *negated { "not-" } else { "" }, render_expr(value), render_expr(list))
        }
        Expr::Is { value, ty, negated } => {
            format!("(is{} {} {ty})", if *negated { "-not" } else { "" }, render_expr(value))
        }
        Expr::And(a, b) => format!("(and {} {})", render_expr(a), render_expr(b)),
        Expr::Or(a, b) => format!("(or {} {})", render_expr(a), render_expr(b)),
        Expr::Not(a) => format!("(not {})", render_expr(a)),
        Expr::Arith { op, left, right } => format!("({} {} {})", op.as_str(), render_expr(left), render_expr(right)),
        Expr::Neg(a) => format!("(neg {})", render_expr(a)),
    }
}

fn render_select(s: &Select) -> String {
    let mut out = format!(
        "select {} from {}{}",
        s.projection.as_ref().map_or("*".to_string(), |p| format!("[{}]", list(p))),
        s.table,
        s.index.as_ref().map_or(String::new(), |i| format!(".{i}"))
    );
    if let Some(w) = &s.filter {
        out.push_str(&format!(" where {}", render_expr(w)));
    }
    for k in &s.order_by {
        out.push_str(&format!(" order {}{}", k.name, if k.descending { " desc" } else { "" }));
    }
    out
}

/// A statement as one line.
pub(super) fn render(s: &Statement) -> String {
    let body = match &s.op {
        Op::Select(sel) => render_select(sel),
        Op::Exists(sel) => format!("exists ({})", render_select(sel)),
        Op::Insert { table, value } => format!("insert {table} {}", render_expr(value)),
        Op::Update { table, actions, filter, returning } => {
            let acts: Vec<String> = actions
                .iter()
                .map(|a| match a {
                    Action::Set(p, v) => format!("(set {} {})", path(p), render_expr(v)),
                    Action::Remove(p) => format!("(remove {})", path(p)),
                })
                .collect();
            format!(
                "update {table} {} where {}{}",
                acts.join(" "),
                render_expr(filter),
                returning.map_or(String::new(), |r| format!(" returning {}", r.as_str()))
            )
        }
        Op::Delete { table, filter, returning } => format!(
            "delete {table} where {}{}",
            render_expr(filter),
            returning.map_or(String::new(), |r| format!(" returning {}", r.as_str()))
        ),
    };
    if s.params > 0 { format!("{body} ; params {}", s.params) } else { body }
}
