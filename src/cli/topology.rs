//! `check`, `scenario` and `import`: topologies validated, operated on and written.

use eipsim::import;
use eipsim::model::{self, Cloud, scenario};

use super::args::{CheckArgs, ImportArgs, ImportSource, ScenarioArgs};
use super::{CliError, emit};

/// `eipsim check`: the addresses each instance's OS shows.
pub(super) fn check(a: CheckArgs) -> Result<(), CliError> {
    let cloud = Cloud::load(&a.file).map_err(|e| CliError::Input(e.to_string()))?;
    let limit = (!a.all).then_some(model::CHECK_LIST_LIMIT);
    emit(&eipsim::guest::view::guest_view_limited(&cloud, limit))
}

/// `eipsim scenario`: each step and the final state; exit 1 when a step differs.
pub(super) fn scenario(a: ScenarioArgs) -> Result<(), CliError> {
    let mut sc =
        scenario::load_scenario(&a.file).map_err(|e| CliError::Input(format!("scenario {e}")))?;
    let results = scenario::run_scenario(&mut sc);
    let guests = eipsim::guest::view::settled(&sc.cloud);
    let lines = eipsim::guest::view::Lines {
        guests: &guests,
        cloud: &sc.cloud,
    };
    emit(&scenario::scenario_report(&sc, &a.file, &results, &lines))?;
    if results.iter().all(|r| r.as_expected) {
        Ok(())
    } else {
        Err(CliError::Reported)
    }
}

/// `eipsim import`: notes on stderr, the topology on stdout or in FILE.
pub(super) fn import(a: ImportArgs) -> Result<(), CliError> {
    let failed = |e: import::ImportError| CliError::Input(format!("import: {e}"));
    let region = a.region.as_deref();
    let imported = match a.source {
        ImportSource::Terraform => import::import_terraform(&a.input, region),
        ImportSource::Aliyun => import::import_aliyun(&a.input, region),
    }
    .map_err(failed)?;
    for n in &imported.notes {
        eprintln!("note: {n}");
    }
    match a.output {
        None => emit(&imported.toml),
        Some(path) => import::write_atomically(&path, &imported.toml).map_err(failed),
    }
}
