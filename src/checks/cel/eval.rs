//! Evaluating compiled expressions against one object, within a cost bound.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use cel::common::ast::{EntryExpr, Expr};
use cel::{Context, IdedExpr, Value};

use super::compile::Compiled;

/// The most estimated work (AST nodes visited, comprehension iterations multiplied out) for one expression on
/// one object. Above it the object is reported Unknown instead of being evaluated.
pub const MAX_COST_PER_OBJECT: u64 = 1_000_000;

/// Why an expression produced no verdict on an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EvalError {
    /// The evaluation failed (no such key, no matching overload, ...).
    Runtime(String),
    /// The estimated cost exceeds [`MAX_COST_PER_OBJECT`].
    TooCostly(u64),
}

/// The size of the largest list, map or string in `value`: the bound on how often one comprehension iterates.
pub fn largest_collection(value: &serde_json::Value) -> u64 {
    match value {
        serde_json::Value::Array(a) => a
            .iter()
            .map(largest_collection)
            .max()
            .unwrap_or(0)
            .max(a.len() as u64),
        serde_json::Value::Object(m) => m
            .values()
            .map(largest_collection)
            .max()
            .unwrap_or(0)
            .max(m.len() as u64),
        serde_json::Value::String(s) => s.len() as u64,
        _ => 0,
    }
}

/// Worst-case work of `e` when every collection has at most `n` elements: nested comprehensions multiply.
pub fn estimated_cost(e: &IdedExpr, n: u64) -> u64 {
    let n = n.max(1);
    let sum = |items: &mut dyn Iterator<Item = &IdedExpr>| {
        items.fold(0u64, |acc, i| acc.saturating_add(estimated_cost(i, n)))
    };
    1u64.saturating_add(match &e.expr {
        Expr::Call(c) => sum(&mut c.target.as_deref().into_iter().chain(c.args.iter())),
        Expr::Comprehension(c) => {
            let body =
                estimated_cost(&c.loop_cond, n).saturating_add(estimated_cost(&c.loop_step, n));
            estimated_cost(&c.iter_range, n)
                .saturating_add(estimated_cost(&c.accu_init, n))
                .saturating_add(n.saturating_mul(body))
                .saturating_add(estimated_cost(&c.result, n))
        }
        Expr::List(l) => sum(&mut l.elements.iter()),
        Expr::Map(m) => m.entries.iter().fold(0u64, |acc, en| {
            acc.saturating_add(match &en.expr {
                EntryExpr::MapEntry(me) => {
                    estimated_cost(&me.key, n).saturating_add(estimated_cost(&me.value, n))
                }
                EntryExpr::StructField(sf) => estimated_cost(&sf.value, n),
            })
        }),
        Expr::Select(s) => estimated_cost(&s.operand, n),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Struct(_) | Expr::Unspecified => 0,
    })
}

/// Converts JSON to a CEL value.
pub fn to_cel(value: &serde_json::Value) -> Result<Value, String> {
    cel::to_value(value).map_err(|e| e.to_string())
}

/// The inputs of one object's evaluation.
pub struct Activation {
    /// `object`, `namespaceObject`, `params` (absent names are not bound).
    pub roots: Vec<(&'static str, Value)>,
    /// The bound on collection sizes in the inputs.
    pub largest: u64,
}

/// Evaluates `compiled` with `roots` and `variables` bound, after checking its estimated cost. Never panics: a
/// panic inside the interpreter (unsupported constructs) is reported as a runtime error.
pub fn evaluate(
    root: &Context<'_>,
    compiled: &Compiled,
    activation: &Activation,
    variables: &BTreeMap<String, Value>,
    extra_cost: u64,
) -> Result<Value, EvalError> {
    let cost = estimated_cost(&compiled.ast, activation.largest).saturating_add(extra_cost);
    if cost > MAX_COST_PER_OBJECT {
        return Err(EvalError::TooCostly(cost));
    }
    let mut ctx = root.new_inner_scope();
    for (name, value) in &activation.roots {
        ctx.add_variable_from_value(*name, value.clone());
    }
    if !compiled.variables.is_empty() || !variables.is_empty() {
        let map: std::collections::HashMap<String, Value> = variables
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        ctx.add_variable_from_value("variables", map);
    }
    match catch_unwind(AssertUnwindSafe(|| Value::resolve(&compiled.ast, &ctx))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(EvalError::Runtime(e.to_string())),
        Err(_) => Err(EvalError::Runtime(
            "the expression uses a construct the evaluator does not support".into(),
        )),
    }
}

/// A CEL value as a short, readable type name.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::List(_) => "list",
        Value::Map(_) => "map",
        Value::Function(..) => "function",
        Value::Int(_) => "int",
        Value::UInt(_) => "uint",
        Value::Float(_) => "double",
        Value::String(_) => "string",
        Value::Bytes(_) => "bytes",
        Value::Bool(_) => "bool",
        Value::Duration(_) => "duration",
        Value::Timestamp(_) => "timestamp",
        Value::Opaque(_) => "opaque",
        Value::Null => "null",
    }
}

/// The string a message expression produced, if it produced a non-empty one.
pub fn as_message(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(Arc::unwrap_or_clone(s.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::cel::compile::{Expecting, compile};

    #[test]
    fn nested_comprehensions_multiply_the_cost() {
        let flat = compile("object.a.all(x, x > 0)", "f", Expecting::Bool, &[], None).unwrap();
        let nested = compile(
            "object.a.all(x, object.a.all(y, object.a.all(z, x + y + z > 0)))",
            "f",
            Expecting::Bool,
            &[],
            None,
        )
        .unwrap();
        assert!(estimated_cost(&flat.ast, 1_000) < 20_000);
        assert!(estimated_cost(&nested.ast, 1_000) > MAX_COST_PER_OBJECT);
    }

    #[test]
    fn largest_collection_looks_into_nested_values() {
        let v = serde_json::json!({"a": [1, 2, 3], "b": {"c": "abcdef"}});
        assert_eq!(largest_collection(&v), 6);
    }
}
