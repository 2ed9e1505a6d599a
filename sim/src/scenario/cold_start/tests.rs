//! Unit tests of `[cold-start]`: closed forms, presets and validation errors.

use super::*;

const GIB: u64 = 1 << 30;

#[test]
fn four_replicas_share_the_store() {
    let c = ColdStartConfig::default();
    let t = load_seconds(641 * GIB, 4, &c);
    // 4 x 641 GiB = 2753.2 GB over 12.5 GB/s = 220.3 s.
    let want = 4.0 * 641.0 * GIB as f64 / 12.5e9;
    assert!((t - want).abs() < 1e-9, "{t} vs {want}");
    assert!((t - 220.25).abs() < 0.1, "{t}");
    // One alone takes a quarter.
    assert!((load_seconds(641 * GIB, 1, &c) - want / 4.0).abs() < 1e-9);
}

#[test]
fn local_cache_does_not_share() {
    let c = ColdStartConfig {
        local_cache: true,
        ..Default::default()
    };
    // 641 GiB at 25 GB/s, whatever the number of loaders.
    let want = 641.0 * GIB as f64 / 25e9;
    assert!((load_seconds(641 * GIB, 4, &c) - want).abs() < 1e-9);
}

#[test]
fn startup_adds_the_phases() {
    let c = ColdStartConfig::default();
    let t = c.startup_seconds(641 * GIB, 4);
    let want = 5.0 + 60.0 + 4.0 * 641.0 * GIB as f64 / 12.5e9 + 30.0;
    assert!((t - want).abs() < 1e-9);
    assert_eq!(c.startup(0, 1), SimDuration(95_000_000_000));
}

#[test]
fn validation_names_fields() {
    let file = Path::new("s.toml");
    let field = |e: ScenarioError| match e {
        ScenarioError::Invalid { field, .. } => field,
        other => panic!("not an Invalid error: {other:?}"),
    };
    let f = ColdStartFile {
        storage_gbit_s: Some(0.0),
        ..Default::default()
    };
    let e = ColdStartConfig::from_file(file, &f).unwrap_err();
    assert_eq!(field(e), "cold-start.storage-gbit-s");
    let f = ColdStartFile {
        warmup_s: Some(-1.0),
        ..Default::default()
    };
    let e = ColdStartConfig::from_file(file, &f).unwrap_err();
    assert_eq!(
        e.to_string(),
        "s.toml: cold-start.warmup-s: must be in [0, 10000000] seconds, got -1.0"
    );
    assert_eq!(field(e), "cold-start.warmup-s");
    assert_eq!(
        ColdStartConfig::from_file(file, &ColdStartFile::default()).unwrap(),
        ColdStartConfig::default()
    );
}

/// The `[cold-start]` of a TOML snippet, validated as file `s.toml`.
fn parse(toml_text: &str) -> Result<ColdStartConfig, ScenarioError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    struct Doc {
        cold_start: ColdStartFile,
    }
    let doc: Doc = toml::from_str(toml_text).expect("parses");
    ColdStartConfig::from_file(Path::new("s.toml"), &doc.cold_start)
}

/// The field and message of an `Invalid` error.
fn invalid(e: ScenarioError) -> (String, String) {
    match e {
        ScenarioError::Invalid { field, message, .. } => (field, message),
        other => panic!("not an Invalid error: {other:?}"),
    }
}

const R1: f64 = 641.0 * GIB as f64;

#[test]
fn without_mount_or_preset_nothing_changes() {
    let c = parse("[cold-start]\nstorage-gbit-s = 100\nlocal-cache = true\n").unwrap();
    assert_eq!(c.storage, None);
    // The store's bandwidth is the link rate itself, as before the storage model.
    assert_eq!(c.store_bytes_per_s(), 12.5e9);
    assert_eq!(c.load_phases(R1, 8, 4, false), None);
}

#[test]
fn presets_fill_defaults_that_keys_override() {
    let c = parse("[cold-start]\npreset = \"oss-mount\"\n").unwrap();
    let s = c.storage.as_ref().unwrap();
    assert_eq!(s.mount, Mount::Fuse);
    assert_eq!(s.client_gb_s, storage::FUSE_CLIENT_GB_S);
    assert_eq!(s.network_efficiency, 1448.0 / 1538.0);
    assert_eq!(s.tensor_load_gb_s_per_gpu, 1.5);
    assert_eq!(s.pcie_gb_s_per_gpu, 50.0);
    assert!(!s.image_layer_cache);
    assert_eq!(s.checkpoint_bytes, None);
    let c = parse("[cold-start]\npreset = \"fluid-prefetch\"\n").unwrap();
    assert_eq!(c.storage.as_ref().unwrap().mount, Mount::Csi);
    assert_eq!(c.storage.as_ref().unwrap().client_gb_s, 7.1);
    let c = parse("[cold-start]\npreset = \"fluid-cache\"\ncache-worker-gbit-s = 25\n").unwrap();
    let s = c.storage.as_ref().unwrap();
    assert_eq!(
        s.mount,
        Mount::DistributedCache {
            workers: 16,
            worker_gbit_s: 25.0
        }
    );
    assert_eq!(s.preset, Some(ColdStartPreset::FluidCache));
    // An explicit mount wins over the preset's.
    let c = parse("[cold-start]\npreset = \"fluid-cache\"\nmount = \"csi\"\nclient-gb-s = 2\n")
        .unwrap();
    let s = c.storage.as_ref().unwrap();
    assert_eq!((s.mount, s.client_gb_s), (Mount::Csi, 2.0));
    let c = parse("[cold-start]\nmount = \"local-nvme\"\nclient-gb-s = 6\ncheckpoint-gib = 2\n")
        .unwrap();
    assert_eq!(
        c.storage.as_ref().unwrap().checkpoint_bytes,
        Some(2.0 * GIB as f64)
    );
}

#[test]
fn closed_forms_for_identical_loaders() {
    let goodput = 12.5e9 * 1448.0 / 1538.0;
    // FUSE: each client is the bound, however many load (4 x 0.355 GB/s << the store).
    let c = parse("[cold-start]\npreset = \"oss-mount\"\n").unwrap();
    let p = c.load_phases(R1, 8, 4, false).unwrap();
    assert_eq!(p.cache_warmup_s, 0.0);
    assert!((p.fetch_s - R1 / 0.355e9).abs() < 1e-9, "{p:?}");
    assert!((p.tensor_load_s - R1 / 12e9).abs() < 1e-9, "{p:?}");
    assert_eq!(c.load_phases(R1, 8, 1, false), Some(p));
    // Parallel readers: 4 loaders share the store's goodput (2.94 GB/s each < 7.1).
    let c = parse("[cold-start]\npreset = \"fluid-prefetch\"\n").unwrap();
    let p = c.load_phases(R1, 8, 4, false).unwrap();
    assert!((p.fetch_s - 4.0 * R1 / goodput).abs() < 1e-9, "{p:?}");
    // One loader alone is capped by its client, not the store.
    let one = c.load_phases(R1, 8, 1, false).unwrap();
    assert!((one.fetch_s - R1 / 7.1e9).abs() < 1e-9, "{one:?}");
    // Distributed cache: one fill from the store, then fetches from the workers.
    let c = parse("[cold-start]\npreset = \"fluid-cache\"\n").unwrap();
    let cold = c.load_phases(R1, 8, 4, false).unwrap();
    assert!(
        (cold.cache_warmup_s - R1 / goodput).abs() < 1e-9,
        "{cold:?}"
    );
    assert!((cold.fetch_s - R1 / 7.1e9).abs() < 1e-9, "{cold:?}");
    let warm = c.load_phases(R1, 8, 4, true).unwrap();
    assert_eq!(warm.cache_warmup_s, 0.0);
    assert_eq!(warm.fetch_s, cold.fetch_s);
    assert!((cold.total_s() - warm.total_s() - cold.cache_warmup_s).abs() < 1e-9);
    // 16 workers of 1 Gbit/s: their aggregate bounds both the fill and the fetches.
    let c = parse("[cold-start]\npreset = \"fluid-cache\"\ncache-worker-gbit-s = 1\n").unwrap();
    let workers = 16.0 * 1e9 / 8.0 * 1448.0 / 1538.0;
    let p = c.load_phases(R1, 8, 4, false).unwrap();
    assert!((p.cache_warmup_s - R1 / workers).abs() < 1e-9, "{p:?}");
    assert!((p.fetch_s - 4.0 * R1 / workers).abs() < 1e-9, "{p:?}");
    // PCIe bounds the tensor load when the loader is faster.
    let c = parse("[cold-start]\npreset = \"oss-mount\"\ntensor-load-gb-s-per-gpu = 80\n").unwrap();
    let p = c.load_phases(R1, 8, 1, false).unwrap();
    assert!((p.tensor_load_s - R1 / 400e9).abs() < 1e-9, "{p:?}");
    // Local NVMe: from the store on a cold node, from the disk once warm.
    let c = parse("[cold-start]\nmount = \"local-nvme\"\nclient-gb-s = 6\n").unwrap();
    let cold = c.load_phases(R1, 8, 4, false).unwrap();
    assert!((cold.fetch_s - 4.0 * R1 / goodput).abs() < 1e-9, "{cold:?}");
    let warm = c.load_phases(R1, 8, 4, true).unwrap();
    assert!((warm.fetch_s - R1 / 6e9).abs() < 1e-9, "{warm:?}");
}

#[test]
fn storage_keys_need_a_mount() {
    let (field, message) = invalid(parse("[cold-start]\nclient-gb-s = 2\n").unwrap_err());
    assert_eq!(field, "cold-start.client-gb-s");
    assert!(
        message.contains("cold-start.mount or cold-start.preset"),
        "{message}"
    );
    let (field, _) = invalid(parse("[cold-start]\nimage-layer-cache = true\n").unwrap_err());
    assert_eq!(field, "cold-start.image-layer-cache");
}

#[test]
fn validation_errors_name_field_value_and_range() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "preset = \"oss-mount\"\nclient-gb-s = 0",
            "cold-start.client-gb-s",
            "must be in [0.001, 1000000] GB/s, got 0.0",
        ),
        (
            "preset = \"oss-mount\"\nnetwork-efficiency = 1.5",
            "cold-start.network-efficiency",
            "must be in [0.001, 1], got 1.5",
        ),
        (
            "preset = \"oss-mount\"\ncheckpoint-gib = -1",
            "cold-start.checkpoint-gib",
            "must be in [0.001, 1000000] GiB, got -1.0",
        ),
        (
            "preset = \"fluid-cache\"\ncache-workers = 0",
            "cold-start.cache-workers",
            "must be in [1, 16384], got 0",
        ),
        (
            "preset = \"fluid-cache\"\ncache-worker-gbit-s = inf",
            "cold-start.cache-worker-gbit-s",
            "must be in [0.001, 1000000] Gbit/s, got inf",
        ),
        (
            "preset = \"oss-mount\"\ntensor-load-gb-s-per-gpu = 0",
            "cold-start.tensor-load-gb-s-per-gpu",
            "must be in [0.001, 1000000] GB/s, got 0.0",
        ),
        (
            "preset = \"oss-mount\"\npcie-gb-s-per-gpu = nan",
            "cold-start.pcie-gb-s-per-gpu",
            "must be in [0.001, 1000000] GB/s, got NaN",
        ),
        (
            "mount = \"local-nvme\"",
            "cold-start.client-gb-s",
            "required with mount = \"local-nvme\": the node's NVMe read rate, GB/s",
        ),
        (
            "mount = \"distributed-cache\"\ncache-worker-gbit-s = 10",
            "cold-start.cache-workers",
            "required with mount = \"distributed-cache\" (or preset = \"fluid-cache\")",
        ),
        (
            "mount = \"distributed-cache\"\ncache-workers = 4",
            "cold-start.cache-worker-gbit-s",
            "required with mount = \"distributed-cache\" (or preset = \"fluid-cache\")",
        ),
        (
            "preset = \"oss-mount\"\ncache-workers = 4",
            "cold-start.cache-workers",
            "only with mount = \"distributed-cache\", not \"fuse\"",
        ),
        (
            "preset = \"fluid-prefetch\"\nlocal-cache = true",
            "cold-start.local-cache",
            "the always-warm node cache cannot be combined with `mount` or `preset`; use \
             mount = \"local-nvme\" (cold on a node until its first load)",
        ),
        (
            "mount = \"csi\"\ncache-gbit-s = 200",
            "cold-start.cache-gbit-s",
            "belongs to `local-cache`, which `mount` or `preset` replaces; set client-gb-s \
             instead",
        ),
    ];
    for (body, want_field, want_message) in cases {
        let e = parse(&format!("[cold-start]\n{body}\n")).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("s.toml: {want_field}: {want_message}"),
            "{body}"
        );
        let (field, _) = invalid(e);
        assert_eq!(&field, want_field);
    }
}

#[test]
fn unknown_names_fail_to_parse() {
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    struct Doc {
        #[allow(dead_code)]
        cold_start: ColdStartFile,
    }
    for body in ["preset = \"ossfs\"", "mount = \"nfs\"", "client-gbps = 1"] {
        let e = toml::from_str::<Doc>(&format!("[cold-start]\n{body}\n")).unwrap_err();
        assert!(!e.to_string().is_empty(), "{body}");
    }
}
