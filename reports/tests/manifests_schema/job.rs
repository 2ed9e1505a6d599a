//! The Indexed Job of `xpyd plan --emit-job` and its scenario ConfigMap.

use crate::schema::yaml_docs;
use crate::specs::errors_of;
use serde_json::json;

/// The Indexed Job of `xpyd plan --emit-job` and its scenario ConfigMap (with a binary
/// file, as a gzipped trace would be): valid `batch/v1` Job and `v1` ConfigMap objects,
/// the volumes wired to the ConfigMap and the claim; broken copies are caught.
#[test]
fn plan_job_and_configmap_validate() {
    use xpyd_reports::manifests::job::{JobFile, PlanJobSpec, emit_plan_job, plan_job_objects};
    let spec = PlanJobSpec {
        name: "qwen-plan".into(),
        namespace: "planning".into(),
        image: "ghcr.io/xpyd/xpyd:0.1.0".into(),
        shards: 4,
        cpus: 4,
        pvc: "plans".into(),
        scenario: Some("chat.toml".into()),
        files: vec![
            JobFile {
                path: "chat.toml".into(),
                bytes: b"name = \"chat\"\n".to_vec(),
            },
            JobFile {
                path: "traces/conv.jsonl.gz".into(),
                bytes: vec![0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe],
            },
        ],
        plan_args: vec!["--tp".into(), "2,4".into()],
    };
    let objs = plan_job_objects(&spec).unwrap();
    assert_eq!(objs.len(), 2);
    for (file, o) in &objs {
        assert_eq!(errors_of(o), Vec::<String>::new(), "{file}");
    }
    // The YAML files parse back to the same objects.
    for ((file, text), (_, o)) in emit_plan_job(&spec).unwrap().iter().zip(&objs) {
        assert_eq!(&yaml_docs(text), &vec![o.clone()], "{file}");
    }
    let (cm, job) = (&objs[0].1, &objs[1].1);
    assert_eq!(cm["kind"], "ConfigMap");
    assert!(cm["binaryData"]["traces__conv.jsonl.gz"].is_string());
    let s = &job["spec"];
    assert_eq!(s["completionMode"], "Indexed");
    assert_eq!(
        (s["completions"].as_u64(), s["parallelism"].as_u64()),
        (Some(4), Some(4))
    );
    let pod = &s["template"]["spec"];
    assert_eq!(
        pod["volumes"][0]["configMap"]["name"],
        cm["metadata"]["name"]
    );
    assert_eq!(
        pod["volumes"][1]["persistentVolumeClaim"]["claimName"],
        "plans"
    );
    let args: Vec<&str> = pod["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        args.windows(2)
            .any(|w| w == ["--shard", "$(JOB_COMPLETION_INDEX)/4"])
    );

    // Broken Jobs: a wrong type, an unknown field, an undeclared $(VAR), a bad restart policy.
    let mut bad = job.clone();
    bad["spec"]["completions"] = json!("four");
    assert!(!errors_of(&bad).is_empty());
    let mut bad = job.clone();
    bad["spec"]["completionsMode"] = json!("Indexed");
    assert!(!errors_of(&bad).is_empty());
    let mut bad = job.clone();
    bad["spec"]["template"]["spec"]["containers"][0]["env"] = json!([]);
    assert!(
        errors_of(&bad)
            .iter()
            .any(|e| e.contains("JOB_COMPLETION_INDEX"))
    );
    let mut bad = job.clone();
    bad["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
    assert!(errors_of(&bad).iter().any(|e| e.contains("restartPolicy")));
    // Broken ConfigMaps: an unknown field, a wrong type, a bad key.
    let mut bad = cm.clone();
    bad["spec"] = json!({});
    assert!(!errors_of(&bad).is_empty());
    let mut bad = cm.clone();
    bad["data"]["chat.toml"] = json!(3);
    assert!(!errors_of(&bad).is_empty());
    let mut bad = cm.clone();
    bad["data"]["a/b"] = json!("x");
    assert!(!errors_of(&bad).is_empty());

    // Files a ConfigMap cannot hold, or cannot mount, are errors.
    let mut big = spec.clone();
    big.files[1].bytes = vec![0xff; 900_000];
    let e = plan_job_objects(&big).unwrap_err().to_string();
    assert!(
        e.contains("traces/conv.jsonl.gz") && e.contains("1 MiB"),
        "{e}"
    );
    let mut up = spec.clone();
    up.files[1].path = "../x.csv".into();
    assert!(plan_job_objects(&up).is_err());
}
