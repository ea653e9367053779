//! The NNEF document as [`super::nnef_text`] reads it: the part of NNEF's syntax tract's
//! writer emits. The types mirror tract's own AST (`tract_nnef::ast`) name for name, so that
//! natively a document converts into tract's exactly ([`From`]) and the tests can compare
//! the two readers; the browser's build has no tract at all and uses these types alone.

/// A name in the graph (a tensor, an operator, a parameter).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Identifier(pub String);

/// A whole `graph.nnef`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    /// The `version` line's number, as written.
    pub version: String,
    /// `extension` lines: the extension's name and the rest of its line.
    pub extension: Vec<(Identifier, String)>,
    pub fragments: Vec<FragmentDef>,
    pub graph_def: GraphDef,
}

/// The `graph` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphDef {
    pub id: Identifier,
    pub parameters: Vec<Identifier>,
    pub results: Vec<Identifier>,
    pub body: Vec<Assignment>,
}

/// A `fragment`: a declaration, and a body unless it is a primitive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FragmentDef {
    pub decl: FragmentDecl,
    pub body: Option<Vec<Assignment>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FragmentDecl {
    pub id: Identifier,
    /// `<?>` or `<? = type>` after the name.
    pub generic_decl: Option<Option<TypeName>>,
    pub parameters: Vec<Parameter>,
    pub results: Vec<Result_>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parameter {
    pub id: Identifier,
    pub spec: TypeSpec,
    /// The default value.
    pub lit: Option<Literal>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Result_ {
    pub id: Identifier,
    pub spec: TypeSpec,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeSpec {
    Single(TypeName),
    Tensor(TypeName),
    Array(Box<TypeSpec>),
    Tuple(Vec<TypeSpec>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeName {
    Integer,
    Scalar,
    Logical,
    String,
    Any,
}

/// `left = right;`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub left: LValue,
    pub right: RValue,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LValue {
    Identifier(Identifier),
    Array(Vec<LValue>),
    Tuple(Vec<LValue>),
}

/// A value: the expressions tract's writer uses (no operators, subscripts,
/// comprehensions or conditionals).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RValue {
    Identifier(Identifier),
    Literal(Literal),
    Tuple(Vec<RValue>),
    Array(Vec<RValue>),
    Invocation(Invocation),
}

/// `op<type>(arguments)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    pub id: Identifier,
    pub generic_type_name: Option<TypeName>,
    pub arguments: Vec<Argument>,
}

/// A positional (`id: None`) or named argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Argument {
    pub id: Option<Identifier>,
    pub rvalue: RValue,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Literal {
    /// As written (tract keeps numbers as text too).
    Numeric(String),
    String(String),
    Logical(bool),
    Array(Vec<Literal>),
    Tuple(Vec<Literal>),
}

/// Natively, the same document in tract's types (tract's loader, and the tests comparing
/// this reader with tract's parser).
#[cfg(not(target_arch = "wasm32"))]
mod to_tract {
    use super::*;
    use tract_nnef::ast as t;

    fn id(i: Identifier) -> t::Identifier {
        t::Identifier(i.0)
    }
    fn ids(v: Vec<Identifier>) -> Vec<t::Identifier> {
        v.into_iter().map(id).collect()
    }
    fn type_name(n: TypeName) -> t::TypeName {
        match n {
            TypeName::Integer => t::TypeName::Integer,
            TypeName::Scalar => t::TypeName::Scalar,
            TypeName::Logical => t::TypeName::Logical,
            TypeName::String => t::TypeName::String,
            TypeName::Any => t::TypeName::Any,
        }
    }
    fn spec(s: TypeSpec) -> t::TypeSpec {
        match s {
            TypeSpec::Single(n) => t::TypeSpec::Single(type_name(n)),
            TypeSpec::Tensor(n) => t::TypeSpec::Tensor(type_name(n)),
            TypeSpec::Array(s) => t::TypeSpec::Array(Box::new(spec(*s))),
            TypeSpec::Tuple(v) => t::TypeSpec::Tuple(v.into_iter().map(spec).collect()),
        }
    }
    fn literal(l: Literal) -> t::Literal {
        match l {
            Literal::Numeric(s) => t::Literal::Numeric(s),
            Literal::String(s) => t::Literal::String(s),
            Literal::Logical(b) => t::Literal::Logical(b),
            Literal::Array(v) => t::Literal::Array(v.into_iter().map(literal).collect()),
            Literal::Tuple(v) => t::Literal::Tuple(v.into_iter().map(literal).collect()),
        }
    }
    fn lvalue(l: LValue) -> t::LValue {
        match l {
            LValue::Identifier(i) => t::LValue::Identifier(id(i)),
            LValue::Array(v) => t::LValue::Array(v.into_iter().map(lvalue).collect()),
            LValue::Tuple(v) => t::LValue::Tuple(v.into_iter().map(lvalue).collect()),
        }
    }
    fn rvalue(r: RValue) -> t::RValue {
        match r {
            RValue::Identifier(i) => t::RValue::Identifier(id(i)),
            RValue::Literal(l) => t::RValue::Literal(literal(l)),
            RValue::Tuple(v) => t::RValue::Tuple(v.into_iter().map(rvalue).collect()),
            RValue::Array(v) => t::RValue::Array(v.into_iter().map(rvalue).collect()),
            RValue::Invocation(inv) => t::RValue::Invocation(t::Invocation {
                id: id(inv.id),
                generic_type_name: inv.generic_type_name.map(type_name),
                arguments: inv
                    .arguments
                    .into_iter()
                    .map(|a| t::Argument {
                        id: a.id.map(id),
                        rvalue: rvalue(a.rvalue),
                    })
                    .collect(),
            }),
        }
    }
    fn body(v: Vec<Assignment>) -> Vec<t::Assignment> {
        v.into_iter()
            .map(|a| t::Assignment {
                left: lvalue(a.left),
                right: rvalue(a.right),
            })
            .collect()
    }

    impl From<Document> for t::Document {
        fn from(d: Document) -> t::Document {
            t::Document {
                version: d.version,
                extension: d.extension.into_iter().map(|(i, s)| (id(i), s)).collect(),
                fragments: d
                    .fragments
                    .into_iter()
                    .map(|f| t::FragmentDef {
                        decl: t::FragmentDecl {
                            id: id(f.decl.id),
                            generic_decl: f.decl.generic_decl.map(|g| g.map(type_name)),
                            parameters: f
                                .decl
                                .parameters
                                .into_iter()
                                .map(|p| t::Parameter {
                                    id: id(p.id),
                                    spec: spec(p.spec),
                                    lit: p.lit.map(literal),
                                    doc: None,
                                })
                                .collect(),
                            results: f
                                .decl
                                .results
                                .into_iter()
                                .map(|r| t::Result_ {
                                    id: id(r.id),
                                    spec: spec(r.spec),
                                })
                                .collect(),
                        },
                        body: f.body.map(body),
                    })
                    .collect(),
                graph_def: t::GraphDef {
                    id: id(d.graph_def.id),
                    parameters: ids(d.graph_def.parameters),
                    results: ids(d.graph_def.results),
                    body: body(d.graph_def.body),
                },
            }
        }
    }
}
