//! Arrival processes of synthetic workloads.
//!
//! Invariants: open-loop arrival times are non-decreasing and start at the first gap
//! (not at 0). Each gap is drawn in `f64` seconds and rounded to the nanosecond once;
//! constant arrivals are placed at `round(k / rate)` so they never drift. All draws come
//! from the [`crate::rng::Stream::Arrivals`] stream (think times: `Stream::Think`).

use rand_distr::{Distribution, Exp, Gamma};

use super::error::WorkloadError;
use super::file::ArrivalFile;
use crate::rng::SimRng;
use crate::time::{SimDuration, SimTime};

/// A validated arrival process.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Arrival {
    /// Exponential gaps, rate in requests per second.
    Poisson { rate_rps: f64 },
    /// Gamma gaps with coefficient of variation `cv`.
    Gamma { rate_rps: f64, cv: f64 },
    /// Deterministic gaps.
    Constant { rate_rps: f64 },
    /// `clients` closed-loop users with exponential think times (mean in ms).
    ClosedLoop { clients: u32, think_time_ms: f64 },
}

/// `Err(Invalid)` at `workload.arrival.<key>` unless `ok`.
fn check(ok: bool, key: &str, message: String) -> Result<(), WorkloadError> {
    if ok {
        Ok(())
    } else {
        Err(WorkloadError::invalid(
            format!("workload.arrival.{key}"),
            message,
        ))
    }
}

/// Checks a rate in requests per second.
fn check_rate(rate: f64) -> Result<(), WorkloadError> {
    check(
        rate.is_finite() && rate > 0.0,
        "rate-rps",
        format!("{rate} must be a finite rate > 0 requests/s"),
    )
}

impl Arrival {
    /// Validates `[workload.arrival]`.
    pub(crate) fn from_file(f: &ArrivalFile) -> Result<Arrival, WorkloadError> {
        Ok(match *f {
            ArrivalFile::Poisson { rate_rps } => {
                check_rate(rate_rps)?;
                Arrival::Poisson { rate_rps }
            }
            ArrivalFile::Gamma { rate_rps, cv } => {
                check_rate(rate_rps)?;
                check(
                    cv.is_finite() && cv > 0.0,
                    "cv",
                    format!("{cv} must be finite and > 0 (1 = Poisson)"),
                )?;
                Arrival::Gamma { rate_rps, cv }
            }
            ArrivalFile::Constant { rate_rps } => {
                check_rate(rate_rps)?;
                Arrival::Constant { rate_rps }
            }
            ArrivalFile::ClosedLoop {
                clients,
                think_time_ms,
            } => {
                check(clients >= 1, "clients", format!("{clients} must be >= 1"))?;
                let think_time_ms = think_time_ms.unwrap_or(0.0);
                check(
                    think_time_ms.is_finite() && think_time_ms >= 0.0,
                    "think-time-ms",
                    format!("{think_time_ms} must be finite and >= 0 ms"),
                )?;
                Arrival::ClosedLoop {
                    clients,
                    think_time_ms,
                }
            }
        })
    }

    /// One line for summaries, e.g. `poisson 10 req/s`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Arrival::Poisson { rate_rps } => format!("poisson {rate_rps} req/s"),
            Arrival::Gamma { rate_rps, cv } => format!("gamma {rate_rps} req/s cv {cv}"),
            Arrival::Constant { rate_rps } => format!("constant {rate_rps} req/s"),
            Arrival::ClosedLoop {
                clients,
                think_time_ms,
            } => format!("closed loop {clients} clients, think {think_time_ms} ms"),
        }
    }
}

/// How open-loop gaps are drawn.
#[derive(Clone, Debug)]
enum Gaps {
    /// Exponential gaps, seconds.
    Poisson(Exp<f64>),
    /// Gamma gaps, seconds.
    Gamma(Gamma<f64>),
    /// Arrival `k` (1-based) at `round(k / rate)` seconds.
    Constant { rate_rps: f64 },
}

/// Generates open-loop arrival times.
#[derive(Clone, Debug)]
pub(crate) struct ArrivalGen {
    /// The arrivals stream.
    rng: SimRng,
    /// The gap distribution.
    gaps: Gaps,
    /// The last arrival.
    now: SimTime,
    /// Arrivals generated so far.
    count: u64,
}

impl ArrivalGen {
    /// The generator of an open-loop process; `None` for a closed loop.
    pub(crate) fn new(a: &Arrival, rng: SimRng) -> Result<Option<ArrivalGen>, WorkloadError> {
        let bad = |e: String| WorkloadError::invalid("workload.arrival", e);
        let gaps = match *a {
            Arrival::Poisson { rate_rps } => {
                Gaps::Poisson(Exp::new(rate_rps).map_err(|e| bad(e.to_string()))?)
            }
            Arrival::Gamma { rate_rps, cv } => {
                let shape = 1.0 / (cv * cv);
                let scale = 1.0 / (rate_rps * shape);
                Gaps::Gamma(Gamma::new(shape, scale).map_err(|e| bad(e.to_string()))?)
            }
            Arrival::Constant { rate_rps } => Gaps::Constant { rate_rps },
            Arrival::ClosedLoop { .. } => return Ok(None),
        };
        Ok(Some(ArrivalGen {
            rng,
            gaps,
            now: SimTime::ZERO,
            count: 0,
        }))
    }

    /// The next arrival time (saturates at the end of time instead of overflowing).
    pub(crate) fn next_arrival(&mut self) -> SimTime {
        self.count += 1;
        self.now = match &self.gaps {
            Gaps::Poisson(d) => after(self.now, d.sample(&mut self.rng)),
            Gaps::Gamma(d) => after(self.now, d.sample(&mut self.rng)),
            Gaps::Constant { rate_rps } => SimTime::ZERO + secs(self.count as f64 / rate_rps),
        };
        self.now
    }
}

/// `s` seconds (finite, >= 0) as a duration, saturating at the largest one.
fn secs(s: f64) -> SimDuration {
    if s * 1e9 >= u64::MAX as f64 {
        SimDuration(u64::MAX)
    } else {
        SimDuration::from_secs_f64(s)
    }
}

/// `t` plus `gap_s` seconds, saturating.
fn after(t: SimTime, gap_s: f64) -> SimTime {
    SimTime(t.as_nanos().saturating_add(secs(gap_s).as_nanos()))
}

/// Closed-loop think times.
#[derive(Clone, Debug)]
pub(crate) struct ThinkGen {
    /// The think stream.
    rng: SimRng,
    /// Exponential think times, seconds; `None` when the mean is 0.
    dist: Option<Exp<f64>>,
}

impl ThinkGen {
    /// Think times with mean `mean_ms` milliseconds (>= 0; 0 gives zero).
    pub(crate) fn new(mean_ms: f64, rng: SimRng) -> Result<ThinkGen, WorkloadError> {
        let dist = if mean_ms > 0.0 {
            Some(Exp::new(1e3 / mean_ms).map_err(|e| {
                WorkloadError::invalid("workload.arrival.think-time-ms", e.to_string())
            })?)
        } else {
            None
        };
        Ok(ThinkGen { rng, dist })
    }

    /// One think time.
    pub(crate) fn next_think(&mut self) -> SimDuration {
        match &self.dist {
            Some(d) => secs(d.sample(&mut self.rng)),
            None => SimDuration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, Streams};
    use statrs::distribution::{ChiSquared, ContinuousCDF, Exp as SExp};

    fn arrivals(a: &Arrival, n: usize, seed: u64) -> Vec<SimTime> {
        let g = ArrivalGen::new(a, Streams::new(seed).get(Stream::Arrivals));
        let Ok(Some(mut g)) = g else {
            panic!("no generator")
        };
        (0..n).map(|_| g.next_arrival()).collect()
    }

    /// Gaps in seconds, the first one from t = 0.
    fn gaps(t: &[SimTime]) -> Vec<f64> {
        let mut prev = SimTime::ZERO;
        t.iter()
            .map(|&x| {
                let g = (x - prev).as_secs_f64();
                prev = x;
                g
            })
            .collect()
    }

    fn mean_cv(g: &[f64]) -> (f64, f64) {
        let n = g.len() as f64;
        let m = g.iter().sum::<f64>() / n;
        let var = g.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
        (m, var.sqrt() / m)
    }

    #[test]
    fn poisson_gaps_fit_the_exponential() {
        let rate = 8.0;
        let g = gaps(&arrivals(&Arrival::Poisson { rate_rps: rate }, 100_000, 7));
        let (m, _) = mean_cv(&g);
        assert!(((1.0 / m) / rate - 1.0).abs() < 0.02, "rate {}", 1.0 / m);
        // Chi-squared over 50 equiprobable bins of Exp(rate).
        let exp = SExp::new(rate).unwrap_or_else(|e| panic!("{e}"));
        let bins = 50usize;
        let mut counts = vec![0u64; bins];
        for &x in &g {
            let k = ((exp.cdf(x) * bins as f64) as usize).min(bins - 1);
            counts[k] += 1;
        }
        let e = g.len() as f64 / bins as f64;
        let chi2: f64 = counts.iter().map(|&c| (c as f64 - e).powi(2) / e).sum();
        let crit = ChiSquared::new((bins - 1) as f64)
            .unwrap_or_else(|e| panic!("{e}"))
            .inverse_cdf(0.99);
        assert!(chi2 < crit, "chi2 {chi2} >= {crit}");
        // Kolmogorov-Smirnov at alpha = 0.01.
        let mut s = g.clone();
        s.sort_by(f64::total_cmp);
        let n = s.len() as f64;
        let d = s
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let c = exp.cdf(x);
                (c - i as f64 / n).abs().max((c - (i + 1) as f64 / n).abs())
            })
            .fold(0.0, f64::max);
        assert!(d < 1.628 / n.sqrt(), "KS D = {d}");
    }

    #[test]
    fn gamma_gaps_have_the_target_cv_and_rate() {
        for cv in [0.5, 1.0, 2.0, 4.0] {
            let g = gaps(&arrivals(
                &Arrival::Gamma { rate_rps: 20.0, cv },
                200_000,
                11,
            ));
            let (m, c) = mean_cv(&g);
            assert!((c / cv - 1.0).abs() < 0.05, "cv {c} for target {cv}");
            assert!(((1.0 / m) / 20.0 - 1.0).abs() < 0.02, "rate {}", 1.0 / m);
        }
    }

    #[test]
    fn constant_gaps_are_exact_and_do_not_drift() {
        let t = arrivals(&Arrival::Constant { rate_rps: 4.0 }, 1000, 1);
        assert!(gaps(&t).iter().all(|&g| g == 0.25));
        let t = arrivals(&Arrival::Constant { rate_rps: 3.0 }, 1_000_000, 1);
        assert_eq!(t[0], SimTime(333_333_333));
        assert_eq!(t[1], SimTime(666_666_667));
        assert_eq!(t[999_999], SimTime(333_333_333_333_333));
    }

    #[test]
    fn think_times_are_exponential_with_the_mean() {
        let mut z = ThinkGen::new(0.0, Streams::new(1).get(Stream::Think))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(z.next_think(), SimDuration::ZERO);
        let mut t = ThinkGen::new(250.0, Streams::new(1).get(Stream::Think))
            .unwrap_or_else(|e| panic!("{e}"));
        let v: Vec<f64> = (0..100_000)
            .map(|_| t.next_think().as_millis_f64())
            .collect();
        let (m, c) = mean_cv(&v);
        assert!((m / 250.0 - 1.0).abs() < 0.02, "mean {m}");
        assert!((c - 1.0).abs() < 0.03, "cv {c}");
    }

    #[test]
    fn invalid_arrivals_name_the_field() {
        let e = |f: ArrivalFile| {
            Arrival::from_file(&f)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        for r in [-1.0, 0.0, f64::NAN, f64::INFINITY] {
            let m = e(ArrivalFile::Poisson { rate_rps: r });
            assert!(m.starts_with("workload.arrival.rate-rps: "), "{m}");
        }
        let m = e(ArrivalFile::Gamma {
            rate_rps: 1.0,
            cv: 0.0,
        });
        assert!(m.starts_with("workload.arrival.cv: "), "{m}");
        let m = e(ArrivalFile::ClosedLoop {
            clients: 0,
            think_time_ms: None,
        });
        assert!(m.starts_with("workload.arrival.clients: "), "{m}");
        let m = e(ArrivalFile::ClosedLoop {
            clients: 1,
            think_time_ms: Some(-5.0),
        });
        assert!(m.starts_with("workload.arrival.think-time-ms: "), "{m}");
    }
}
