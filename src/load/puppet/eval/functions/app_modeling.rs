//! puppetlabs-app_modeling's helpers for dynamic applications, over an application's
//! `$nodes` hash (`{ Node['a'] => [Web['x'], ...], ... }`).

use super::Call;
use crate::load::puppet::eval::{EvalResult, Evaluator, Scope};
use crate::load::puppet::value::{DataType, Value};

/// The type name the second argument names: `Wordpress_app::Web`, or `Resource['web']`.
fn target(call: &Call) -> EvalResult<String> {
    match &call.args[1] {
        Value::Type(DataType::Resource(name) | DataType::Other(name)) => Ok(crate::model::capitalize_type(name)),
        Value::String(name) => Ok(crate::model::capitalize_type(name)),
        other => Err(call.bad_argument("a component Type", other)),
    }
}

/// The node hash's entries, each node with its components as a list.
fn assignments<'a>(call: &'a Call) -> EvalResult<Vec<(&'a Value, Vec<&'a Value>)>> {
    let Value::Hash(entries) = &call.args[0] else { return Err(call.bad_argument("a Hash", &call.args[0])) };
    Ok(entries
        .iter()
        .map(|(node, components)| match components {
            Value::Array(items) => (node, items.iter().collect()),
            one => (node, vec![one]),
        })
        .collect())
}

fn is_a(component: &Value, type_name: &str) -> bool {
    matches!(component, Value::Reference { type_name: name, .. } if name == type_name)
}

/// `collect_component_titles($nodes, Type)`: the titles of every component of that type.
pub fn collect_component_titles(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let type_name = target(call)?;
    let mut titles = Vec::new();
    for (_, components) in assignments(call)? {
        for component in components {
            if let Value::Reference { title, .. } = component
                && is_a(component, &type_name)
            {
                titles.push(Value::String(title.clone()));
            }
        }
    }
    Ok(Value::Array(titles))
}

/// `collect_component_nodes($nodes, Type)`: the nodes that have a component of that type.
pub fn collect_component_nodes(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let type_name = target(call)?;
    let mut nodes = Vec::new();
    for (node, components) in assignments(call)? {
        if components.iter().any(|component| is_a(component, &type_name))
            && let Value::Reference { title, .. } = node
        {
            nodes.push(Value::String(title.clone()));
        }
    }
    Ok(Value::Array(nodes))
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use crate::load::puppet::eval::testing::check;

    #[test]
    fn components_of_a_type() {
        check(
            "$nodes = { Node['a'] => [Wordpress_app::Web['w1'], Wordpress_app::Lb['l1']], Node['b'] => Wordpress_app::Web['w2'] }
             [collect_component_titles($nodes, Wordpress_app::Web), collect_component_nodes($nodes, wordpress_app::lb)]",
            expect![[r#"
            [['w1', 'w2'], ['a']]
        "#]],
        );
    }
}
