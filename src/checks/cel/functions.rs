//! The functions CEL controls can call: the `cel` crate's standard ones plus the Kubernetes string extensions
//! users need most (`lowerAscii`, `upperAscii`, `trim`, `replace`, `split`, `join`, `indexOf`, `substring`).

use std::sync::Arc;

use cel::extractors::This;
use cel::{Context, ExecutionError, FunctionContext, Value};

use super::compile::Returns;

/// How the checker types a function.
#[derive(Clone, Copy, Debug)]
pub enum FunctionKind {
    /// A method (or function) on a string.
    StringMethod(Returns),
    /// Any receiver.
    Any(Returns),
}

/// The type of every function an expression may call; `None` for an undeclared function.
pub fn function_kind(name: &str) -> Option<FunctionKind> {
    use FunctionKind::{Any, StringMethod};
    Some(match name {
        "startsWith" | "endsWith" | "matches" => StringMethod(Returns::Bool),
        "lowerAscii" | "upperAscii" | "trim" | "replace" | "substring" => {
            StringMethod(Returns::String)
        }
        "split" => StringMethod(Returns::List),
        "indexOf" | "lastIndexOf" => StringMethod(Returns::Int),
        "contains" => Any(Returns::Bool),
        "size" => Any(Returns::Int),
        "join" | "string" => Any(Returns::String),
        "int" => Any(Returns::Int),
        "uint" => Any(Returns::UInt),
        "double" => Any(Returns::Double),
        "bytes" => Any(Returns::Bytes),
        "max" | "min" | "timestamp" | "duration" => Any(Returns::Dyn),
        "getFullYear" | "getMonth" | "getDayOfYear" | "getDayOfMonth" | "getDate"
        | "getDayOfWeek" | "getHours" | "getMinutes" | "getSeconds" | "getMilliseconds" => {
            Any(Returns::Int)
        }
        _ => return None,
    })
}

fn lower_ascii(This(this): This<Arc<String>>) -> String {
    this.to_ascii_lowercase()
}

fn upper_ascii(This(this): This<Arc<String>>) -> String {
    this.to_ascii_uppercase()
}

fn trim(This(this): This<Arc<String>>) -> String {
    this.trim().to_string()
}

fn replace(This(this): This<Arc<String>>, from: Arc<String>, to: Arc<String>) -> String {
    this.replace(from.as_str(), to.as_str())
}

fn split(This(this): This<Arc<String>>, separator: Arc<String>) -> Result<Value, ExecutionError> {
    let parts: Vec<Value> = this
        .split(separator.as_str())
        .map(|p| Value::String(Arc::new(p.to_string())))
        .collect();
    Ok(Value::List(Arc::new(parts)))
}

fn join(ftx: &FunctionContext, This(this): This<Arc<Vec<Value>>>) -> Result<Value, ExecutionError> {
    let separator = match ftx.args.len() {
        0 => String::new(),
        _ => match ftx.resolve(ftx.args[0].clone())? {
            Value::String(s) => s.to_string(),
            other => {
                return Err(ftx.error(format!("join separator must be a string, not {other:?}")));
            }
        },
    };
    let mut parts = Vec::with_capacity(this.len());
    for v in this.iter() {
        match v {
            Value::String(s) => parts.push(s.as_str()),
            other => {
                return Err(ftx.error(format!("join needs a list of strings; found {other:?}")));
            }
        }
    }
    Ok(Value::String(Arc::new(parts.join(&separator))))
}

fn index_of(This(this): This<Arc<String>>, needle: Arc<String>) -> i64 {
    char_index(&this, this.find(needle.as_str()))
}

fn last_index_of(This(this): This<Arc<String>>, needle: Arc<String>) -> i64 {
    char_index(&this, this.rfind(needle.as_str()))
}

/// CEL indexes strings by code point, not by byte.
fn char_index(s: &str, byte: Option<usize>) -> i64 {
    match byte {
        Some(b) => s[..b].chars().count() as i64,
        None => -1,
    }
}

fn substring(
    ftx: &FunctionContext,
    This(this): This<Arc<String>>,
) -> Result<Value, ExecutionError> {
    let index = |i: usize| -> Result<Option<i64>, ExecutionError> {
        if ftx.args.len() <= i {
            return Ok(None);
        }
        match ftx.resolve(ftx.args[i].clone())? {
            Value::Int(n) => Ok(Some(n)),
            other => Err(ftx.error(format!("substring index must be an int, not {other:?}"))),
        }
    };
    let chars: Vec<char> = this.chars().collect();
    let start = index(0)?.unwrap_or(0);
    let end = index(1)?.unwrap_or(chars.len() as i64);
    if start < 0 || end < start || end > chars.len() as i64 {
        return Err(ftx.error(format!(
            "substring({start}, {end}) is out of range for a string of length {}",
            chars.len()
        )));
    }
    Ok(Value::String(Arc::new(
        chars[start as usize..end as usize].iter().collect(),
    )))
}

/// A context with the standard functions and the extensions.
pub fn root_context() -> Context<'static> {
    let mut ctx = Context::default();
    ctx.add_function("lowerAscii", lower_ascii);
    ctx.add_function("upperAscii", upper_ascii);
    ctx.add_function("trim", trim);
    ctx.add_function("replace", replace);
    ctx.add_function("split", split);
    ctx.add_function("join", join);
    ctx.add_function("indexOf", index_of);
    ctx.add_function("lastIndexOf", last_index_of);
    ctx.add_function("substring", substring);
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(src: &str) -> Value {
        let ast = cel::parser::Parser::new().parse(src).unwrap();
        Value::resolve(&ast, &root_context()).unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    fn s(v: &str) -> Value {
        Value::String(Arc::new(v.to_string()))
    }

    #[test]
    fn string_extensions() {
        assert_eq!(eval("'AbC'.lowerAscii()"), s("abc"));
        assert_eq!(eval("'AbC'.upperAscii()"), s("ABC"));
        assert_eq!(eval("'  x '.trim()"), s("x"));
        assert_eq!(eval("'a-b-c'.replace('-', '.')"), s("a.b.c"));
        assert_eq!(eval("'a,b'.split(',')"), eval("['a', 'b']"));
        assert_eq!(eval("['a', 'b'].join('/')"), s("a/b"));
        assert_eq!(eval("['a', 'b'].join()"), s("ab"));
        assert_eq!(eval("'héllo'.indexOf('l')"), Value::Int(2));
        assert_eq!(eval("'hello'.lastIndexOf('l')"), Value::Int(3));
        assert_eq!(eval("'hello'.indexOf('z')"), Value::Int(-1));
        assert_eq!(eval("'hello'.substring(1, 3)"), s("el"));
        assert_eq!(eval("'hello'.substring(3)"), s("lo"));
    }

    #[test]
    fn standard_functions_are_present() {
        assert_eq!(
            eval("'abc'.startsWith('a') && 'abc'.endsWith('c')"),
            Value::Bool(true)
        );
        assert_eq!(eval("'abc'.contains('b')"), Value::Bool(true));
        assert_eq!(eval("'abc'.matches('^a.c$')"), Value::Bool(true));
        assert_eq!(
            eval("[1, 2, 3].filter(x, x > 1).map(x, x * 2)"),
            eval("[4, 6]")
        );
        assert_eq!(
            eval("[1, 2].all(x, x > 0) && [1, 2].exists(x, x == 2)"),
            Value::Bool(true)
        );
        assert_eq!(eval("size('abc')"), Value::Int(3));
    }

    #[test]
    fn extension_errors_are_errors_not_panics() {
        let ast = cel::parser::Parser::new().parse("[1].join(',')").unwrap();
        assert!(Value::resolve(&ast, &root_context()).is_err());
        let ast = cel::parser::Parser::new()
            .parse("'abc'.substring(2, 9)")
            .unwrap();
        let e = Value::resolve(&ast, &root_context()).unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
    }

    #[test]
    fn every_registered_extension_is_declared() {
        for f in [
            "lowerAscii",
            "upperAscii",
            "trim",
            "replace",
            "split",
            "join",
            "indexOf",
            "lastIndexOf",
            "substring",
        ] {
            assert!(function_kind(f).is_some(), "{f}");
        }
    }
}
