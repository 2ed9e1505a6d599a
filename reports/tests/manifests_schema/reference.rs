//! The reference set: the upstream examples validate, every CRD version in
//! `shared/reference` compiles to a strict schema, and the vendored copies match it.

use crate::schema::{data, read_text, strict, yaml_docs};
use crate::validate::validate_object;
use std::path::{Path, PathBuf};

#[test]
fn reference_examples_validate() {
    let dir = data().join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut checked = 0;
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        for doc in yaml_docs(&read_text(&f)) {
            let kind = doc["kind"].as_str().unwrap_or("");
            if !matches!(
                kind,
                "RoleBasedGroup" | "InferencePool" | "Service" | "HorizontalPodAutoscaler"
            ) {
                continue;
            }
            let errs = validate_object(&doc, false);
            if name.contains("inference-pools") {
                // The envsubst template (`${POOL_NAME}`, `${TARGET_PORTS}`) must fail.
                assert!(!errs.is_empty(), "{name}: template validated");
            } else {
                assert!(errs.is_empty(), "{name}: {kind}:\n{}", errs.join("\n"));
            }
            checked += 1;
        }
    }
    assert!(checked >= 25, "checked only {checked} documents");
}

/// `shared/reference` beside the repository, when this checkout has it.
fn shared_reference() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    [
        root.join("../shared/reference"),
        root.join("shared/reference"),
    ]
    .into_iter()
    .find(|p| p.join("crds").is_dir())
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml") {
            out.push(p);
        }
    }
}

#[test]
fn every_shared_crd_compiles_and_vendored_copies_match() {
    let Some(shared) = shared_reference() else {
        eprintln!("shared/reference not present: checked the vendored copies only");
        return;
    };
    // Every version of every CRD in the reference set becomes a strict JSON Schema that
    // compiles (the transform is not specific to the CRDs we emit).
    let mut files = Vec::new();
    yaml_files(&shared.join("crds"), &mut files);
    files.sort();
    let mut versions = 0;
    for f in &files {
        for doc in yaml_docs(&read_text(f)) {
            if doc["kind"] != "CustomResourceDefinition" {
                continue;
            }
            for v in doc["spec"]["versions"].as_array().unwrap() {
                let s = strict(&v["schema"]["openAPIV3Schema"]);
                jsonschema::validator_for(&s)
                    .unwrap_or_else(|e| panic!("{} {}: {e}", f.display(), v["name"]));
                versions += 1;
            }
        }
    }
    assert!(versions >= 20, "only {versions} CRD versions");
    // The vendored copies are the reference files, byte for byte.
    for (vendored, reference) in [
        (
            "crds/workloads.x-k8s.io_rolebasedgroups.yaml.gz",
            "crds/rbg/workloads.x-k8s.io_rolebasedgroups.yaml",
        ),
        (
            "crds/workloads.x-k8s.io_rolebasedgroupscalingadapters.yaml",
            "crds/rbg/workloads.x-k8s.io_rolebasedgroupscalingadapters.yaml",
        ),
        (
            "crds/inference.networking.k8s.io_inferencepools.v1.yaml",
            "crds/gaie/inference.networking.k8s.io_inferencepools.v1.yaml",
        ),
        (
            "crds/keda.sh_scaledobjects.yaml",
            "crds/keda/keda.sh_scaledobjects.yaml",
        ),
    ] {
        assert_eq!(
            read_text(&data().join(vendored)),
            read_text(&shared.join(reference)),
            "{vendored} differs from shared/reference/{reference}"
        );
    }
    let mut examples = Vec::new();
    yaml_files(&data().join("examples"), &mut examples);
    for f in examples {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let sub = if name.starts_with("llm-d") {
            "gaie"
        } else {
            "rbg"
        };
        assert_eq!(
            read_text(&f),
            read_text(&shared.join("examples").join(sub).join(&name)),
            "{name} differs from shared/reference"
        );
    }
}
