//! Compiling user CEL expressions: parsing (with the position of a syntax error), bounds on size and nesting, and
//! a static pass that rejects what would certainly fail on every object: undeclared identifiers and functions,
//! operators applied to operands of the wrong literal type, a validation that cannot be a bool.
//!
//! The `cel` crate has no type checker, so the static pass knows the types of literals and of function results
//! only; everything read from `object`, `namespaceObject` or `params` is dynamic and checked at evaluation.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use cel::IdedExpr;
use cel::common::ast::{EntryExpr, Expr, LiteralValue, operators};
use cel::parser::Parser;

use super::functions::{FunctionKind, function_kind};

/// Longest accepted expression, in bytes (Kubernetes validation rules have a similar bound).
pub const MAX_EXPRESSION_LENGTH: usize = 5_000;
/// Deepest accepted parse nesting.
pub const MAX_NESTING: u16 = 32;
/// Most AST nodes in one expression.
pub const MAX_NODES: usize = 1_000;

/// What an expression must produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Expecting {
    /// A validation or condition: `bool`.
    Bool,
    /// A `messageExpression`: `string`.
    String,
    /// A variable: anything.
    Any,
}

/// Why an expression cannot be compiled, with where it is and where in it the problem is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message} at line {line}, column {column} in `{expression}`")]
pub struct CelError {
    /// The field holding the expression, e.g. `spec.check.cel.validations[1].expression`.
    pub field: String,
    /// 1-based line in the expression.
    pub line: usize,
    /// 1-based column in the expression.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// The expression (shortened when long).
    pub expression: String,
}

/// A parsed, checked expression.
#[derive(Debug)]
pub struct Compiled {
    /// The expression's AST.
    pub ast: IdedExpr,
    /// The `variables.<name>` it reads.
    pub variables: BTreeSet<String>,
}

/// The static type the checker knows; `Dyn` when it depends on the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Bool,
    Int,
    UInt,
    Double,
    String,
    Bytes,
    List,
    Map,
    Null,
    Dyn,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Bool => "bool",
            Ty::Int => "int",
            Ty::UInt => "uint",
            Ty::Double => "double",
            Ty::String => "string",
            Ty::Bytes => "bytes",
            Ty::List => "list",
            Ty::Map => "map",
            Ty::Null => "null",
            Ty::Dyn => "dyn",
        }
    }
    fn numeric(self) -> bool {
        matches!(self, Ty::Int | Ty::UInt | Ty::Double)
    }
    fn is(self, other: Ty) -> bool {
        self == Ty::Dyn || self == other
    }
}

/// A problem found by the static pass; `near` is the token to point at.
struct Problem {
    message: String,
    near: String,
}

fn problem(message: impl Into<String>, near: impl Into<String>) -> Problem {
    Problem {
        message: message.into(),
        near: near.into(),
    }
}

/// The identifiers every expression may use, besides comprehension variables.
const ROOTS: &[&str] = &["object", "namespaceObject", "params", "variables"];
/// ValidatingAdmissionPolicy identifiers that make no sense for stored objects.
const ADMISSION_ONLY: &[&str] = &["oldObject", "request", "authorizer", "paramsRef"];

/// Compiles `source` (held in `field`). `variables` are the variable names it may read (those declared before
/// it); `roots` restricts the top-level identifiers (None: all of [`ROOTS`]).
pub fn compile(
    source: &str,
    field: &str,
    expecting: Expecting,
    variables: &[String],
    roots: Option<&[&str]>,
) -> Result<Arc<Compiled>, CelError> {
    let key = (
        source.to_string(),
        field.to_string(),
        expecting,
        variables.to_vec(),
        roots.map(|r| r.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
    );
    type Key = (String, String, Expecting, Vec<String>, Option<Vec<String>>);
    type Cache = Mutex<HashMap<Key, Result<Arc<Compiled>, CelError>>>;
    // Controls are validated on every change they may be affected by: compile each expression once.
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return hit;
    }
    let result = compile_uncached(source, field, expecting, variables, roots);
    if let Ok(mut c) = cache.lock() {
        if c.len() >= 4_096 {
            c.clear();
        }
        c.insert(key, result.clone());
    }
    result
}

fn compile_uncached(
    source: &str,
    field: &str,
    expecting: Expecting,
    variables: &[String],
    roots: Option<&[&str]>,
) -> Result<Arc<Compiled>, CelError> {
    let error = |line: usize, column: usize, message: String| CelError {
        field: field.to_string(),
        line,
        column,
        message,
        expression: shorten(source),
    };
    if source.len() > MAX_EXPRESSION_LENGTH {
        return Err(error(
            1,
            1,
            format!(
                "the expression is {} bytes long; the limit is {MAX_EXPRESSION_LENGTH}",
                source.len()
            ),
        ));
    }
    if source.trim().is_empty() {
        return Err(error(1, 1, "the expression is empty".into()));
    }
    // The generated parser recurses per nesting level before any limit of its own applies: bound it first.
    if let Some((line, column)) = too_deep(source) {
        return Err(error(
            line,
            column,
            format!("the expression nests brackets more than {MAX_NESTING} levels deep"),
        ));
    }
    let parsed =
        std::panic::catch_unwind(|| Parser::new().max_recursion_depth(MAX_NESTING).parse(source));
    let ast = match parsed {
        Ok(Ok(ast)) => ast,
        Ok(Err(errors)) => {
            let first = errors.errors.first();
            let (line, column) = first
                .map(|e| (e.pos.0.max(1) as usize, e.pos.1.max(0) as usize + 1))
                .unwrap_or((1, 1));
            let message = first
                .map(|e| e.msg.clone())
                .unwrap_or_else(|| "syntax error".into());
            return Err(error(line, column, format!("syntax error: {message}")));
        }
        Err(_) => return Err(error(1, 1, "the expression cannot be parsed".into())),
    };
    let nodes = count_nodes(&ast);
    if nodes > MAX_NODES {
        return Err(error(
            1,
            1,
            format!(
                "the expression has {nodes} nodes; the limit is {MAX_NODES}: split it into variables"
            ),
        ));
    }
    let mut checker = Checker {
        roots: roots.unwrap_or(ROOTS),
        declared: variables,
        locals: Vec::new(),
        used: BTreeSet::new(),
    };
    let ty = checker.infer(&ast).map_err(|p| {
        let (line, column) = locate(source, &p.near);
        error(line, column, p.message)
    })?;
    let wrong = match expecting {
        Expecting::Bool if !ty.is(Ty::Bool) => Some("bool"),
        Expecting::String if !ty.is(Ty::String) => Some("string"),
        _ => None,
    };
    if let Some(want) = wrong {
        return Err(error(
            1,
            1,
            format!(
                "type error: the expression must evaluate to {want}, but it evaluates to {}",
                ty.name()
            ),
        ));
    }
    Ok(Arc::new(Compiled {
        ast,
        variables: checker.used,
    }))
}

fn shorten(source: &str) -> String {
    const MAX: usize = 200;
    if source.len() <= MAX {
        return source.to_string();
    }
    let mut end = MAX;
    while !source.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &source[..end])
}

/// Line and column (1-based) of the first occurrence of `token` outside string literals; 1:1 when absent.
fn locate(source: &str, token: &str) -> (usize, usize) {
    if token.is_empty() {
        return (1, 1);
    }
    let bytes = source.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) => {
                if b == b'\\' {
                    i += 1;
                } else if b == q {
                    quote = None;
                }
            }
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None => {
                let word = token.chars().all(|c| c.is_alphanumeric() || c == '_');
                let before_ok = !word || i == 0 || !is_ident(bytes[i - 1]);
                let after = i + token.len();
                let after_ok = !word || after >= bytes.len() || !is_ident(bytes[after]);
                if source[i..].starts_with(token) && before_ok && after_ok {
                    let line = source[..i].matches('\n').count() + 1;
                    let column = i - source[..i].rfind('\n').map(|p| p + 1).unwrap_or(0) + 1;
                    return (line, column);
                }
            }
        }
        i += 1;
    }
    (1, 1)
}

/// Where bracket nesting (outside string literals) first exceeds [`MAX_NESTING`].
fn too_deep(source: &str) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let (mut line, mut column) = (1usize, 0usize);
    for c in source.chars() {
        column += 1;
        if c == '\n' {
            line += 1;
            column = 0;
        }
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_NESTING as usize {
                    return Some((line, column));
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// AST nodes, for the size bound.
pub fn count_nodes(e: &IdedExpr) -> usize {
    1 + match &e.expr {
        Expr::Call(c) => {
            c.target.as_deref().map(count_nodes).unwrap_or(0)
                + c.args.iter().map(count_nodes).sum::<usize>()
        }
        Expr::Comprehension(c) => {
            count_nodes(&c.iter_range)
                + count_nodes(&c.accu_init)
                + count_nodes(&c.loop_cond)
                + count_nodes(&c.loop_step)
                + count_nodes(&c.result)
        }
        Expr::List(l) => l.elements.iter().map(count_nodes).sum(),
        Expr::Map(m) => m
            .entries
            .iter()
            .map(|en| match &en.expr {
                EntryExpr::MapEntry(me) => count_nodes(&me.key) + count_nodes(&me.value),
                EntryExpr::StructField(sf) => count_nodes(&sf.value),
            })
            .sum(),
        Expr::Select(s) => count_nodes(&s.operand),
        Expr::Struct(s) => s.entries.len(),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => 0,
    }
}

struct Checker<'a> {
    roots: &'a [&'a str],
    declared: &'a [String],
    locals: Vec<(String, Ty)>,
    used: BTreeSet<String>,
}

fn operator_symbol(name: &str) -> &str {
    name.trim_matches('_').trim_start_matches('@')
}

impl Checker<'_> {
    fn infer(&mut self, e: &IdedExpr) -> Result<Ty, Problem> {
        match &e.expr {
            Expr::Literal(l) => Ok(match l {
                LiteralValue::Boolean(_) => Ty::Bool,
                LiteralValue::Bytes(_) => Ty::Bytes,
                LiteralValue::Double(_) => Ty::Double,
                LiteralValue::Int(_) => Ty::Int,
                LiteralValue::Null => Ty::Null,
                LiteralValue::String(_) => Ty::String,
                LiteralValue::UInt(_) => Ty::UInt,
            }),
            Expr::Ident(name) => {
                if let Some((_, ty)) = self.locals.iter().rev().find(|(n, _)| n == name) {
                    return Ok(*ty);
                }
                if self.roots.contains(&name.as_str()) {
                    if name == "variables" {
                        // Indexing `variables` dynamically may read any of them.
                        self.used.extend(self.declared.iter().cloned());
                    }
                    return Ok(Ty::Dyn);
                }
                if ADMISSION_ONLY.contains(&name.as_str()) {
                    return Err(problem(
                        format!(
                            "undeclared reference to '{name}': controls evaluate stored objects, not admission requests; use object, namespaceObject, params and variables"
                        ),
                        name.clone(),
                    ));
                }
                Err(problem(
                    format!(
                        "undeclared reference to '{name}' (available: {})",
                        self.roots.join(", ")
                    ),
                    name.clone(),
                ))
            }
            Expr::Select(s) => {
                if let Expr::Ident(root) = &s.operand.expr
                    && root == "variables"
                    && self.roots.contains(&"variables")
                    && !self.locals.iter().any(|(n, _)| n == "variables")
                {
                    if !self.declared.contains(&s.field) {
                        return Err(problem(
                            format!(
                                "undeclared reference to 'variables.{}': declare it in spec.check.cel.variables before the expressions that use it",
                                s.field
                            ),
                            s.field.clone(),
                        ));
                    }
                    self.used.insert(s.field.clone());
                    return Ok(if s.test { Ty::Bool } else { Ty::Dyn });
                }
                let operand = self.infer(&s.operand)?;
                if !matches!(operand, Ty::Dyn | Ty::Map) {
                    return Err(problem(
                        format!(
                            "type error: a {} has no field '{}'",
                            operand.name(),
                            s.field
                        ),
                        s.field.clone(),
                    ));
                }
                Ok(if s.test { Ty::Bool } else { Ty::Dyn })
            }
            Expr::List(l) => {
                for el in &l.elements {
                    self.infer(el)?;
                }
                Ok(Ty::List)
            }
            Expr::Map(m) => {
                for en in &m.entries {
                    match &en.expr {
                        EntryExpr::MapEntry(me) => {
                            self.infer(&me.key)?;
                            self.infer(&me.value)?;
                        }
                        EntryExpr::StructField(sf) => {
                            self.infer(&sf.value)?;
                        }
                    }
                }
                Ok(Ty::Map)
            }
            Expr::Struct(s) => Err(problem(
                format!(
                    "message construction ({}{{...}}) is not supported; use a map literal",
                    s.type_name
                ),
                s.type_name.clone(),
            )),
            Expr::Unspecified => Err(problem("incomplete expression", "")),
            Expr::Comprehension(c) => {
                let range = self.infer(&c.iter_range)?;
                if !matches!(range, Ty::Dyn | Ty::List | Ty::Map) {
                    return Err(problem(
                        format!(
                            "type error: a macro over '{}' needs a list or map, not a {}",
                            c.iter_var,
                            range.name()
                        ),
                        c.iter_var.clone(),
                    ));
                }
                let accu = self.infer(&c.accu_init)?;
                let depth = self.locals.len();
                self.locals.push((c.accu_var.clone(), accu));
                self.locals.push((c.iter_var.clone(), Ty::Dyn));
                if let Some(v2) = &c.iter_var2 {
                    self.locals.push((v2.clone(), Ty::Dyn));
                }
                let checked = (|| {
                    self.infer(&c.loop_cond)?;
                    self.infer(&c.loop_step)?;
                    self.infer(&c.result)
                })();
                self.locals.truncate(depth);
                checked
            }
            Expr::Call(call) => self.infer_call(call),
        }
    }

    fn infer_call(&mut self, call: &cel::common::ast::CallExpr) -> Result<Ty, Problem> {
        let name = call.func_name.as_str();
        let target = match &call.target {
            Some(t) => Some(self.infer(t)?),
            None => None,
        };
        let args = call
            .args
            .iter()
            .map(|a| self.infer(a))
            .collect::<Result<Vec<_>, _>>()?;
        let symbol = operator_symbol(name);
        let mismatch = |types: &[Ty]| {
            problem(
                format!(
                    "type error: no matching overload for '{symbol}' applied to ({})",
                    types
                        .iter()
                        .map(|t| t.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                symbol.to_string(),
            )
        };
        match name {
            operators::LOGICAL_AND | operators::LOGICAL_OR => {
                if args.iter().any(|t| !t.is(Ty::Bool)) {
                    return Err(mismatch(&args));
                }
                Ok(Ty::Bool)
            }
            operators::LOGICAL_NOT => {
                if args.iter().any(|t| !t.is(Ty::Bool)) {
                    return Err(mismatch(&args));
                }
                Ok(Ty::Bool)
            }
            operators::NOT_STRICTLY_FALSE => Ok(Ty::Bool),
            operators::EQUALS | operators::NOT_EQUALS => Ok(Ty::Bool),
            operators::LESS
            | operators::LESS_EQUALS
            | operators::GREATER
            | operators::GREATER_EQUALS => {
                if let [a, b] = args.as_slice()
                    && *a != Ty::Dyn
                    && *b != Ty::Dyn
                    && !(a == b || (a.numeric() && b.numeric()))
                {
                    return Err(mismatch(&args));
                }
                Ok(Ty::Bool)
            }
            operators::ADD => match args.as_slice() {
                [Ty::Dyn, _] | [_, Ty::Dyn] => Ok(Ty::Dyn),
                [a, b]
                    if a == b
                        && matches!(
                            a,
                            Ty::Int | Ty::UInt | Ty::Double | Ty::String | Ty::Bytes | Ty::List
                        ) =>
                {
                    Ok(*a)
                }
                _ => Err(mismatch(&args)),
            },
            operators::SUBSTRACT | operators::MULTIPLY | operators::DIVIDE | operators::MODULO => {
                match args.as_slice() {
                    [Ty::Dyn, b] if b.is(Ty::Dyn) || b.numeric() => Ok(Ty::Dyn),
                    [a, Ty::Dyn] if a.numeric() => Ok(Ty::Dyn),
                    [a, b] if a == b && a.numeric() => Ok(*a),
                    _ => Err(mismatch(&args)),
                }
            }
            operators::NEGATE => match args.as_slice() {
                [a] if *a == Ty::Dyn || matches!(a, Ty::Int | Ty::Double) => Ok(*a),
                _ => Err(mismatch(&args)),
            },
            operators::CONDITIONAL => match args.as_slice() {
                [c, a, b] => {
                    if !c.is(Ty::Bool) {
                        return Err(mismatch(&args));
                    }
                    Ok(if a == b { *a } else { Ty::Dyn })
                }
                _ => Err(mismatch(&args)),
            },
            operators::INDEX | operators::OPT_INDEX => match args.as_slice() {
                [Ty::Dyn | Ty::List | Ty::Map, _] => Ok(Ty::Dyn),
                _ => Err(mismatch(&args)),
            },
            operators::IN => match args.as_slice() {
                [_, Ty::Dyn | Ty::List | Ty::Map] => Ok(Ty::Bool),
                _ => Err(mismatch(&args)),
            },
            _ => {
                let Some(kind) = function_kind(name) else {
                    return Err(problem(
                        format!("undeclared function '{name}'"),
                        name.to_string(),
                    ));
                };
                let receiver = target.or_else(|| args.first().copied());
                match kind {
                    FunctionKind::StringMethod(ret) => {
                        if let Some(t) = receiver
                            && !t.is(Ty::String)
                        {
                            return Err(problem(
                                format!(
                                    "type error: '{name}' applies to a string, not a {}",
                                    t.name()
                                ),
                                name.to_string(),
                            ));
                        }
                        Ok(ret.into())
                    }
                    FunctionKind::Any(ret) => Ok(ret.into()),
                }
            }
        }
    }
}

/// The result type of a function, as the checker knows it.
#[derive(Clone, Copy, Debug)]
pub enum Returns {
    /// bool
    Bool,
    /// int
    Int,
    /// uint
    UInt,
    /// double
    Double,
    /// string
    String,
    /// bytes
    Bytes,
    /// list
    List,
    /// depends on the data
    Dyn,
}

impl From<Returns> for Ty {
    fn from(r: Returns) -> Ty {
        match r {
            Returns::Bool => Ty::Bool,
            Returns::Int => Ty::Int,
            Returns::UInt => Ty::UInt,
            Returns::Double => Ty::Double,
            Returns::String => Ty::String,
            Returns::Bytes => Ty::Bytes,
            Returns::List => Ty::List,
            Returns::Dyn => Ty::Dyn,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(src: &str) -> Arc<Compiled> {
        compile(src, "f", Expecting::Bool, &["v".to_string()], None)
            .unwrap_or_else(|e| panic!("{src}: {e}"))
    }
    fn err(src: &str) -> CelError {
        compile_uncached(
            src,
            "spec.check.cel.validations[1].expression",
            Expecting::Bool,
            &[],
            None,
        )
        .expect_err(src)
    }

    #[test]
    fn valid_expressions_compile() {
        for src in [
            "object.spec.replicas >= 2",
            "has(object.metadata.labels) && 'team' in object.metadata.labels",
            "object.spec.template.spec.containers.all(c, c.image.startsWith('registry.example.com/'))",
            "object.spec.containers.exists(c, c.name == params.name)",
            "object.spec.x.map(c, c.name).filter(n, n.endsWith('-x')).size() == 0",
            "variables.v == 1 && size(object.metadata.name) < 64",
            "namespaceObject == null || namespaceObject.metadata.name.lowerAscii() != 'x'",
            "object.metadata.name.split('-').join('.').contains('a') ? true : false",
            "object.metadata.name.matches('^[a-z]+$')",
            "[1, 2].exists_one(i, i == 1) && {'a': 1}.a == 1",
        ] {
            ok(src);
        }
        assert_eq!(
            ok("variables.v && object.x").variables,
            BTreeSet::from(["v".to_string()])
        );
    }

    #[test]
    fn syntax_errors_carry_the_position() {
        let e = err("object.spec.replicas >=");
        assert_eq!(e.field, "spec.check.cel.validations[1].expression");
        assert!(e.message.starts_with("syntax error"), "{e}");
        assert_eq!(e.line, 1);
        assert!(e.column >= 20, "{e}");
        let e = err("object.a &&\n  (object.b ==");
        assert_eq!(e.line, 2, "{e}");
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[test]
    fn undeclared_references_and_functions_are_compile_errors() {
        let e = err("objekt.spec.replicas > 1");
        assert!(
            e.message.contains("undeclared reference to 'objekt'"),
            "{e}"
        );
        assert_eq!((e.line, e.column), (1, 1));
        let e = err("object.a == 1 && oldObject.a == 1");
        assert!(e.message.contains("not admission requests"), "{e}");
        assert_eq!(e.column, 18);
        let e = err("object.metadata.name.shout()");
        assert!(e.message.contains("undeclared function 'shout'"), "{e}");
        assert_eq!(e.column, 22);
        let e = err("variables.missing");
        assert!(e.message.contains("variables.missing"), "{e}");
        let e =
            compile_uncached("c == 1", "f", Expecting::Bool, &[], Some(&["object"])).unwrap_err();
        assert!(e.message.contains("available: object"), "{e}");
    }

    #[test]
    fn type_errors_on_literals_are_compile_errors() {
        let e = err("object.spec.replicas + 'two' > 1 || 1 + 'a' == 2");
        assert!(
            e.message
                .contains("no matching overload for '+' applied to (int, string)"),
            "{e}"
        );
        assert!(err("'a' < 1").message.contains("'<'"));
        assert!(err("!'yes'").message.contains("type error"));
        assert!(
            err("(1).startsWith('a')")
                .message
                .contains("applies to a string")
        );
        assert!(
            err("'abc'.name == 'x'")
                .message
                .contains("has no field 'name'")
        );
        assert!(
            err("1.all(x, x > 0)")
                .message
                .contains("needs a list or map")
        );
        // Data-dependent types are checked at evaluation, as for any dynamic value.
        ok("object.spec.replicas + 1");
        let e = err("'text'");
        assert!(
            e.message
                .contains("must evaluate to bool, but it evaluates to string"),
            "{e}"
        );
        let e = compile_uncached("1 + 2", "m", Expecting::String, &[], None).unwrap_err();
        assert!(e.message.contains("must evaluate to string"), "{e}");
        assert!(err("Foo{a: 1}").message.contains("not supported"));
    }

    #[test]
    fn long_expressions_are_rejected() {
        let long = format!("object.a == '{}'", "x".repeat(MAX_EXPRESSION_LENGTH));
        assert!(err(&long).message.contains("bytes long"));
    }

    #[test]
    fn deep_nesting_is_rejected_before_parsing() {
        let deep = format!("{}true{}", "(".repeat(200), ")".repeat(200));
        let e = err(&deep);
        assert!(e.message.contains("nests"), "{e}");
        assert_eq!(e.column, MAX_NESTING as usize + 1);
        let lists = format!("object.a == {}1{}", "[".repeat(40), "]".repeat(40));
        assert!(err(&lists).message.contains("nests"));
        // Brackets inside strings do not count.
        ok(&format!("object.a == '{}'", "(".repeat(100)));
    }

    #[test]
    fn wide_expressions_are_rejected() {
        let wide = (0..250)
            .map(|_| "object.x == 1".to_string())
            .collect::<Vec<_>>()
            .join(" || ");
        let e = err(&wide);
        assert!(e.message.contains("nodes"), "{e}");
    }

    #[test]
    fn locating_skips_string_literals_and_partial_words() {
        assert_eq!(locate("'foo' + foo", "foo"), (1, 9));
        assert_eq!(locate("foobar + foo", "foo"), (1, 10));
        assert_eq!(locate("a\n  b", "b"), (2, 3));
    }
}
