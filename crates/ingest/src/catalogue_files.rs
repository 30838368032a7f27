//! Catalogue files given on the command line (the `compute` command), rather than by configuration.

use std::collections::BTreeSet;
use std::path::Path;

use contract::{Catalogue, Problems, SourceText};

use crate::IngestError;

/// The catalogue files of a `compute` run.
pub struct CatalogueFiles<'a> {
    pub indicators: &'a Path,
    pub entities: Option<&'a Path>,
    pub targets: Option<&'a Path>,
    /// Standards (达标 checklists), optional.
    pub standards: Option<&'a Path>,
    /// The observations, whose entity codes stand in for an entities file when none is given.
    pub observations: &'a Path,
}

fn read(path: &Path) -> Result<String, IngestError> {
    let bytes = crate::read_contract_file("catalogue", path)?;
    String::from_utf8(bytes).map_err(|error| {
        let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() as u64 + 1;
        IngestError::Decode { source_name: "catalogue".into(), path: path.display().to_string(), line, encoding: "UTF-8" }
    })
}

/// Reads and checks the catalogue. Without an entities file, every entity code in the
/// observations is accepted as an entity of its own, with no parent.
pub fn load_catalogue(files: &CatalogueFiles<'_>) -> Result<Catalogue, Result<Problems, IngestError>> {
    let indicators = read(files.indicators).map_err(Err)?;
    let targets = match files.targets {
        Some(path) => read(path).map_err(Err)?,
        None => "entity,indicator,comparator,target,deadline\n".to_string(),
    };
    let entities = match files.entities {
        Some(path) => read(path).map_err(Err)?,
        None => {
            let text = read(files.observations).map_err(Err)?;
            let mut problems = Problems::default();
            let path = files.observations.display().to_string();
            let rows = contract::read_table(&path, &text, &["entity"], &mut problems);
            let codes: BTreeSet<String> = rows.iter().filter_map(|r| r.get("entity").map(str::to_string)).collect();
            let mut out = String::from("code,name,level\n");
            for code in codes {
                out.push_str(&format!("\"{0}\",\"{0}\",pilot\n", code.replace('"', "\"\"")));
            }
            out
        }
    };
    let [entities_path, indicators_path, targets_path] = [
        files.entities.map_or_else(|| "(entities from the observations)".to_string(), |p| p.display().to_string()),
        files.indicators.display().to_string(),
        files.targets.map_or_else(|| "(no targets)".to_string(), |p| p.display().to_string()),
    ];
    let mut catalogue = Catalogue::load(
        SourceText { path: &entities_path, text: &entities },
        SourceText { path: &indicators_path, text: &indicators },
        SourceText { path: &targets_path, text: &targets },
    )
    .map_err(Ok)?;
    if let Some(path) = files.standards {
        let text = read(path).map_err(Err)?;
        catalogue.load_standards(SourceText { path: &path.display().to_string(), text: &text }).map_err(Ok)?;
    }
    Ok(catalogue)
}
