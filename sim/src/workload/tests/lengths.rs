//! Lengths: joint rows, empirical files (plain, gzip, malformed), jitter.

use super::*;

#[test]
fn joint_rows_keep_input_and_output_together() {
    let p = scratch("joint.csv");
    write(&p, b"a,b,c\n10,1,x\n20,2,y\n30,3,z\n");
    let text = format!(
        r#"
[workload]
requests = 500
[workload.arrival]
kind = "constant"
rate-rps = 100
[workload.lengths]
kind = "empirical-joint"
path = "{}"
input-column = "a"
output-column = "b"
"#,
        p.display()
    );
    let w = workload(&text);
    let r = open_all(&w, 4);
    assert!(r.iter().all(|r| r.input_tokens == 10 * r.output_tokens));
    for v in [10, 20, 30] {
        assert!(r.iter().any(|r| r.input_tokens == v));
    }
    // Relative paths resolve against the scenario folder.
    let rel = text.replace(&p.display().to_string(), "joint.csv");
    let f = parse(&rel).unwrap_or_else(|e| panic!("{e}"));
    let dir = p.parent().unwrap_or(Path::new("."));
    assert!(Workload::from_file(f, dir).is_ok());
}

#[test]
fn empirical_file_gzip_is_detected_by_magic_bytes() {
    let p = scratch("lengths.data");
    write(&p, &gzip(b"n\n5\n7\n"));
    let w = workload(&format!(
        r#"
[workload]
requests = 200
[workload.arrival]
kind = "poisson"
rate-rps = 1
[workload.input-tokens]
kind = "empirical"
path = "{}"
column = "n"
[workload.output-tokens]
kind = "empirical"
path = "builtin:azure-2023-code"
"#,
        p.display()
    ));
    let r = open_all(&w, 4);
    assert!(r.iter().all(|r| r.input_tokens == 5 || r.input_tokens == 7));
    assert!(r.iter().any(|r| r.input_tokens == 5) && r.iter().any(|r| r.input_tokens == 7));
}

#[test]
fn malformed_empirical_file_names_file_line_and_column() {
    let p = scratch("bad.csv");
    write(&p, b"n\n5\nfive\n");
    let text = format!(
        r#"
[workload]
requests = 2
[workload.arrival]
kind = "poisson"
rate-rps = 1
[workload.input-tokens]
kind = "empirical"
path = "{}"
column = "n"
[workload.output-tokens]
kind = "fixed"
tokens = 3
"#,
        p.display()
    );
    let w = workload(&text);
    let e = WorkloadGen::new(&w, &Streams::new(1))
        .err()
        .map(|e| e.to_string());
    let e = e.unwrap_or_default();
    assert!(e.starts_with(&format!("{}:3: n: ", p.display())), "{e}");
    let w = workload(&text.replace("column = \"n\"", "column = \"m\""));
    let e = WorkloadGen::new(&w, &Streams::new(1))
        .err()
        .map(|e| e.to_string());
    let e = e.unwrap_or_default();
    assert!(e.starts_with("workload.input-tokens.column: "), "{e}");
}

#[test]
fn jitter_on_fixed_lengths_moves_only_its_own_stream() {
    let text = |jitter: &str| {
        format!(
            "[workload]\nrequests = 500\n[workload.arrival]\nkind = \"closed-loop\"\nclients = 4\n\
             [workload.input-tokens]\nkind = \"fixed\"\ntokens = 1000\n{jitter}\n\
             [workload.output-tokens]\nkind = \"fixed\"\ntokens = 100\njitter = 0.1\n"
        )
    };
    let closed = |w: &Workload| {
        let mut g = generator(w, 4);
        std::iter::from_fn(|| g.next_closed(SimTime::ZERO)).collect::<Vec<_>>()
    };
    let plain = closed(&workload(&text("")));
    let jittered = closed(&workload(&text("jitter = 0.05")));
    assert!(plain.iter().all(|r| r.input_tokens == 1000));
    assert!(
        jittered
            .iter()
            .all(|r| (950..=1050).contains(&r.input_tokens))
    );
    // The output lengths come from their own stream: unchanged.
    let out = |v: &[RequestSpec]| v.iter().map(|r| r.output_tokens).collect::<Vec<_>>();
    assert_eq!(out(&plain), out(&jittered));
    assert!(out(&plain).iter().all(|&o| (90..=110).contains(&o)));
    assert!(
        workload(&text("jitter = 0.05"))
            .describe()
            .contains("input fixed 1000 tok ±5%; output fixed 100 tok ±10%")
    );
}
