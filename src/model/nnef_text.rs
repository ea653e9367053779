//! A one-pass reader for the NNEF text tract writes (`graph.nnef`), into
//! [`super::nnef_ast`] (tract's AST, type for type, with no tract behind it).
//!
//! tract's parser (nom combinators) parses every operand again at each nesting level and
//! tries a chain of operator precedences around every value: on the precheck models' graphs
//! it took 8–60 ms natively per model (the detector's 28 KB graph: 34–37 ms), as much as
//! the rest of the load together (examples/load_phases.rs; this reader: 0.6–3.3 ms). This
//! recursive-descent reader handles the subset tract's writer emits — fragment declarations,
//! and assignments whose values are invocations, literals, identifiers, arrays and tuples —
//! in one pass over the bytes.
//!
//! It never guesses: at anything outside that subset (operators, subscripts,
//! comprehensions, conditionals, a token tract would read another way) it answers
//! [`Outcome::Unsupported`] and the caller uses tract's parser (natively) or refuses the
//! model (the browser, whose engine reads nothing else), so a document it accepts is
//! exactly the one tract would produce (tests/nnef_text.rs and the `nnef_text` fuzz target
//! check that). Nesting deeper than [`MAX_DEPTH`] is refused outright: no model needs it,
//! and tract's recursive parser could exhaust the stack on it.

use super::nnef_ast::{
    Argument, Assignment, Document, FragmentDecl, FragmentDef, GraphDef, Identifier, Invocation,
    LValue, Literal, Parameter, RValue, Result_, TypeName, TypeSpec,
};

/// How deep arrays, tuples and invocations may nest (the models use 5).
pub const MAX_DEPTH: usize = 64;

/// What the reader made of a document.
#[derive(Debug)]
pub enum Outcome {
    /// Read; tract's parser gives the same document.
    Read(Box<Document>),
    /// Outside the subset this reader handles (or not valid NNEF): ask tract's parser.
    Unsupported,
    /// Nested deeper than [`MAX_DEPTH`]: refuse the model.
    TooDeep,
}

/// Reads a whole `graph.nnef` document.
pub fn read_document(text: &str) -> Outcome {
    let mut r = Reader {
        s: text.as_bytes(),
        pos: 0,
        depth: 0,
    };
    match r.document() {
        Ok(doc) => Outcome::Read(Box::new(doc)),
        Err(Stop::Unsupported) => Outcome::Unsupported,
        Err(Stop::TooDeep) => Outcome::TooDeep,
    }
}

enum Stop {
    Unsupported,
    TooDeep,
}

type R<T> = Result<T, Stop>;

fn unsupported<T>() -> R<T> {
    Err(Stop::Unsupported)
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

struct Reader<'s> {
    s: &'s [u8],
    pos: usize,
    depth: usize,
}

impl<'s> Reader<'s> {
    // ------------------------------------------------------------------ tokens

    /// Skips spaces, tabs, line ends and `#` comments (exactly what tract skips).
    fn ws(&mut self) {
        while let Some(&c) = self.s.get(self.pos) {
            match c {
                b' ' | b'\t' | b'\n' | b'\r' => self.pos += 1,
                b'#' => {
                    while self
                        .s
                        .get(self.pos)
                        .is_some_and(|&c| c != b'\n' && c != b'\r')
                    {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    /// The next byte after spaces, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.pos).copied()
    }

    /// Consumes `tok` (after spaces) if it comes next.
    fn eat(&mut self, tok: &str) -> bool {
        self.ws();
        if self.s[self.pos..].starts_with(tok.as_bytes()) {
            self.pos += tok.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, tok: &str) -> R<()> {
        if self.eat(tok) {
            Ok(())
        } else {
            unsupported()
        }
    }

    /// Consumes a keyword that must not run on into an identifier (`scalar`, not `scalars`).
    fn keyword(&mut self, word: &str) -> bool {
        self.ws();
        let end = self.pos + word.len();
        if self.s[self.pos..].starts_with(word.as_bytes())
            && !self.s.get(end).copied().is_some_and(is_ident_char)
        {
            self.pos = end;
            true
        } else {
            false
        }
    }

    fn nest(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Stop::TooDeep);
        }
        Ok(())
    }

    fn unnest(&mut self) {
        self.depth -= 1;
    }

    /// Items separated by commas up to `close` (the opening bracket already consumed), in
    /// the lists where tract allows spaces before the closing one (all but a value's `()`
    /// and `[]`, see [`Reader::rvalues`]).
    fn list<T>(&mut self, close: u8, mut item: impl FnMut(&mut Self) -> R<T>) -> R<Vec<T>> {
        let mut items = Vec::new();
        if self.peek() != Some(close) {
            loop {
                items.push(item(self)?);
                if !self.eat(",") {
                    break;
                }
            }
        }
        if self.peek() != Some(close) {
            return unsupported();
        }
        self.pos += 1;
        Ok(items)
    }

    /// `"…"` or `'…'`; a backslash takes the next character as it is; neither quote may
    /// appear unescaped inside (tract's rule).
    fn string(&mut self) -> R<String> {
        let quote = self.s[self.pos];
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.s.get(self.pos) {
                None => return unsupported(),
                Some(b'\\') => {
                    // The escaped character is a whole UTF-8 character.
                    let rest = std::str::from_utf8(&self.s[self.pos + 1..]).ok();
                    let c = rest.and_then(|r| r.chars().next());
                    let Some(c) = c else { return unsupported() };
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    self.pos += 1 + c.len_utf8();
                }
                Some(&c) if c == b'"' || c == b'\'' => {
                    self.pos += 1;
                    if c != quote {
                        return unsupported();
                    }
                    break;
                }
                Some(&c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
        String::from_utf8(out).or_else(|_| unsupported())
    }

    /// An identifier: `[A-Za-z_][A-Za-z0-9_]*`, or the escaped form `i"…"`.
    fn identifier(&mut self) -> R<Identifier> {
        self.ws();
        let start = self.pos;
        match self.s.get(start) {
            Some(b'i') if matches!(self.s.get(start + 1), Some(b'"' | b'\'')) => {
                self.pos += 1;
                Ok(Identifier(self.string()?))
            }
            Some(&c) if is_ident_start(c) => {
                while self.s.get(self.pos).copied().is_some_and(is_ident_char) {
                    self.pos += 1;
                }
                // Only ASCII was consumed.
                let id =
                    std::str::from_utf8(&self.s[start..self.pos]).or_else(|_| unsupported())?;
                Ok(Identifier(id.to_string()))
            }
            _ => unsupported(),
        }
    }

    /// `-?(digits|inf)(.digits*)?([eE][+-]?digits)?`, kept as written.
    fn numeric(&mut self) -> R<String> {
        self.ws();
        let start = self.pos;
        let digits = |r: &mut Self| {
            let from = r.pos;
            while r.s.get(r.pos).is_some_and(u8::is_ascii_digit) {
                r.pos += 1;
            }
            r.pos - from
        };
        if self.s.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        if self.s[self.pos..].starts_with(b"inf") {
            self.pos += 3;
        } else if digits(self) == 0 {
            return unsupported();
        }
        if self.s.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            digits(self);
        }
        if matches!(self.s.get(self.pos), Some(b'e' | b'E')) {
            let save = self.pos;
            self.pos += 1;
            if matches!(self.s.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if digits(self) == 0 {
                self.pos = save;
            }
        }
        // A number running on into a name (`1abc`, `infx`) is read otherwise by tract.
        if self.s.get(self.pos).copied().is_some_and(is_ident_char) {
            return unsupported();
        }
        let text = std::str::from_utf8(&self.s[start..self.pos]).or_else(|_| unsupported())?;
        Ok(text.to_string())
    }

    /// A literal: number, string or `true`/`false`.
    fn literal(&mut self) -> R<Literal> {
        match self.peek() {
            Some(b'"' | b'\'') => Ok(Literal::String(self.string()?)),
            Some(c) if c == b'-' || c.is_ascii_digit() => Ok(Literal::Numeric(self.numeric()?)),
            Some(b'i') if self.s[self.pos..].starts_with(b"inf") => {
                Ok(Literal::Numeric(self.numeric()?))
            }
            _ if self.keyword("true") => Ok(Literal::Logical(true)),
            _ if self.keyword("false") => Ok(Literal::Logical(false)),
            _ => unsupported(),
        }
    }

    // ------------------------------------------------------------------ types

    fn type_name(&mut self) -> R<TypeName> {
        if self.eat("?") {
            return Ok(TypeName::Any);
        }
        for (word, name) in [
            ("integer", TypeName::Integer),
            ("scalar", TypeName::Scalar),
            ("logical", TypeName::Logical),
            ("string", TypeName::String),
        ] {
            if self.keyword(word) {
                return Ok(name);
            }
        }
        unsupported()
    }

    fn type_spec(&mut self) -> R<TypeSpec> {
        self.nest()?;
        let single = if self.peek() == Some(b'(') {
            self.pos += 1;
            TypeSpec::Tuple(self.list(b')', Self::type_spec)?)
        } else if self.keyword("tensor") {
            self.expect("<")?;
            let name = self.type_name()?;
            self.expect(">")?;
            TypeSpec::Tensor(name)
        } else {
            TypeSpec::Single(self.type_name()?)
        };
        let spec = if self.eat("[") {
            self.expect("]")?;
            TypeSpec::Array(Box::new(single))
        } else {
            single
        };
        self.unnest();
        // tract reads one `[]` only.
        if self.peek() == Some(b'[') {
            return unsupported();
        }
        Ok(spec)
    }

    // ------------------------------------------------------------------ values

    /// A value, which must end where an argument, element or statement ends: anything else
    /// after it (an operator, a subscript, `if`, `in`) is tract's parser's to read.
    fn rvalue(&mut self) -> R<RValue> {
        self.nest()?;
        let value = self.atom()?;
        self.unnest();
        match self.peek() {
            Some(b',' | b')' | b']' | b';') => Ok(value),
            _ => unsupported(),
        }
    }

    fn atom(&mut self) -> R<RValue> {
        match self.peek() {
            Some(b'(') => {
                self.pos += 1;
                let mut items = self.rvalues(b')')?;
                Ok(if items.len() == 1 {
                    items.remove(0)
                } else {
                    RValue::Tuple(items)
                })
            }
            Some(b'[') => {
                self.pos += 1;
                // `[for …` is a comprehension to tract.
                let after = self.pos;
                if self.peek() == Some(b'f') && self.s[self.pos..].starts_with(b"for") {
                    return unsupported();
                }
                self.pos = after;
                Ok(RValue::Array(self.rvalues(b']')?))
            }
            Some(c) if c == b'"' || c == b'\'' || c == b'-' || c.is_ascii_digit() => {
                Ok(RValue::Literal(self.literal()?))
            }
            Some(c) if is_ident_start(c) => self.name_or_invocation(),
            _ => unsupported(),
        }
    }

    /// Values separated by commas up to `close` (the opening bracket already consumed). An
    /// empty list is `()` or `[]` with nothing between: tract refuses `( )` and `[ ]` here.
    fn rvalues(&mut self, close: u8) -> R<Vec<RValue>> {
        let mut items = Vec::new();
        if self.s.get(self.pos) == Some(&close) {
            self.pos += 1;
            return Ok(items);
        }
        loop {
            items.push(self.rvalue()?);
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(items);
                }
                _ => return unsupported(),
            }
        }
    }

    /// An identifier, a `true`/`false`/`inf` literal, or an invocation `id[<type>](args)`.
    fn name_or_invocation(&mut self) -> R<RValue> {
        let start = self.pos;
        let id = self.identifier()?;
        let generic = if self.peek() == Some(b'<') {
            self.pos += 1;
            let name = self.type_name()?;
            self.expect(">")?;
            Some(name)
        } else {
            None
        };
        if self.peek() == Some(b'(') {
            self.pos += 1;
            let arguments = self.arguments()?;
            return Ok(RValue::Invocation(Invocation {
                id,
                generic_type_name: generic,
                arguments,
            }));
        }
        if generic.is_some() {
            return unsupported();
        }
        // tract tries literals before names: `true`, `false` and `inf…` are literals to it.
        let text = id.0.as_str();
        if ["true", "false", "inf"].iter().any(|w| text.starts_with(w)) {
            self.pos = start;
            return match text {
                "true" | "false" | "inf" => Ok(RValue::Literal(self.literal()?)),
                _ => unsupported(),
            };
        }
        Ok(RValue::Identifier(id))
    }

    /// `(` consumed; `name = value` or `value`, comma-separated, up to `)`.
    fn arguments(&mut self) -> R<Vec<Argument>> {
        let mut args = Vec::new();
        if self.peek() == Some(b')') {
            self.pos += 1;
            return Ok(args);
        }
        loop {
            let save = self.pos;
            let named = match self.peek() {
                Some(c) if is_ident_start(c) => {
                    let id = self.identifier()?;
                    if self.peek() == Some(b'=') {
                        if self.s.get(self.pos + 1) == Some(&b'=') {
                            return unsupported();
                        }
                        self.pos += 1;
                        Some(id)
                    } else {
                        self.pos = save;
                        None
                    }
                }
                _ => None,
            };
            args.push(Argument {
                id: named,
                rvalue: self.rvalue()?,
            });
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b')') => {
                    self.pos += 1;
                    return Ok(args);
                }
                _ => return unsupported(),
            }
        }
    }

    fn lvalue_item(&mut self) -> R<LValue> {
        self.nest()?;
        let item = match self.peek() {
            Some(b'[') => {
                self.pos += 1;
                LValue::Array(self.list(b']', Self::lvalue_item)?)
            }
            Some(b'(') => {
                self.pos += 1;
                LValue::Tuple(self.list(b')', Self::lvalue_item)?)
            }
            _ => LValue::Identifier(self.identifier()?),
        };
        self.unnest();
        Ok(item)
    }

    /// `lvalue = rvalue ;` (an lvalue list `a, b` is a tuple).
    fn assignment(&mut self) -> R<Assignment> {
        let mut items = vec![self.lvalue_item()?];
        while self.eat(",") {
            items.push(self.lvalue_item()?);
        }
        let left = if items.len() == 1 {
            items.remove(0)
        } else {
            LValue::Tuple(items)
        };
        self.expect("=")?;
        if self.s.get(self.pos) == Some(&b'=') {
            return unsupported();
        }
        let right = self.rvalue()?;
        self.expect(";")?;
        Ok(Assignment { left, right })
    }

    /// `{ assignment* }`
    fn body(&mut self) -> R<Vec<Assignment>> {
        self.expect("{")?;
        let mut body = Vec::new();
        while self.peek() != Some(b'}') {
            body.push(self.assignment()?);
        }
        self.pos += 1;
        Ok(body)
    }

    // ------------------------------------------------------------------ document

    fn literal_expr(&mut self) -> R<Literal> {
        match self.peek() {
            Some(b'[') => {
                self.pos += 1;
                Ok(Literal::Array(self.list(b']', Self::literal)?))
            }
            Some(b'(') => {
                self.pos += 1;
                Ok(Literal::Tuple(self.list(b')', Self::literal)?))
            }
            _ => self.literal(),
        }
    }

    fn fragment(&mut self) -> R<FragmentDef> {
        let id = self.identifier()?;
        let generic_decl = if self.eat("<") {
            self.expect("?")?;
            let name = if self.eat("=") {
                Some(self.type_name()?)
            } else {
                None
            };
            self.expect(">")?;
            Some(name)
        } else {
            None
        };
        self.expect("(")?;
        let parameters = self.list(b')', |r| {
            let id = r.identifier()?;
            r.expect(":")?;
            let spec = r.type_spec()?;
            let lit = if r.eat("=") {
                Some(r.literal_expr()?)
            } else {
                None
            };
            Ok(Parameter { id, spec, lit })
        })?;
        self.expect("->")?;
        self.expect("(")?;
        let results = self.list(b')', |r| {
            let id = r.identifier()?;
            r.expect(":")?;
            Ok(Result_ {
                id,
                spec: r.type_spec()?,
            })
        })?;
        let body = if self.eat(";") {
            None
        } else {
            Some(self.body()?)
        };
        Ok(FragmentDef {
            decl: FragmentDecl {
                id,
                generic_decl,
                parameters,
                results,
            },
            body,
        })
    }

    fn identifier_list(&mut self) -> R<Vec<Identifier>> {
        self.expect("(")?;
        self.list(b')', Self::identifier)
    }

    fn document(&mut self) -> R<Document> {
        if !self.keyword("version") {
            return unsupported();
        }
        let version = self.numeric()?;
        self.expect(";")?;
        let mut extension = Vec::new();
        while self.keyword("extension") {
            let id = self.identifier()?;
            self.ws();
            let rest = &self.s[self.pos..];
            let Some(len) = rest.iter().position(|&c| c == b';') else {
                return unsupported();
            };
            let text = std::str::from_utf8(&rest[..len]).or_else(|_| unsupported())?;
            extension.push((id, text.to_string()));
            self.pos += len + 1;
        }
        let mut fragments = Vec::new();
        while self.keyword("fragment") {
            fragments.push(self.fragment()?);
        }
        if !self.keyword("graph") {
            return unsupported();
        }
        let id = self.identifier()?;
        let parameters = self.identifier_list()?;
        self.expect("->")?;
        let results = self.identifier_list()?;
        let body = self.body()?;
        if self.peek().is_some() {
            return unsupported();
        }
        Ok(Document {
            version,
            extension,
            fragments,
            graph_def: GraphDef {
                id,
                parameters,
                results,
                body,
            },
        })
    }
}
