//! Template variables: `%name%` tokens and one-pass substitution (SPEC.md §6, POLICY.md 1).

/// A piece of a template field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token<'a> {
    Literal(&'a str),
    /// A `%name%` variable (the name without the percent signs).
    Var(&'a str),
}

/// Why a field's variable syntax is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VarSyntaxError {
    #[error("a '%' at offset {0} has no closing '%'")]
    Unclosed(usize),
    #[error("variable name {0:?} may only hold A-Z, a-z, 0-9, '-' and '_'")]
    BadName(String),
    #[error("'%%' (an empty variable name) at offset {0}")]
    Empty(usize),
}

/// True for the characters of a `variable-name`.
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Splits a field into literals and variables.
pub fn tokens(field: &str) -> Result<Vec<Token<'_>>, VarSyntaxError> {
    let mut out = Vec::new();
    let mut rest = field;
    let mut offset = 0;
    while let Some(start) = rest.find('%') {
        if start > 0 {
            out.push(Token::Literal(&rest[..start]));
        }
        let after = &rest[start + 1..];
        let end = after.find('%').ok_or(VarSyntaxError::Unclosed(offset + start))?;
        let name = &after[..end];
        if name.is_empty() {
            return Err(VarSyntaxError::Empty(offset + start));
        }
        if !name.chars().all(is_name_char) {
            return Err(VarSyntaxError::BadName(name.to_string()));
        }
        out.push(Token::Var(name));
        let consumed = start + 1 + end + 1;
        rest = &rest[consumed..];
        offset += consumed;
    }
    if !rest.is_empty() {
        out.push(Token::Literal(rest));
    }
    Ok(out)
}

/// The variable names a field uses, in order (duplicates kept).
pub fn names(field: &str) -> Result<Vec<&str>, VarSyntaxError> {
    Ok(tokens(field)?
        .into_iter()
        .filter_map(|t| match t {
            Token::Var(v) => Some(v),
            Token::Literal(_) => None,
        })
        .collect())
}

/// True when the field is exactly one `%variable%` and nothing else.
pub fn is_single_var(field: &str) -> bool {
    matches!(tokens(field).as_deref(), Ok([Token::Var(_)]))
}

/// Where a substitution failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubstError {
    Syntax(VarSyntaxError),
    Missing(String),
}

/// Replaces every `%name%` with its value in one left-to-right pass: text inserted from a
/// value is never scanned again (POLICY.md 1). `lookup` answers built-ins and caller values.
pub fn substitute<'v, F>(field: &str, lookup: F) -> Result<String, SubstError>
where
    F: Fn(&str) -> Option<&'v str>,
{
    if !field.contains('%') {
        return Ok(field.to_string());
    }
    let toks = tokens(field).map_err(SubstError::Syntax)?;
    let mut out = String::with_capacity(field.len() + 16);
    for t in toks {
        match t {
            Token::Literal(l) => out.push_str(l),
            Token::Var(v) => out.push_str(lookup(v).ok_or_else(|| SubstError::Missing(v.to_string()))?),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(field: &str, vars: &[(&'static str, &'static str)]) -> Result<String, SubstError> {
        substitute(field, |n| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| *v))
    }

    #[test]
    fn one_pass_never_rescans_values() {
        assert_eq!(
            sub("abc%fff%def", &[("fff", "%ab%cd%")]),
            Ok("abc%ab%cd%def".into())
        );
        assert_eq!(sub("%a%%b%", &[("a", "x"), ("b", "y")]), Ok("xy".into()));
    }

    #[test]
    fn names_are_case_sensitive_and_missing_is_an_error() {
        assert_eq!(sub("%IP%", &[("ip", "1")]), Err(SubstError::Missing("IP".into())));
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(tokens("ab%cd"), Err(VarSyntaxError::Unclosed(2)));
        assert_eq!(tokens("%%"), Err(VarSyntaxError::Empty(0)));
        assert!(matches!(tokens("%a b%"), Err(VarSyntaxError::BadName(_))));
        assert!(is_single_var("%ttl%"));
        assert!(!is_single_var("1%ttl%"));
        assert!(!is_single_var("%a%%b%"));
    }
}
