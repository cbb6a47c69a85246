//! A small filter query language (Manhattan Active Omni search syntax), typed by a schema.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// Longest query accepted, so a hostile input cannot cost much to parse.
pub const MAX_CHARS: usize = 4000;
/// Deepest parenthesis nesting accepted, so recursion stays bounded.
pub const MAX_DEPTH: usize = 32;
/// Most comparisons accepted, so evaluation stays cheap.
pub const MAX_COMPARISONS: usize = 256;

const OPERATORS: &str = "a comparison operator (=, !=, <, <=, >, >=, IN)";
const TIMESTAMP: &str = "a timestamp (RFC 3339, YYYY-MM-DDTHH:MM:SS or YYYY-MM-DD)";

/// The type an attribute's values are converted to at parse time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    Integer,
    Text,
    Bool,
    Timestamp,
}

/// The attributes a query may mention, so names and values are checked when parsing.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    attributes: &'static [(&'static str, AttrType)],
}

impl Schema {
    /// Builds a schema from canonical names and their types (usable in a `const`).
    pub const fn new(attributes: &'static [(&'static str, AttrType)]) -> Self {
        Schema { attributes }
    }

    /// Finds an attribute case-insensitively, returning its canonical name.
    pub fn get(&self, name: &str) -> Option<(&'static str, AttrType)> {
        self.attributes.iter().copied().find(|(n, _)| n.eq_ignore_ascii_case(name))
    }
}

/// A typed value, either from the query or from a record.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Int(i64),
    Text(String),
    Bool(bool),
    Time(DateTime<Utc>),
}

/// A comparison operator (`<>` parses as `Ne`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A parsed query; nested groups of the same kind are flattened.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Compare { attribute: &'static str, op: Op, value: Literal },
    In { attribute: &'static str, values: Vec<Literal> },
}

/// Why a query was rejected, with a 1-based character column so a UI can point at it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("at position {position}: expected {expected}, found {found}")]
pub struct QueryError {
    pub position: usize,
    pub expected: String,
    pub found: String,
}

impl QueryError {
    fn new(position: usize, expected: impl Into<String>, found: impl Into<String>) -> Self {
        QueryError { position, expected: expected.into(), found: found.into() }
    }
}

/// What a record knows about an attribute; `Unknown` lets a partition summary be pruned safely.
#[derive(Debug, Clone, PartialEq)]
pub enum Known {
    Value(Literal),
    Null,
    Unknown,
}

/// Anything a query can be evaluated against.
pub trait Record {
    /// The value of `attribute`, given by its canonical schema name.
    fn value(&self, attribute: &str) -> Known;
}

/// Three-valued (Kleene) truth, so unknown values never prune wrongly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    Unknown,
}

impl Expr {
    /// Evaluates with Kleene logic: False wins in AND, True wins in OR, otherwise Unknown spreads.
    pub fn eval(&self, record: &dyn Record) -> Truth {
        match self {
            Expr::And(children) => kleene(children.iter().map(|c| c.eval(record)), Truth::False),
            Expr::Or(children) => kleene(children.iter().map(|c| c.eval(record)), Truth::True),
            Expr::Compare { attribute, op, value } => match record.value(attribute) {
                Known::Unknown => Truth::Unknown,
                Known::Null => truth(*op == Op::Ne),
                Known::Value(actual) => match compare(&actual, value) {
                    None => Truth::Unknown,
                    Some(ord) => truth(match op {
                        Op::Eq => ord.is_eq(),
                        Op::Ne => ord.is_ne(),
                        Op::Lt => ord.is_lt(),
                        Op::Le => ord.is_le(),
                        Op::Gt => ord.is_gt(),
                        Op::Ge => ord.is_ge(),
                    }),
                },
            },
            Expr::In { attribute, values } => match record.value(attribute) {
                Known::Unknown => Truth::Unknown,
                Known::Null => Truth::False,
                Known::Value(actual) => kleene(
                    values.iter().map(|v| compare(&actual, v).map_or(Truth::Unknown, |o| truth(o.is_eq()))),
                    Truth::True,
                ),
            },
        }
    }

    /// True only when the record certainly matches.
    pub fn matches(&self, record: &dyn Record) -> bool {
        self.eval(record) == Truth::True
    }

    /// The only values `attribute` can take for the expression to hold; None when any value might match.
    pub fn pinned_values(&self, attribute: &str) -> Option<Vec<Literal>> {
        match self {
            Expr::Compare { attribute: a, op: Op::Eq, value } if a.eq_ignore_ascii_case(attribute) => {
                Some(vec![value.clone()])
            }
            Expr::In { attribute: a, values } if a.eq_ignore_ascii_case(attribute) => Some(dedup(values.clone())),
            Expr::And(children) => children
                .iter()
                .filter_map(|c| c.pinned_values(attribute))
                .reduce(|acc, next| acc.into_iter().filter(|v| next.contains(v)).collect()),
            Expr::Or(children) => {
                let all: Option<Vec<_>> = children.iter().map(|c| c.pinned_values(attribute)).collect();
                all.map(|sets| dedup(sets.into_iter().flatten()))
            }
            _ => None,
        }
    }

    /// Every attribute the expression mentions, once each, in order of first mention.
    pub fn attributes(&self) -> Vec<&'static str> {
        match self {
            Expr::And(children) | Expr::Or(children) => dedup(children.iter().flat_map(Expr::attributes)),
            Expr::Compare { attribute, .. } | Expr::In { attribute, .. } => vec![attribute],
        }
    }
}

/// Kleene AND (`decisive` False) or OR (`decisive` True): the decisive value wins, then Unknown.
fn kleene(truths: impl Iterator<Item = Truth>, decisive: Truth) -> Truth {
    let mut result = if decisive == Truth::True { Truth::False } else { Truth::True };
    for next in truths {
        match next {
            Truth::Unknown => result = Truth::Unknown,
            next if next == decisive => return next,
            _ => {}
        }
    }
    result
}

fn truth(b: bool) -> Truth {
    if b { Truth::True } else { Truth::False }
}

/// Orders two values of the same type; None for mismatched types, which evaluate as Unknown.
fn compare(a: &Literal, b: &Literal) -> Option<Ordering> {
    match (a, b) {
        (Literal::Int(x), Literal::Int(y)) => Some(x.cmp(y)),
        (Literal::Text(x), Literal::Text(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Literal::Bool(x), Literal::Bool(y)) => Some(x.cmp(y)),
        (Literal::Time(x), Literal::Time(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn dedup<T: PartialEq>(values: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out = Vec::new();
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// Token kinds: `Stray` is a lone `!`, `Bad` a lexing error raised only if the parser reaches it.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    LParen,
    RParen,
    Comma,
    Op(Op),
    Word,
    Str(String),
    Stray,
    End,
    Bad(QueryError),
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    position: usize,
    text: String,
}

/// Splits the query into tokens; a lexing error becomes the last token so errors come in text order.
fn lex(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    loop {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let start = i;
        let Some(&c) = chars.get(i) else {
            tokens.push(Token { kind: Kind::End, position: chars.len() + 1, text: "end of query".into() });
            return tokens;
        };
        let next = chars.get(i + 1).copied();
        i += 1;
        let kind = match c {
            '(' => Kind::LParen,
            ')' => Kind::RParen,
            ',' => Kind::Comma,
            '=' => Kind::Op(Op::Eq),
            '!' if next == Some('=') => Kind::Op(Op::Ne),
            '<' if next == Some('=') => Kind::Op(Op::Le),
            '<' if next == Some('>') => Kind::Op(Op::Ne),
            '>' if next == Some('=') => Kind::Op(Op::Ge),
            '<' => Kind::Op(Op::Lt),
            '>' => Kind::Op(Op::Gt),
            '!' => Kind::Stray,
            '\'' | '"' => {
                while i < chars.len() && (chars[i] != c || chars.get(i + 1) == Some(&c)) {
                    i += if chars[i] == c { 2 } else { 1 };
                }
                if i == chars.len() {
                    let expected = format!("a closing {c} to end the string that starts here");
                    Kind::Bad(QueryError::new(start + 1, expected, "end of query"))
                } else {
                    i += 1;
                    let inner: String = chars[start + 1..i - 1].iter().collect();
                    Kind::Str(inner.replace(&format!("{c}{c}"), &c.to_string()))
                }
            }
            _ => {
                while i < chars.len() && !chars[i].is_whitespace() && !"()=!<>,'\"".contains(chars[i]) {
                    i += 1;
                }
                Kind::Word
            }
        };
        if matches!(kind, Kind::Op(Op::Ne | Op::Le | Op::Ge)) {
            i += 1;
        }
        let bad = matches!(kind, Kind::Bad(_));
        tokens.push(Token { kind, position: start + 1, text: chars[start..i].iter().collect() });
        if bad {
            return tokens;
        }
    }
}

struct Parser<'s> {
    tokens: Vec<Token>,
    at: usize,
    schema: &'s Schema,
    depth: usize,
    comparisons: usize,
}

/// Parses `text` against `schema`, converting every value to its attribute's type.
pub fn parse(text: &str, schema: &Schema) -> Result<Expr, QueryError> {
    let length = text.chars().count();
    if length > MAX_CHARS {
        let expected = format!("a query of at most {MAX_CHARS} characters");
        return Err(QueryError::new(MAX_CHARS + 1, expected, format!("{length} characters")));
    }
    if text.trim().is_empty() {
        return Err(QueryError::new(1, "a search criterion", "end of query"));
    }
    let mut parser = Parser { tokens: lex(text), at: 0, schema, depth: 0, comparisons: 0 };
    let expr = parser.group(true)?;
    if parser.peek().kind != Kind::End {
        return parser.fail("AND, OR or the end of the query");
    }
    Ok(expr)
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        &self.tokens[self.at]
    }

    fn bump(&mut self) {
        if self.at + 1 < self.tokens.len() {
            self.at += 1;
        }
    }

    fn fail<T>(&self, expected: impl Into<String>) -> Result<T, QueryError> {
        let token = self.peek();
        match &token.kind {
            Kind::Bad(error) => Err(error.clone()),
            _ => Err(QueryError::new(token.position, expected, token.text.clone())),
        }
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        let token = self.peek();
        token.kind == Kind::Word && token.text.eq_ignore_ascii_case(keyword)
    }

    fn eat(&mut self, kind: Kind) -> bool {
        let found = self.peek().kind == kind;
        if found {
            self.bump();
        }
        found
    }

    /// Parses `and_expr (OR and_expr)*` when `or`, else `term (AND term)*`.
    fn group(&mut self, or: bool) -> Result<Expr, QueryError> {
        let mut parts = Vec::new();
        loop {
            parts.push(if or { self.group(false)? } else { self.term()? });
            if !self.is_keyword(if or { "OR" } else { "AND" }) {
                return Ok(join(parts, or));
            }
            self.bump();
        }
    }

    fn term(&mut self) -> Result<Expr, QueryError> {
        if self.peek().kind != Kind::LParen {
            return self.comparison();
        }
        if self.depth == MAX_DEPTH {
            return self.fail(format!("at most {MAX_DEPTH} nested parentheses"));
        }
        self.bump();
        self.depth += 1;
        let expr = self.group(true)?;
        self.depth -= 1;
        if !self.eat(Kind::RParen) {
            return self.fail("')'");
        }
        Ok(expr)
    }

    fn comparison(&mut self) -> Result<Expr, QueryError> {
        if self.peek().kind != Kind::Word || self.is_keyword("AND") || self.is_keyword("OR") {
            return self.fail("an attribute name");
        }
        let Some((attribute, ty)) = self.schema.get(&self.peek().text) else {
            let names: Vec<_> = self.schema.attributes.iter().map(|(name, _)| *name).collect();
            return self.fail(format!("one of the attributes {}", names.join(", ")));
        };
        self.comparisons += 1;
        if self.comparisons > MAX_COMPARISONS {
            return self.fail(format!("at most {MAX_COMPARISONS} comparisons"));
        }
        self.bump();
        if self.is_keyword("IN") {
            self.bump();
            if !self.eat(Kind::LParen) {
                return self.fail("'(' to start the IN list");
            }
            let mut values = vec![self.value(attribute, ty)?];
            while self.eat(Kind::Comma) {
                values.push(self.value(attribute, ty)?);
            }
            if !self.eat(Kind::RParen) {
                return self.fail("',' or ')'");
            }
            return Ok(Expr::In { attribute, values });
        }
        let Kind::Op(op) = self.peek().kind else {
            return self.fail(OPERATORS);
        };
        if ty == AttrType::Bool && !matches!(op, Op::Eq | Op::Ne) {
            return self.fail(format!("= or != for the true/false attribute {attribute}"));
        }
        self.bump();
        let value = self.value(attribute, ty)?;
        Ok(Expr::Compare { attribute, op, value })
    }

    fn value(&mut self, attribute: &str, ty: AttrType) -> Result<Literal, QueryError> {
        let token = self.peek();
        let raw = match &token.kind {
            Kind::Word if !self.is_keyword("AND") && !self.is_keyword("OR") => token.text.as_str(),
            Kind::Str(s) => s.as_str(),
            _ => return self.fail("a value"),
        };
        let (literal, wanted) = match ty {
            AttrType::Integer => (parse_int(raw).map(Literal::Int), "an integer"),
            AttrType::Text => (Some(Literal::Text(raw.to_string())), "a text value"),
            AttrType::Bool => (raw.to_ascii_lowercase().parse().ok().map(Literal::Bool), "true or false"),
            AttrType::Timestamp => (parse_time(raw).map(Literal::Time), TIMESTAMP),
        };
        match literal {
            Some(literal) => {
                self.bump();
                Ok(literal)
            }
            None => self.fail(format!("{wanted} for {attribute}")),
        }
    }
}

/// Builds an AND/OR group, flattening children of the same kind and unwrapping a single child.
fn join(parts: Vec<Expr>, or: bool) -> Expr {
    let mut flat = Vec::with_capacity(parts.len());
    for part in parts {
        match part {
            Expr::Or(children) if or => flat.extend(children),
            Expr::And(children) if !or => flat.extend(children),
            other => flat.push(other),
        }
    }
    if flat.len() == 1
        && let Some(only) = flat.pop()
    {
        return only;
    }
    if or { Expr::Or(flat) } else { Expr::And(flat) }
}

/// Reads an integer, accepting a zero fraction (`1500.000`) as some exports write it.
fn parse_int(raw: &str) -> Option<i64> {
    let whole = match raw.split_once('.') {
        Some((whole, fraction)) if !fraction.is_empty() && fraction.bytes().all(|b| b == b'0') => whole,
        Some(_) => return None,
        None => raw,
    };
    whole.parse().ok()
}

/// Reads RFC 3339, a zone-less date-time (taken as UTC) or a bare date (midnight UTC).
fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(time) = DateTime::parse_from_rfc3339(raw) {
        return Some(time.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(time) = NaiveDateTime::parse_from_str(raw, format) {
            return Some(time.and_utc());
        }
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?.and_hms_opt(0, 0, 0).map(|time| time.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SCHEMA: Schema = Schema::new(&[
        ("MaxFulfillmentStatusId", AttrType::Integer),
        ("MinFulfillmentStatusId", AttrType::Integer),
        ("OrderId", AttrType::Text),
        ("OrderTypeId", AttrType::Text),
        ("IsConfirmed", AttrType::Bool),
        ("CreatedTimestamp", AttrType::Timestamp),
    ]);
    const SEED: &str = "((MaxFulfillmentStatusId=1500 AND MinFulfillmentStatusId=1500) OR (MaxFulfillmentStatusId=1000 AND MinFulfillmentStatusId=1000) OR (MaxFulfillmentStatusId=1500 AND MinFulfillmentStatusId<1500) OR (MaxFulfillmentStatusId=2000 AND MinFulfillmentStatusId<2000) OR (MaxFulfillmentStatusId=3000 AND MinFulfillmentStatusId<3000))";
    const MAX: &str = "MaxFulfillmentStatusId";
    const MIN: &str = "MinFulfillmentStatusId";

    struct Row(Vec<(&'static str, Known)>);

    impl Record for Row {
        fn value(&self, attribute: &str) -> Known {
            self.0.iter().find(|(a, _)| *a == attribute).map_or(Known::Unknown, |(_, k)| k.clone())
        }
    }

    fn known(value: Literal) -> Known {
        Known::Value(value)
    }

    fn text(value: &str) -> Literal {
        Literal::Text(value.into())
    }

    fn cmp(attribute: &'static str, op: Op, value: Literal) -> Expr {
        Expr::Compare { attribute, op, value }
    }

    fn err(query: &str) -> QueryError {
        parse(query, &SCHEMA).expect_err(query)
    }

    fn eval(query: &str, row: &[(&'static str, Known)]) -> Truth {
        parse(query, &SCHEMA).expect(query).eval(&Row(row.to_vec()))
    }

    #[test]
    fn when_the_seed_sample_is_parsed_should_accept_it_exactly_as_printed() {
        let pair = |v, op| Expr::And(vec![cmp(MAX, Op::Eq, Literal::Int(v)), cmp(MIN, op, Literal::Int(v))]);
        let pairs = [(1500, Op::Eq), (1000, Op::Eq), (1500, Op::Lt), (2000, Op::Lt), (3000, Op::Lt)];
        assert_eq!(parse(SEED, &SCHEMA), Ok(Expr::Or(pairs.into_iter().map(|(v, op)| pair(v, op)).collect())));
    }

    #[test]
    fn when_the_other_samples_are_parsed_should_type_their_values() {
        let jobs = Schema::new(&[("JobTypeId", AttrType::Text), ("JobScheduleId", AttrType::Text)]);
        let job = parse("JobTypeId=orderMassActionJob", &jobs);
        assert_eq!(job, Ok(cmp("JobTypeId", Op::Eq, text("orderMassActionJob"))));
        let schedule = parse("JobScheduleId=js95391076296076581202359", &jobs).unwrap();
        assert_eq!(schedule.pinned_values("JobScheduleId"), Some(vec![text("js95391076296076581202359")]));
        let types = parse("OrderTypeId IN (StandardOrder, 'Web Order')", &SCHEMA);
        assert_eq!(
            types,
            Ok(Expr::In { attribute: "OrderTypeId", values: vec![text("StandardOrder"), text("Web Order")] })
        );
        let both = parse("CreatedTimestamp >= '2024-01-01T00:00:00Z' AND IsConfirmed = true", &SCHEMA);
        let created =
            cmp("CreatedTimestamp", Op::Ge, Literal::Time(Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()));
        assert_eq!(both, Ok(Expr::And(vec![created, cmp("IsConfirmed", Op::Eq, Literal::Bool(true))])));
    }

    #[test]
    fn when_keywords_case_spacing_and_nesting_vary_should_parse_the_same() {
        let canonical = parse("OrderId = a AND MaxFulfillmentStatusId != 1 AND OrderTypeId IN (x)", &SCHEMA).unwrap();
        assert!(matches!(&canonical, Expr::And(children) if children.len() == 3));
        for query in [
            "orderid=a and maxfulfillmentstatusid<>1.000 And ORDERTYPEID in(x)",
            "  ( OrderId\t=\n\"a\"   AND (MaxFulfillmentStatusId!='1' and ((OrderTypeId In ( 'x' )))))  ",
        ] {
            assert_eq!(parse(query, &SCHEMA).as_ref(), Ok(&canonical), "{query}");
        }
        let quoted = parse(r#"OrderId IN ('it''s', "say ""hi""", '', 007.50, -3)"#, &SCHEMA);
        let values = ["it's", r#"say "hi""#, "", "007.50", "-3"].map(text).to_vec();
        assert_eq!(quoted, Ok(Expr::In { attribute: "OrderId", values }));
    }

    #[test]
    fn when_a_value_has_the_wrong_type_should_name_the_attribute_and_type() {
        for (value, parsed) in [("1500.000", 1500), ("1500.0", 1500), ("-3", -3), ("'42'", 42)] {
            assert_eq!(parse(&format!("{MIN}={value}"), &SCHEMA), Ok(cmp(MIN, Op::Eq, Literal::Int(parsed))));
        }
        let integer = "an integer for MinFulfillmentStatusId";
        assert_eq!(err("MinFulfillmentStatusId=1500.5"), QueryError::new(24, integer, "1500.5"));
        assert_eq!(err("MinFulfillmentStatusId='abc'"), QueryError::new(24, integer, "'abc'"));
        assert_eq!(err("IsConfirmed=yes"), QueryError::new(13, "true or false for IsConfirmed", "yes"));
        let error = err("CreatedTimestamp>yesterday");
        assert!(error.expected.starts_with("a timestamp") && error.expected.ends_with("for CreatedTimestamp"));
        assert_eq!(error.to_string(), format!("at position 18: expected {}, found yesterday", error.expected));
        let ordered = QueryError::new(13, "= or != for the true/false attribute IsConfirmed", "<");
        assert_eq!(err("IsConfirmed < true"), ordered);
    }

    #[test]
    fn when_an_attribute_is_unknown_should_name_its_position_and_the_known_attributes() {
        let expected = "one of the attributes MaxFulfillmentStatusId, MinFulfillmentStatusId, OrderId, OrderTypeId, \
                        IsConfirmed, CreatedTimestamp";
        assert_eq!(err("OrderId=1 AND Colour=red"), QueryError::new(15, expected, "Colour"));
        assert_eq!(err("OrderId='日本' AND Größe=1"), QueryError::new(18, expected, "Größe"));
    }

    #[test]
    fn when_a_parenthesis_is_missing_should_expect_it_at_the_end() {
        let error = err("(OrderId=1 AND (MaxFulfillmentStatusId=2)");
        assert_eq!(error.to_string(), "at position 42: expected ')', found end of query");
        assert_eq!(err("OrderId=1)"), QueryError::new(10, "AND, OR or the end of the query", ")"));
    }

    #[test]
    fn when_tokens_are_misplaced_should_say_what_was_expected() {
        for (query, position, expected, found) in [
            ("", 1, "a search criterion", "end of query"),
            (" \t\n", 1, "a search criterion", "end of query"),
            ("OrderId 1", 9, OPERATORS, "1"),
            ("OrderId !1", 9, OPERATORS, "!"),
            ("OrderId=a!b", 10, "AND, OR or the end of the query", "!"),
            ("OrderId=", 9, "a value", "end of query"),
            ("OrderId= AND OrderId=2", 10, "a value", "AND"),
            ("OrderId=1 OR", 13, "an attribute name", "end of query"),
            ("()", 2, "an attribute name", ")"),
            ("OrderId IN ()", 13, "a value", ")"),
            ("OrderId IN a", 12, "'(' to start the IN list", "a"),
            ("OrderId IN (a b)", 15, "',' or ')'", "b"),
            ("OrderId=a OrderId=b", 11, "AND, OR or the end of the query", "OrderId"),
            ("OrderId='abc", 9, "a closing ' to end the string that starts here", "end of query"),
        ] {
            assert_eq!(err(query), QueryError::new(position, expected, found), "{query}");
        }
    }

    #[test]
    fn when_limits_are_exceeded_should_report_them() {
        let error = err(&format!("OrderId='{}'", "x".repeat(MAX_CHARS)));
        assert_eq!((error.position, error.expected.as_str()), (4001, "a query of at most 4000 characters"));
        let deep = |n: usize| format!("{}OrderId=1{}", "(".repeat(n), ")".repeat(n));
        assert!(parse(&deep(MAX_DEPTH), &SCHEMA).is_ok());
        assert_eq!(err(&deep(MAX_DEPTH + 1)), QueryError::new(33, "at most 32 nested parentheses", "("));
        let many = |n: usize| vec!["OrderId=1"; n].join(" OR ");
        assert!(parse(&many(MAX_COMPARISONS), &SCHEMA).is_ok());
        assert_eq!(err(&many(MAX_COMPARISONS + 1)), QueryError::new(3329, "at most 256 comparisons", "OrderId"));
    }

    #[test]
    fn when_values_are_unknown_should_prune_partitions_with_kleene_logic() {
        let partition = |max, min| [(MAX, known(Literal::Int(max))), (MIN, known(Literal::Int(min)))];
        assert_eq!(eval(SEED, &partition(1000, 1000)), Truth::True);
        assert_eq!(eval(SEED, &partition(7000, 7000)), Truth::False);
        assert_eq!(eval(SEED, &partition(2000, 1500)), Truth::True);
        assert_eq!(eval(SEED, &partition(1500, 1000)[..1]), Truth::Unknown);
        assert!(!parse(SEED, &SCHEMA).unwrap().matches(&Row(partition(1500, 1000)[..1].to_vec())));
        assert_eq!(eval("OrderId=a OR MaxFulfillmentStatusId=1", &partition(1, 0)), Truth::True);
        assert_eq!(eval("OrderId=a AND MaxFulfillmentStatusId=1", &partition(2, 0)), Truth::False);
    }

    #[test]
    fn when_record_values_are_null_text_or_mistyped_should_follow_the_comparison_rules() {
        let row = [("OrderId", Known::Null), (MAX, Known::Null), ("OrderTypeId", known(Literal::Int(5)))];
        assert_eq!(eval("OrderId=a", &row), Truth::False);
        assert_eq!(eval("OrderId!=a", &row), Truth::True);
        assert_eq!(eval("MaxFulfillmentStatusId<5", &row), Truth::False);
        assert_eq!(eval("OrderId IN (a, b)", &row), Truth::False);
        assert_eq!(eval("OrderTypeId IN (a, '5')", &row), Truth::Unknown);
        let row = [("OrderId", known(text("Order-10")))];
        assert_eq!(eval("OrderId=order-10", &row), Truth::False);
        assert_eq!(eval("OrderId>'Order-1' AND OrderId<'Order-2' AND OrderId<order", &row), Truth::True);
    }

    #[test]
    fn when_in_lists_values_should_match_any_of_them() {
        let query = "OrderTypeId IN (StandardOrder, 'Web Order')";
        assert_eq!(eval(query, &[("OrderTypeId", known(text("Web Order")))]), Truth::True);
        assert_eq!(eval(query, &[("OrderTypeId", known(text("StandardOrder")))]), Truth::True);
        assert_eq!(eval(query, &[("OrderTypeId", known(text("Return")))]), Truth::False);
        assert_eq!(eval("MaxFulfillmentStatusId in (1000, 1500.0)", &[(MAX, known(Literal::Int(1500)))]), Truth::True);
    }

    #[test]
    fn when_a_timestamp_is_compared_should_order_chronologically() {
        let at = |s: &str| [("CreatedTimestamp", known(Literal::Time(s.parse().unwrap())))];
        let query = "CreatedTimestamp >= '2024-01-01T01:00:00+02:00' AND CreatedTimestamp < 2024-01-02";
        assert_eq!(eval(query, &at("2023-12-31T23:00:00Z")), Truth::True);
        assert_eq!(eval(query, &at("2023-12-31T22:59:59Z")), Truth::False);
        assert_eq!(eval(query, &at("2024-01-02T00:00:00Z")), Truth::False);
        let precise = at("2021-09-22T09:15:57.46Z");
        assert_eq!(eval("CreatedTimestamp=2021-09-22T09:15:57.46", &precise), Truth::True);
        assert_eq!(eval("CreatedTimestamp='2021-09-22 09:15:57.460'", &precise), Truth::True);
        assert_eq!(eval("CreatedTimestamp=2021-09-22T09:15:57", &precise), Truth::False);
        assert_eq!(eval("CreatedTimestamp=2024-01-01", &at("2024-01-01T00:00:00Z")), Truth::True);
    }

    #[test]
    fn when_values_are_pinned_or_attributes_listed_should_intersect_and_unite_and_dedup() {
        let pinned = |q: &str| parse(q, &SCHEMA).unwrap().pinned_values("OrderId");
        let texts = |v: &[&str]| Some(v.iter().map(|s| text(s)).collect::<Vec<_>>());
        assert_eq!(pinned("OrderId=js1"), texts(&["js1"]));
        assert_eq!(pinned("OrderId IN (a,b) AND MaxFulfillmentStatusId=1"), texts(&["a", "b"]));
        assert_eq!(pinned("OrderId IN (a,b,c) AND OrderId IN (c,b)"), texts(&["b", "c"]));
        assert_eq!(pinned("OrderId=a AND OrderId=b"), texts(&[]));
        assert_eq!(pinned("OrderId=a OR (OrderId IN (b, a) AND IsConfirmed=true)"), texts(&["a", "b"]));
        assert_eq!(pinned("OrderId=a OR MaxFulfillmentStatusId=1"), None);
        assert_eq!(pinned("OrderId!=a"), None);
        let expr = parse("orderid=a OR (ORDERID=b AND isconfirmed=true) OR OrderTypeId IN (x)", &SCHEMA).unwrap();
        assert_eq!(expr.attributes(), vec!["OrderId", "IsConfirmed", "OrderTypeId"]);
    }

    #[test]
    fn when_garbage_is_parsed_should_never_panic() {
        let pieces: Vec<&str> = "(|)|'|\"|=|!|<|>|,| |\t|AND|or|In|OrderId|IsConfirmed|MaxFulfillmentStatusId|\
            CreatedTimestamp|1500|-3|1.5|true|2024-01-01|é|日本|🚀|\u{3000}|\u{0}|x"
            .split('|')
            .collect();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move |bound: usize| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((seed >> 33) % bound as u64) as usize
        };
        let (mut accepted, row) = (0, Row(vec![("OrderId", known(text("x"))), (MAX, Known::Null)]));
        for round in 0..900 {
            let query: String = match round % 3 {
                0 => (0..next(60)).filter_map(|_| char::from_u32(next(0x1_0000) as u32)).collect(),
                1 => (0..next(40)).map(|_| pieces[next(pieces.len())]).collect(),
                _ => {
                    let at = next(SEED.len() - 2);
                    format!("{}{}{}", &SEED[..at], pieces[next(pieces.len())], &SEED[at + next(3)..])
                }
            };
            match parse(&query, &SCHEMA) {
                Ok(expr) => {
                    accepted += 1;
                    let _ = (expr.eval(&row), expr.pinned_values("OrderId"), expr.attributes());
                }
                Err(error) => assert!((1..=query.chars().count() + 1).contains(&error.position), "{query:?}"),
            }
        }
        assert!(accepted > 0, "only {accepted} garbage queries parsed");
    }
}
