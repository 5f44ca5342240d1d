//! cost-based-routing: the cheapest deployment for this request.

use super::*;

fn priced(id: &str, input: f64, output: f64) -> ModelDeployment {
    ModelDeployment {
        input_cost_per_token: Some(input),
        output_cost_per_token: Some(output),
        cache_read_input_token_cost: None,
        cache_creation_input_token_cost: None,
        ..config(id)
    }
}

#[test]
fn cheapest_for_the_request_when_prices_cross() {
    // `cheap-in` is cheaper per input token, `cheap-out` per output token.
    let group = group(
        RoutingStrategy::CostBasedRouting,
        vec![
            priced("cheap-in", 1e-6, 10e-6),
            priced("cheap-out", 5e-6, 2e-6),
        ],
    );
    let long_input = Estimate {
        input_tokens: 10_000,
        output_tokens: 100,
    };
    let long_output = Estimate {
        input_tokens: 100,
        output_tokens: 10_000,
    };
    assert_eq!(spread(&group, &long_input, 50), vec![50, 0]);
    assert_eq!(spread(&group, &long_output, 50), vec![0, 50]);
}

#[test]
fn unknown_price_sorts_last_and_ties_go_at_random() {
    let group = group(
        RoutingStrategy::CostBasedRouting,
        vec![
            config("unknown"),
            priced("dear", 9e-6, 9e-6),
            priced("cheap-1", 1e-6, 1e-6),
            priced("cheap-2", 1e-6, 1e-6),
        ],
    );
    assert!(group.deployments[0].price().is_none());
    let estimate = Estimate {
        input_tokens: 1_000,
        output_tokens: 1_000,
    };
    let counts = spread(&group, &estimate, 400);
    assert_eq!((counts[0], counts[1]), (0, 0), "{counts:?}");
    assert!(counts[2] > 120 && counts[3] > 120, "{counts:?}");
    // Without the priced ones, the unknown one is still picked.
    assert_eq!(pick_id(&group, &[1, 2, 3]), "unknown");
    let dear = group.pick(&estimate, &[2, 3]).unwrap();
    assert_eq!(dear.deployment.config.deployment_id, "dear");
}

#[test]
fn the_builtin_table_prices_known_models() {
    let claude = ModelDeployment {
        model_id: "anthropic.claude-3-haiku-20240307-v1:0".into(),
        ..config("haiku")
    };
    let group = group(RoutingStrategy::CostBasedRouting, vec![claude]);
    assert!(group.deployments[0].price().is_some());
}
