//! The controller's drift checks: the real `ordo serve` checks its environment's nodes on a
//! timer, records `drift` jobs, counts what drifted in its metrics and, with
//! `drift = "correct"`, applies again what a hand changed.

mod support;

use std::time::Duration;

use support::Repo;
use support::serve::Served;

#[test]
fn the_controller_finds_drift_and_corrects_it_when_asked() {
    let repo = Repo::example("lamp");
    repo.git_init();
    repo.commit("the LAMP site");
    let served = Served::start(repo.path(), "drift_interval = \"1s\"\ndrift = \"correct\"\n");
    assert_eq!(served.wait_for_job(1)["state"], "success");
    let conf = served.state().join("nodes/dev4.example.net/webapp-app1-3.conf");
    let applied = std::fs::read_to_string(&conf).unwrap();
    served.wait_until("a drift check found everything in sync", Duration::from_secs(30), |served| {
        served.jobs().iter().any(|job| job["kind"] == "drift" && job["state"] == "success")
    });

    std::fs::write(&conf, "listen = 1\n").unwrap();
    served.wait_until("the drift is corrected", Duration::from_secs(30), |_| {
        std::fs::read_to_string(&conf).unwrap_or_default() == applied
    });
    // The file is right again as soon as the script ran; the job ends a moment later.
    served.wait_until("the correcting job ends", Duration::from_secs(30), |served| {
        served
            .jobs()
            .iter()
            .any(|job| job["kind"] == "apply" && job["trigger"] == "schedule" && !job["finished_at"].is_null())
    });
    let jobs = served.jobs();
    let drifted = jobs
        .iter()
        .find(|job| job["kind"] == "drift" && job["summary"].as_str().unwrap().starts_with("Drifted: 1 of 8"))
        .unwrap_or_else(|| panic!("{jobs:#?}"));
    assert_eq!(drifted["trigger"], "schedule");
    let correction = jobs
        .iter()
        .find(|job| job["kind"] == "apply" && job["trigger"] == "schedule")
        .unwrap_or_else(|| panic!("{jobs:#?}"));
    assert!(correction["summary"].as_str().unwrap().starts_with("Success: 1 node in 1 group"), "{correction}");
    let metrics = served.get("/metrics").1;
    let metrics = metrics.as_str().unwrap();
    assert!(metrics.contains("ordo_drift_checks_total{environment=\"production\",result=\"drifted\"}"), "{metrics}");
    assert!(metrics.contains("ordo_drifted_components{environment=\"production\"}"), "{metrics}");
}
