//! Reading scenario files: every shipped one, and every kind of mistake, named by step.

use super::*;

#[test]
fn every_shipped_scenario_reads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut read = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{}", e.0));
            assert!(scenario.description.is_some(), "{}", path.display());
            read += 1;
        }
    }
    assert!(read >= 3, "{read} scenarios in {}", dir.display());
}

#[test]
fn steps_read_as_acts_and_checks() {
    let scenario = Scenario::parse(
        "s",
        r#"
        description = "d"
        [testnet]
        nodes = 4
        latency = "50ms"

        [[step]]
        do = "partition"
        sides = [[0, 1], [2, 3]]

        [[step]]
        do = "link"
        from = 0
        to = 2
        loss = "5%"

        [[step]]
        do = "wait"
        for = "1.5s"

        [[step]]
        expect = "one_tip"
        within = "30s"

        [[step]]
        do = "attack"
        node = 1
        kind = "announce-flood"
        "#,
    )
    .unwrap();
    assert_eq!(scenario.steps.len(), 5);
    assert!(matches!(
        &scenario.steps[0],
        Step::Act(Act::Partition { sides }) if sides.to_string() == "0,1 / 2,3"
    ));
    assert!(matches!(
        &scenario.steps[2],
        Step::Act(Act::Wait { span }) if span.duration() == Duration::from_millis(1_500)
    ));
    assert!(matches!(
        &scenario.steps[3],
        Step::Check(Check::OneTip { within }) if within.duration() == Duration::from_secs(30)
    ));
    let link = match &scenario.steps[1] {
        Step::Act(act) => act.control(),
        Step::Check(_) => None,
    };
    assert!(matches!(link, Some(Control::Link(change)) if change.profile.loss.is_some()));
}

#[test]
fn a_mistake_is_named_with_its_step() {
    let step = |body: &str| {
        Scenario::parse("s", &format!("[[step]]\ndo = \"heal\"\n\n[[step]]\n{body}"))
            .unwrap_err()
            .to_string()
    };
    for (body, why) in [
        ("do = \"explode\"", "step 2: unknown variant `explode`"),
        ("do = \"kill\"", "step 2: missing field `node`"),
        (
            "do = \"kill\"\nnode = 1\nsignal = 9",
            "step 2: unknown field `signal`",
        ),
        ("do = \"wait\"\nfor = \"5\"", "is not a span of time"),
        ("do = \"wait\"\nfor = \"2h\"", "is not a span of time"),
        (
            "do = \"wait\"\nfor = \"61m\"",
            "longer than a scenario waits",
        ),
        // Past what a duration holds: refused, not a panic.
        (
            "do = \"wait\"\nfor = \"1e300m\"",
            "longer than a scenario waits",
        ),
        (
            "do = \"partition\"\nsides = [[0], [0]]",
            "node 0 is named twice",
        ),
        (
            "do = \"link\"\nfrom = 0\nto = 1\nlatency = \"fast\"",
            "is not a delay",
        ),
        (
            "do = \"flood\"\nnode = 0\nfrom = [0]\nto = 1\ncount = 10001",
            "at most 10000",
        ),
        (
            "do = \"flood\"\nnode = 0\nfrom = [0, 1]\nto = 2\ncount = 129",
            "at most 128 transfers",
        ),
        ("expect = \"miracle\"", "step 2: unknown variant `miracle`"),
        ("do = \"heal\"\nexpect = \"one_tip\"", "not both"),
        ("node = 1", "say what it does"),
    ] {
        let error = step(body);
        assert!(error.contains(why), "{body}: {error}");
    }
    assert!(Scenario::parse("s", "")
        .unwrap_err()
        .to_string()
        .contains("no [[step]]"));
    assert!(
        Scenario::parse("s", "[testnet]\nnodes = 0\n[[step]]\ndo = \"heal\"")
            .unwrap_err()
            .to_string()
            .contains("1 to 64 nodes")
    );
    assert!(Scenario::parse(
        "s",
        "[testnet]\nseeds_per_node = 0\n[[step]]\ndo = \"heal\""
    )
    .unwrap_err()
    .to_string()
    .contains("1 to 64 seeds"));
    assert!(
        Scenario::parse("s", "[testnet]\nnodez = 3\n[[step]]\ndo = \"heal\"")
            .unwrap_err()
            .to_string()
            .contains("unknown field `nodez`")
    );
}
