//! A readable, stable text dump of the syntax tree, for snapshot tests.
//!
//! One node per line, indented by two spaces per level: `label: Kind@start..end details`.
//! The format is part of the test corpus (`tests/lang/ok/*.ast`), so change it deliberately.

use std::fmt::Write;

use super::ast::*;

pub(crate) fn dump(file: &SourceFile) -> String {
    let mut dumper = Dumper { out: String::new(), indent: 0 };
    dumper.line("", format_args!("SourceFile@{:?}", file.span));
    dumper.nested(|d| {
        for statement in &file.statements {
            d.statement(statement);
        }
    });
    dumper.out
}

struct Dumper {
    out: String,
    indent: usize,
}

impl Dumper {
    fn line(&mut self, label: &str, head: std::fmt::Arguments<'_>) {
        for _ in 0..self.indent {
            self.out.push_str("  ");
        }
        if !label.is_empty() {
            self.out.push_str(label);
            self.out.push_str(": ");
        }
        self.out.write_fmt(head).expect("writing to a String cannot fail");
        self.out.push('\n');
    }

    fn nested(&mut self, f: impl FnOnce(&mut Self)) {
        self.indent += 1;
        f(self);
        self.indent -= 1;
    }

    fn name(&mut self, label: &str, name: &Name) {
        self.line(label, format_args!("{:?}@{:?}", name.text, name.span));
    }

    fn statement(&mut self, statement: &Statement) {
        let span = statement.span;
        match &statement.kind {
            StatementKind::Class(class) => {
                self.line("", format_args!("Class@{span:?}"));
                self.nested(|d| {
                    d.name("name", &class.name);
                    d.params(&class.params);
                    if let Some(parent) = &class.parent {
                        d.name("inherits", parent);
                    }
                    d.block("body", &class.body);
                });
            }
            StatementKind::Define(define) => {
                self.line("", format_args!("Define@{span:?}"));
                self.nested(|d| {
                    d.name("name", &define.name);
                    d.params(&define.params);
                    d.block("body", &define.body);
                });
            }
            StatementKind::Node(node) => {
                self.line("", format_args!("Node@{span:?}"));
                self.nested(|d| {
                    for node_match in &node.matches {
                        let span = node_match.span;
                        match &node_match.kind {
                            NodeMatchKind::Name(name) => d.line("match", format_args!("Name@{span:?} {name:?}")),
                            NodeMatchKind::Regex(re) => d.line("match", format_args!("Regex@{span:?} /{re}/")),
                            NodeMatchKind::Default => d.line("match", format_args!("Default@{span:?}")),
                        }
                    }
                    d.block("body", &node.body);
                });
            }
            StatementKind::Function(function) => {
                self.line("", format_args!("Function@{span:?}"));
                self.nested(|d| {
                    d.name("name", &function.name);
                    d.params(&function.params);
                    if let Some(return_type) = &function.return_type {
                        d.expr("returns", return_type);
                    }
                    d.block("body", &function.body);
                });
            }
            StatementKind::Plan(plan) => {
                self.line("", format_args!("Plan@{span:?}"));
                self.nested(|d| {
                    d.name("name", &plan.name);
                    d.params(&plan.params);
                    d.block("body", &plan.body);
                });
            }
            StatementKind::TypeAlias(alias) => {
                self.line("", format_args!("TypeAlias@{span:?}"));
                self.nested(|d| {
                    d.name("name", &alias.name);
                    d.expr("value", &alias.value);
                });
            }
            StatementKind::Application(application) => {
                self.line("", format_args!("Application@{span:?}"));
                self.nested(|d| {
                    d.name("name", &application.name);
                    d.params(&application.params);
                    d.block("body", &application.body);
                });
            }
            StatementKind::Site(site) => {
                self.line("", format_args!("Site@{span:?}"));
                self.nested(|d| d.block("body", &site.body));
            }
            StatementKind::CapabilityMapping(mapping) => {
                let kind = match mapping.kind {
                    MappingKind::Produces => "produces",
                    MappingKind::Consumes => "consumes",
                };
                self.line("", format_args!("CapabilityMapping@{span:?} {kind}"));
                self.nested(|d| {
                    d.name("component", &mapping.component);
                    d.name("capability", &mapping.capability);
                    d.attributes(&mapping.attributes);
                });
            }
            StatementKind::Expr(expr) => self.expr("", expr),
        }
    }

    fn block(&mut self, label: &str, block: &Block) {
        self.line(label, format_args!("Block@{:?}", block.span));
        self.nested(|d| {
            for statement in &block.statements {
                d.statement(statement);
            }
        });
    }

    fn params(&mut self, params: &[Param]) {
        for param in params {
            let rest = if param.captures_rest { "*" } else { "" };
            self.line("param", format_args!("{rest}${}@{:?}", param.name.text, param.span));
            self.nested(|d| {
                if let Some(type_expr) = &param.type_expr {
                    d.expr("type", type_expr);
                }
                if let Some(default) = &param.default {
                    d.expr("default", default);
                }
            });
        }
    }

    fn attributes(&mut self, attributes: &[Attribute]) {
        for attribute in attributes {
            let op = match attribute.op {
                AttributeOp::Set => "=>",
                AttributeOp::Append => "+>",
            };
            self.line("attr", format_args!("{} {op}@{:?}", attribute.name.text, attribute.span));
            self.nested(|d| d.expr("", &attribute.value));
        }
    }

    fn lambda(&mut self, lambda: &Lambda) {
        self.line("lambda", format_args!("Lambda@{:?}", lambda.span));
        self.nested(|d| {
            d.params(&lambda.params);
            d.block("body", &lambda.body);
        });
    }

    fn exprs(&mut self, label: &str, exprs: &[Expr]) {
        for expr in exprs {
            self.expr(label, expr);
        }
    }

    fn expr(&mut self, label: &str, expr: &Expr) {
        let span = expr.span;
        match &expr.kind {
            ExprKind::Undef => self.line(label, format_args!("Undef@{span:?}")),
            ExprKind::Default => self.line(label, format_args!("Default@{span:?}")),
            ExprKind::Boolean(b) => self.line(label, format_args!("Boolean@{span:?} {b}")),
            ExprKind::Integer(n) => self.line(label, format_args!("Integer@{span:?} {n}")),
            ExprKind::Float(x) => self.line(label, format_args!("Float@{span:?} {x:?}")),
            ExprKind::String(s) => self.line(label, format_args!("String@{span:?} {s:?}")),
            ExprKind::Interpolated(parts) => {
                self.line(label, format_args!("Interpolated@{span:?}"));
                self.nested(|d| {
                    for part in parts {
                        match part {
                            StringPart::Text(text) => d.line("", format_args!("Text {text:?}")),
                            StringPart::Expr(expr) => d.expr("", expr),
                        }
                    }
                });
            }
            ExprKind::Heredoc(heredoc) => {
                let syntax = heredoc.syntax.as_deref().unwrap_or("");
                self.line(label, format_args!("Heredoc@{span:?} syntax={syntax:?}"));
                self.nested(|d| d.expr("text", &heredoc.text));
            }
            ExprKind::Regex(re) => self.line(label, format_args!("Regex@{span:?} /{re}/")),
            ExprKind::Variable(name) => self.line(label, format_args!("Variable@{span:?} ${name}")),
            ExprKind::Name(name) => self.line(label, format_args!("Name@{span:?} {name}")),
            ExprKind::TypeRef(name) => self.line(label, format_args!("TypeRef@{span:?} {name}")),
            ExprKind::Array(items) => {
                self.line(label, format_args!("Array@{span:?}"));
                self.nested(|d| d.exprs("", items));
            }
            ExprKind::Hash(entries) => {
                self.line(label, format_args!("Hash@{span:?}"));
                self.nested(|d| {
                    for entry in entries {
                        d.line("entry", format_args!("@{:?}", entry.span));
                        d.nested(|d| {
                            d.expr("key", &entry.key);
                            d.expr("value", &entry.value);
                        });
                    }
                });
            }
            ExprKind::Access { target, keys } => {
                self.line(label, format_args!("Access@{span:?}"));
                self.nested(|d| {
                    d.expr("target", target);
                    d.exprs("key", keys);
                });
            }
            ExprKind::Call(call) => {
                self.line(label, format_args!("Call@{span:?}"));
                self.nested(|d| {
                    d.expr("callee", &call.callee);
                    d.exprs("arg", &call.args);
                    if let Some(lambda) = &call.lambda {
                        d.lambda(lambda);
                    }
                });
            }
            ExprKind::MethodCall(call) => {
                self.line(label, format_args!("MethodCall@{span:?} .{}", call.method.text));
                self.nested(|d| {
                    d.expr("receiver", &call.receiver);
                    d.exprs("arg", &call.args);
                    if let Some(lambda) = &call.lambda {
                        d.lambda(lambda);
                    }
                });
            }
            ExprKind::Unary { op, operand } => {
                let op = match op {
                    UnaryOp::Neg => "-",
                    UnaryOp::Not => "!",
                    UnaryOp::Splat => "*",
                };
                self.line(label, format_args!("Unary@{span:?} {op}"));
                self.nested(|d| d.expr("", operand));
            }
            ExprKind::Binary { op, lhs, rhs } => {
                self.line(label, format_args!("Binary@{span:?} {}", op.as_str()));
                self.nested(|d| {
                    d.expr("", lhs);
                    d.expr("", rhs);
                });
            }
            ExprKind::Assign { op, target, value } => {
                let op = match op {
                    AssignOp::Assign => "=",
                    AssignOp::AddAssign => "+=",
                    AssignOp::SubAssign => "-=",
                };
                self.line(label, format_args!("Assign@{span:?} {op}"));
                self.nested(|d| {
                    d.expr("target", target);
                    d.expr("value", value);
                });
            }
            ExprKind::Relationship { op, lhs, rhs } => {
                self.line(label, format_args!("Relationship@{span:?} {}", op.as_str()));
                self.nested(|d| {
                    d.expr("", lhs);
                    d.expr("", rhs);
                });
            }
            ExprKind::Selector { subject, entries } => {
                self.line(label, format_args!("Selector@{span:?}"));
                self.nested(|d| {
                    d.expr("subject", subject);
                    for entry in entries {
                        d.line("entry", format_args!("@{:?}", entry.span));
                        d.nested(|d| {
                            d.expr("key", &entry.key);
                            d.expr("value", &entry.value);
                        });
                    }
                });
            }
            ExprKind::If(if_expr) => {
                self.line(label, format_args!("If@{span:?}"));
                self.nested(|d| {
                    for branch in &if_expr.branches {
                        d.line("branch", format_args!("@{:?}", branch.span));
                        d.nested(|d| {
                            d.expr("condition", &branch.condition);
                            d.block("body", &branch.body);
                        });
                    }
                    if let Some(else_body) = &if_expr.else_body {
                        d.block("else", else_body);
                    }
                });
            }
            ExprKind::Unless(unless) => {
                self.line(label, format_args!("Unless@{span:?}"));
                self.nested(|d| {
                    d.expr("condition", &unless.condition);
                    d.block("body", &unless.body);
                    if let Some(else_body) = &unless.else_body {
                        d.block("else", else_body);
                    }
                });
            }
            ExprKind::Case(case) => {
                self.line(label, format_args!("Case@{span:?}"));
                self.nested(|d| {
                    d.expr("subject", &case.subject);
                    for option in &case.options {
                        d.line("option", format_args!("@{:?}", option.span));
                        d.nested(|d| {
                            d.exprs("value", &option.values);
                            d.block("body", &option.body);
                        });
                    }
                });
            }
            ExprKind::Resource(resource) => {
                let form = match resource.form {
                    ResourceForm::Regular => "",
                    ResourceForm::Virtual => " virtual",
                    ResourceForm::Exported => " exported",
                };
                self.line(label, format_args!("Resource@{span:?}{form}"));
                self.nested(|d| {
                    d.expr("type", &resource.type_name);
                    for body in &resource.bodies {
                        d.line("body", format_args!("@{:?}", body.span));
                        d.nested(|d| {
                            d.expr("title", &body.title);
                            d.attributes(&body.attributes);
                        });
                    }
                });
            }
            ExprKind::ResourceDefaults { type_ref, attributes } => {
                self.line(label, format_args!("ResourceDefaults@{span:?}"));
                self.nested(|d| {
                    d.expr("type", type_ref);
                    d.attributes(attributes);
                });
            }
            ExprKind::ResourceOverride { target, attributes } => {
                self.line(label, format_args!("ResourceOverride@{span:?}"));
                self.nested(|d| {
                    d.expr("target", target);
                    d.attributes(attributes);
                });
            }
            ExprKind::Collector(collector) => {
                let kind = if collector.exported { "exported" } else { "virtual" };
                self.line(label, format_args!("Collector@{span:?} {kind}"));
                self.nested(|d| {
                    d.expr("type", &collector.type_ref);
                    if let Some(query) = &collector.query {
                        d.expr("query", query);
                    }
                    if let Some(overrides) = &collector.overrides {
                        d.line("overrides", format_args!("{}", overrides.len()));
                        d.attributes(overrides);
                    }
                });
            }
            ExprKind::Paren(inner) => {
                self.line(label, format_args!("Paren@{span:?}"));
                self.nested(|d| d.expr("", inner));
            }
            ExprKind::Error => self.line(label, format_args!("Error@{span:?}")),
        }
    }
}
