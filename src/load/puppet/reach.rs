//! What a component's code reaches: the file of its class or defined type, and the classes,
//! defined types, functions and type aliases written in Puppet that the code names, and
//! theirs, found by name as Puppet's autoloader finds them; and the modules whose templates,
//! files or plugins (Ruby functions and types) it uses. A component's code id covers exactly
//! these (`components.rs`), so upgrading a module it includes runs it again, and a change to
//! an unrelated defined type does not.
//!
//! A class or type named by a value only known when the code runs (`include $role`,
//! `hiera_include`, `create_resources($type, ...)`, a template path in a variable) could be
//! any of them: such code reaches [`Reached::Everything`], the whole module path.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::Parsed;
use super::layout::Layout;
use crate::lang::ast::{self, Block, Expr, ExprKind, StatementKind, StringPart};

/// What a definition's code reaches.
#[derive(Debug, PartialEq, Eq)]
pub enum Reached<'a> {
    /// These files (path and text) and modules, beyond the definition's own.
    Some { files: BTreeMap<&'a str, &'a str>, modules: BTreeSet<String> },
    /// Code that names what it uses at run time: all of the module path.
    Everything,
}

/// The statement that defines a name (the index keeps its file beside it).
enum Definition<'a> {
    Class(&'a ast::ClassDef),
    Define(&'a ast::DefineDef),
    Function(&'a ast::FunctionDef),
    Alias(&'a ast::TypeAlias),
}

/// The definitions of the module path and main manifest by name, and the modules that
/// provide Ruby functions and types.
pub struct Index<'a> {
    classes: HashMap<String, (Definition<'a>, &'a Parsed)>,
    defines: HashMap<String, (Definition<'a>, &'a Parsed)>,
    functions: HashMap<String, (Definition<'a>, &'a Parsed)>,
    aliases: HashMap<String, (Definition<'a>, &'a Parsed)>,
    /// Ruby functions and resource types (by lowercase name) to their module.
    ruby: HashMap<String, String>,
    /// Module directories with their trailing `/`, and their module names.
    module_dirs: Vec<(String, String)>,
}

impl<'a> Index<'a> {
    /// `ruby_functions` are the module path's Ruby function files by function name;
    /// `module_files` every file path of the module path (Ruby types are found among them).
    pub fn new<'f>(
        parsed: &'a [Parsed],
        layout: &Layout,
        ruby_functions: impl IntoIterator<Item = (&'f String, &'f String)>,
        module_files: impl IntoIterator<Item = &'f str>,
    ) -> Index<'a> {
        let module_dirs: Vec<(String, String)> =
            layout.modules.iter().map(|(name, dir)| (format!("{dir}/"), name.clone())).collect();
        let mut index = Index {
            classes: HashMap::new(),
            defines: HashMap::new(),
            functions: HashMap::new(),
            aliases: HashMap::new(),
            ruby: HashMap::new(),
            module_dirs,
        };
        for file in parsed {
            for statement in &file.file.statements {
                let lower = |name: &ast::Name| name.text.trim_start_matches("::").to_lowercase();
                match &statement.kind {
                    StatementKind::Class(class) => {
                        index.classes.entry(lower(&class.name)).or_insert((Definition::Class(class), file));
                    }
                    StatementKind::Define(define) => {
                        index.defines.entry(lower(&define.name)).or_insert((Definition::Define(define), file));
                    }
                    StatementKind::Function(function) => {
                        index.functions.entry(lower(&function.name)).or_insert((Definition::Function(function), file));
                    }
                    StatementKind::TypeAlias(alias) => {
                        index.aliases.entry(lower(&alias.name)).or_insert((Definition::Alias(alias), file));
                    }
                    _ => {}
                }
            }
        }
        for (name, path) in ruby_functions {
            if let Some(module) = index.module_of(path).map(str::to_string) {
                index.ruby.entry(name.to_lowercase()).or_insert(module);
            }
        }
        for path in module_files {
            let Some((dir, module)) = index.module_dirs.iter().find(|(dir, _)| path.starts_with(dir.as_str())) else {
                continue;
            };
            if let Some(name) =
                path[dir.len()..].strip_prefix("lib/puppet/type/").and_then(|rest| rest.strip_suffix(".rb"))
                && !name.contains('/')
            {
                let module = module.clone();
                index.ruby.entry(name.to_lowercase()).or_insert(module);
            }
        }
        index
    }

    /// The module a repository path is in, if any.
    fn module_of(&self, path: &str) -> Option<&str> {
        self.module_dirs.iter().find(|(dir, _)| path.starts_with(dir.as_str())).map(|(_, name)| name.as_str())
    }

    /// What the class (or defined type) `name` reaches, beyond its own file and module.
    pub fn reach(&self, name: &str, is_class: bool) -> Reached<'a> {
        let name = name.trim_start_matches("::").to_lowercase();
        let start = if is_class { self.classes.get(&name) } else { self.defines.get(&name) };
        let Some((_, own_file)) = start else {
            return Reached::Some { files: BTreeMap::new(), modules: BTreeSet::new() };
        };
        let mut walk = Walk::new(self);
        walk.files.insert(&own_file.path, &own_file.text);
        if let Some(module) = self.module_of(&own_file.path) {
            walk.modules.insert(module.to_string());
        }
        let own_modules = walk.modules.clone();
        walk.visit(if is_class { Kind::Class } else { Kind::Define }, &name);
        walk.files.remove(&*own_file.path);
        walk.modules.retain(|module| !own_modules.contains(module));
        walk.reached()
    }

    /// What the main manifest's top-scope code reaches: every node's run applies it.
    pub fn reach_top(&self, main_manifest: &'a [Parsed]) -> Reached<'a> {
        let mut walk = Walk::new(self);
        for file in main_manifest {
            for statement in &file.file.statements {
                if let StatementKind::Expr(expr) = &statement.kind {
                    walk.expr(expr, None);
                }
            }
        }
        walk.reached()
    }

    /// What a node definition reaches: the run of each node it applies to applies it.
    pub fn reach_node(&self, node: &ast::NodeDef) -> Reached<'a> {
        let mut walk = Walk::new(self);
        walk.block(&node.body, None);
        walk.reached()
    }
}

/// Which of the index's names a name is looked up among.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Class,
    Define,
    Function,
    Alias,
}

/// A walk of the code reached so far.
struct Walk<'i, 'a> {
    index: &'i Index<'a>,
    /// The definitions walked already.
    seen: HashSet<(Kind, String)>,
    files: BTreeMap<&'a str, &'a str>,
    modules: BTreeSet<String>,
    everything: bool,
}

impl<'i, 'a> Walk<'i, 'a> {
    fn new(index: &'i Index<'a>) -> Walk<'i, 'a> {
        Walk { index, seen: HashSet::new(), files: BTreeMap::new(), modules: BTreeSet::new(), everything: false }
    }

    fn reached(self) -> Reached<'a> {
        if self.everything {
            return Reached::Everything;
        }
        Reached::Some { files: self.files, modules: self.modules }
    }

    /// Walks the definition `name` of `kind`, unless it was walked already (its file is
    /// reached) or is not there (a built-in, or what Puppet itself would not find).
    fn visit(&mut self, kind: Kind, name: &str) {
        let index = self.index;
        let definitions = match kind {
            Kind::Class => &index.classes,
            Kind::Define => &index.defines,
            Kind::Function => &index.functions,
            Kind::Alias => &index.aliases,
        };
        let Some((definition, file)) = definitions.get(name) else { return };
        if !self.seen.insert((kind, name.to_string())) {
            return;
        }
        self.files.insert(&file.path, &file.text);
        let module = index.module_of(&file.path).map(str::to_string);
        if let Some(module) = &module {
            self.modules.insert(module.clone());
        }
        match definition {
            Definition::Class(class) => {
                self.params(&class.params, module.as_deref());
                if let Some(parent) = &class.parent {
                    let parent = parent.text.trim_start_matches("::").to_lowercase();
                    self.visit(Kind::Class, &parent);
                }
                self.block(&class.body, module.as_deref());
            }
            Definition::Define(define) => {
                self.params(&define.params, module.as_deref());
                self.block(&define.body, module.as_deref());
            }
            Definition::Function(function) => {
                self.params(&function.params, module.as_deref());
                self.block(&function.body, module.as_deref());
            }
            Definition::Alias(alias) => self.expr(&alias.value, module.as_deref()),
        }
    }

    fn params(&mut self, params: &[ast::Param], module: Option<&str>) {
        for param in params {
            for expr in param.type_expr.iter().chain(&param.default) {
                self.expr(expr, module);
            }
        }
    }

    fn block(&mut self, block: &Block, module: Option<&str>) {
        for statement in &block.statements {
            // Definitions nested in a body are only definitions; what names them is walked.
            if let StatementKind::Expr(expr) = &statement.kind {
                self.expr(expr, module);
            }
        }
    }

    fn exprs<'e>(&mut self, exprs: impl IntoIterator<Item = &'e Expr>, module: Option<&str>) {
        for expr in exprs {
            self.expr(expr, module);
        }
    }

    fn expr(&mut self, expr: &Expr, module: Option<&str>) {
        if self.everything {
            return;
        }
        match &expr.kind {
            ExprKind::String(text) => self.module_url(text),
            ExprKind::Interpolated(parts) => {
                for part in parts {
                    match part {
                        StringPart::Text(text) => self.module_url(text),
                        StringPart::Expr(expr) => self.expr(expr, module),
                    }
                }
            }
            ExprKind::Heredoc(heredoc) => self.expr(&heredoc.text, module),
            ExprKind::TypeRef(name) => {
                let name = name.trim_start_matches("::").to_lowercase();
                self.visit(Kind::Alias, &name);
                self.ruby(&name);
            }
            ExprKind::Array(items) => self.exprs(items, module),
            ExprKind::Hash(entries) => {
                for entry in entries {
                    self.expr(&entry.key, module);
                    self.expr(&entry.value, module);
                }
            }
            ExprKind::Access { target, keys } => {
                self.expr(target, module);
                self.exprs(keys, module);
            }
            ExprKind::Call(call) => {
                match &call.callee.kind {
                    ExprKind::Name(name) => self.call(name, &call.args.iter().collect::<Vec<_>>(), module),
                    _ => self.expr(&call.callee, module),
                }
                self.exprs(&call.args, module);
                if let Some(lambda) = &call.lambda {
                    self.params(&lambda.params, module);
                    self.block(&lambda.body, module);
                }
            }
            ExprKind::MethodCall(call) => {
                let args: Vec<&Expr> = std::iter::once(&*call.receiver).chain(&call.args).collect();
                self.call(&call.method.text, &args, module);
                self.expr(&call.receiver, module);
                self.exprs(&call.args, module);
                if let Some(lambda) = &call.lambda {
                    self.params(&lambda.params, module);
                    self.block(&lambda.body, module);
                }
            }
            ExprKind::Unary { operand, .. } => self.expr(operand, module),
            ExprKind::Binary { lhs, rhs, .. } | ExprKind::Relationship { lhs, rhs, .. } => {
                self.expr(lhs, module);
                self.expr(rhs, module);
            }
            ExprKind::Assign { target, value, .. } => {
                self.expr(target, module);
                self.expr(value, module);
            }
            ExprKind::Selector { subject, entries } => {
                self.expr(subject, module);
                for entry in entries {
                    self.expr(&entry.key, module);
                    self.expr(&entry.value, module);
                }
            }
            ExprKind::If(branches) => {
                for branch in &branches.branches {
                    self.expr(&branch.condition, module);
                    self.block(&branch.body, module);
                }
                if let Some(body) = &branches.else_body {
                    self.block(body, module);
                }
            }
            ExprKind::Unless(unless) => {
                self.expr(&unless.condition, module);
                self.block(&unless.body, module);
                if let Some(body) = &unless.else_body {
                    self.block(body, module);
                }
            }
            ExprKind::Case(case) => {
                self.expr(&case.subject, module);
                for option in &case.options {
                    self.exprs(&option.values, module);
                    self.block(&option.body, module);
                }
            }
            ExprKind::Resource(resource) => {
                self.resource(&resource.type_name, &resource.bodies, module);
                for body in &resource.bodies {
                    self.expr(&body.title, module);
                    self.exprs(body.attributes.iter().map(|attribute| &attribute.value), module);
                }
            }
            ExprKind::ResourceDefaults { type_ref, attributes } => {
                self.expr(type_ref, module);
                self.exprs(attributes.iter().map(|attribute| &attribute.value), module);
            }
            ExprKind::ResourceOverride { target, attributes } => {
                self.expr(target, module);
                self.exprs(attributes.iter().map(|attribute| &attribute.value), module);
            }
            ExprKind::Collector(collector) => {
                self.expr(&collector.type_ref, module);
                self.exprs(collector.query.as_deref(), module);
                self.exprs(collector.overrides.iter().flatten().map(|attribute| &attribute.value), module);
            }
            ExprKind::Paren(inner) => self.expr(inner, module),
            ExprKind::Undef
            | ExprKind::Default
            | ExprKind::Boolean(_)
            | ExprKind::Integer(_)
            | ExprKind::Float(_)
            | ExprKind::Regex(_)
            | ExprKind::Variable(_)
            | ExprKind::Name(_)
            | ExprKind::Error => {}
        }
    }

    /// A call of the function `name` with `args` (a method call's receiver first).
    fn call(&mut self, name: &str, args: &[&Expr], module: Option<&str>) {
        let name = name.trim_start_matches("::").to_lowercase();
        match name.as_str() {
            "include" | "require" | "contain" => {
                let named = args.iter().map(|arg| literal_names(arg)).collect::<Option<Vec<_>>>();
                self.classes(named.map(|names| names.concat()));
            }
            "create_resources" | "ensure_resource" | "ensure_resources" => {
                match args.first().and_then(|arg| literal_names(arg)).as_deref() {
                    Some([type_name]) => self.resource_type(type_name),
                    _ => self.everything = true,
                }
            }
            "hiera_include" => self.everything = true,
            // Every argument of `template` and `file` is a path; `epp`'s second is its
            // parameters.
            "template" | "file" => {
                for path in args {
                    self.module_file(path, module);
                }
            }
            "epp" => {
                if let Some(path) = args.first() {
                    self.module_file(path, module);
                }
            }
            _ => {
                self.visit(Kind::Function, &name);
                self.ruby(&name);
            }
        }
    }

    /// A resource expression: a class declared like a resource, a defined type, or a type of
    /// a module's plugins.
    fn resource(&mut self, type_name: &Expr, bodies: &[ast::ResourceBody], module: Option<&str>) {
        let name = match &type_name.kind {
            ExprKind::Name(name) | ExprKind::TypeRef(name) => name.trim_start_matches("::").to_lowercase(),
            _ => {
                self.expr(type_name, module);
                self.everything = true;
                return;
            }
        };
        if name == "class" {
            let titles = bodies.iter().filter(|body| body.title.kind != ExprKind::Default);
            let named = titles.map(|body| literal_names(&body.title)).collect::<Option<Vec<_>>>();
            self.classes(named.map(|names| names.concat()));
        } else {
            self.resource_type(&name);
        }
    }

    fn resource_type(&mut self, name: &str) {
        let name = name.trim_start_matches("::").to_lowercase();
        if name == "class" {
            self.everything = true;
            return;
        }
        self.visit(Kind::Define, &name);
        self.ruby(&name);
    }

    fn classes(&mut self, named: Option<Vec<String>>) {
        match named {
            Some(names) => {
                for name in names {
                    self.visit(Kind::Class, &name.trim_start_matches("::").to_lowercase());
                }
            }
            None => self.everything = true,
        }
    }

    fn ruby(&mut self, name: &str) {
        if let Some(module) = self.index.ruby.get(name) {
            self.modules.insert(module.clone());
        }
    }

    /// A path of a module's file (`'mod/x.erb'`, `"${module_name}/x.epp"`): its module is
    /// reached. An absolute path is in no module; a path only a run knows could be in any.
    fn module_file(&mut self, path: &Expr, module: Option<&str>) {
        let written = match &path.kind {
            ExprKind::String(path) => path.as_str(),
            ExprKind::Interpolated(parts) => match parts.as_slice() {
                [StringPart::Expr(variable), StringPart::Text(rest), ..]
                    if matches!(&variable.kind, ExprKind::Variable(name) if name == "module_name")
                        && rest.starts_with('/') =>
                {
                    self.modules.extend(module.map(str::to_string));
                    return;
                }
                [StringPart::Text(text), ..] => text.as_str(),
                _ => "",
            },
            _ => "",
        };
        match written.split_once('/') {
            Some(("", _)) => {}
            Some((name, _)) => {
                self.modules.insert(name.to_lowercase());
            }
            None => self.everything = true,
        }
    }

    /// `puppet:///modules/NAME/...` in a string: a file of module NAME.
    fn module_url(&mut self, text: &str) {
        for (start, _) in text.match_indices("puppet:///modules/") {
            let rest = &text[start + "puppet:///modules/".len()..];
            if let Some(name) = rest.split('/').next().filter(|name| !name.is_empty()) {
                self.modules.insert(name.to_lowercase());
            }
        }
    }
}

/// The class (or type) names an argument gives literally: `'a'`, `a`, `Class['a']`, or an
/// array of them; `None` for a value computed when the code runs.
fn literal_names(expr: &Expr) -> Option<Vec<String>> {
    match &expr.kind {
        ExprKind::String(name) | ExprKind::Name(name) => Some(vec![name.clone()]),
        ExprKind::Array(items) => {
            items.iter().map(literal_names).collect::<Option<Vec<_>>>().map(|names| names.concat())
        }
        ExprKind::Access { target, keys } if matches!(&target.kind, ExprKind::TypeRef(name) if name == "Class") => {
            keys.iter().map(literal_names).collect::<Option<Vec<_>>>().map(|names| names.concat())
        }
        ExprKind::Paren(inner) => literal_names(inner),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn parsed(files: &[(&str, &str)]) -> Vec<Parsed> {
        files
            .iter()
            .map(|(path, text)| {
                let parse = crate::lang::parse(text);
                assert!(parse.errors.is_empty(), "{path}: {:?}", parse.errors);
                Parsed { path: Arc::from(*path), text: text.to_string(), file: parse.file }
            })
            .collect()
    }

    fn layout(modules: &[&str]) -> Layout {
        Layout {
            modulepath: vec!["modules".into()],
            manifests: vec!["manifests/site.pp".into()],
            modules: modules.iter().map(|name| (name.to_string(), format!("modules/{name}"))).collect(),
        }
    }

    fn shown(reached: Reached) -> String {
        match reached {
            Reached::Everything => "everything".into(),
            Reached::Some { files, modules } => format!(
                "{} | {}",
                files.keys().copied().collect::<Vec<_>>().join(" "),
                modules.into_iter().collect::<Vec<_>>().join(" ")
            ),
        }
    }

    #[test]
    fn code_reaches_what_it_names_and_what_that_names() {
        let files = parsed(&[
            (
                "modules/app/manifests/web.pp",
                "define app::web(Apache::Port $port = app::default_port()) {\n\
                 include apache\n\
                 apache::vhost { $title: content => template('apache/vhost.erb') }\n\
                 mysql_database { $title: }\n\
                 file { '/etc/motd': source => 'puppet:///modules/motd/motd', content => epp(\"${module_name}/x.epp\", { 'a' => $a }) }\n\
                 file { '/etc/issue': content => file('/etc/issue.net', 'motd/issue') }\n\
                 }\n",
            ),
            ("modules/app/manifests/unrelated.pp", "define app::unrelated { include nginx }\n"),
            ("modules/app/functions/default_port.pp", "function app::default_port() { 80 }\n"),
            ("modules/apache/manifests/init.pp", "class apache inherits apache::params { }\n"),
            ("modules/apache/manifests/params.pp", "class apache::params { $x = 1 }\n"),
            ("modules/apache/manifests/vhost.pp", "define apache::vhost($content) { }\n"),
            ("modules/apache/types/port.pp", "type Apache::Port = Integer[1, 65535]\n"),
            ("modules/nginx/manifests/init.pp", "class nginx { }\n"),
        ]);
        let paths = ["modules/mysql/lib/puppet/type/mysql_database.rb", "modules/mysql/lib/puppet/provider/x.rb"];
        let index = Index::new(&files, &layout(&["app", "apache", "mysql", "nginx", "motd"]), &BTreeMap::new(), paths);
        assert_eq!(
            shown(index.reach("app::web", false)),
            "modules/apache/manifests/init.pp modules/apache/manifests/params.pp modules/apache/manifests/vhost.pp \
             modules/apache/types/port.pp modules/app/functions/default_port.pp | apache motd mysql"
        );
        assert_eq!(shown(index.reach("App::Unrelated", false)), "modules/nginx/manifests/init.pp | nginx");
        assert_eq!(shown(index.reach("nginx", true)), " | ");
        let main =
            parsed(&[("manifests/site.pp", "include nginx\nnode default { include $facts['role'] }\nsite { }\n")]);
        assert_eq!(shown(index.reach_top(&main)), "modules/nginx/manifests/init.pp | nginx");
        let StatementKind::Node(node) = &main[0].file.statements[1].kind else { unreachable!() };
        assert_eq!(index.reach_node(node), Reached::Everything);
    }

    #[test]
    fn what_only_a_run_can_name_reaches_everything() {
        for body in [
            "include $role",
            "class { $role: }",
            "hiera_include('classes')",
            "lookup('classes').include",
            "create_resources($type, {})",
            "file { '/x': content => template($path) }",
        ] {
            let files = parsed(&[("modules/app/manifests/web.pp", &format!("define app::web {{ {body} }}\n"))]);
            let index = Index::new(&files, &layout(&["app"]), &BTreeMap::new(), []);
            assert_eq!(index.reach("app::web", false), Reached::Everything, "{body}");
        }
        let files = parsed(&[(
            "modules/app/manifests/web.pp",
            "define app::web { include ['a', Class['b']] create_resources('app::db', {}) }\n",
        )]);
        let index = Index::new(&files, &layout(&["app"]), &BTreeMap::new(), []);
        assert_eq!(shown(index.reach("app::web", false)), " | ");
    }
}
