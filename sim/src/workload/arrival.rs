//! Arrival processes of synthetic workloads.
//!
//! Invariants: open-loop arrival times are non-decreasing and start at the first gap
//! (not at 0). Each gap is drawn in `f64` seconds and rounded to the nanosecond once;
//! constant arrivals are placed at `round(k / rate)` so they never drift. A rate schedule
//! is a non-homogeneous Poisson process sampled by thinning (Lewis-Shedler): candidates
//! at the schedule's peak rate, each kept with probability `rate(t) / peak`, so it is
//! exact for any schedule and streams in O(1) memory. All draws come from the
//! [`crate::rng::Stream::Arrivals`] stream (think times: `Stream::Think`).

use rand_distr::{Distribution, Exp, Gamma};

use super::error::WorkloadError;
use rand::RngExt;

use super::file::{ArrivalFile, Interpolation, RatePointFile};
use crate::limits::{
    CV_RANGE, MAX_CLIENTS, MAX_MS, MAX_RATE_RPS, MAX_SCHEDULE_POINTS, MAX_SECS, MIN_RATE_RPS,
};
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
    /// Poisson with a time-varying rate.
    Schedule(RateSchedule),
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

/// Checks a rate in requests per second: in `[MIN_RATE_RPS, MAX_RATE_RPS]`.
pub(crate) fn check_rate(rate: f64) -> Result<(), WorkloadError> {
    check(
        rate_in_range(rate),
        "rate-rps",
        format!("{rate:?} must be in [{MIN_RATE_RPS}, {MAX_RATE_RPS}] requests/s"),
    )
}

/// Whether `rate` (requests/s) is in `[MIN_RATE_RPS, MAX_RATE_RPS]`.
pub(crate) fn rate_in_range(rate: f64) -> bool {
    rate.is_finite() && (MIN_RATE_RPS..=MAX_RATE_RPS).contains(&rate)
}

/// A validated piecewise rate schedule.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RateSchedule {
    /// `(at_s, rate_rps)`, the first at 0 s, times strictly increasing.
    points: Vec<(f64, f64)>,
    /// Hold each rate until the next point instead of ramping.
    step: bool,
    /// Period of the repetition, seconds (> the last point's time).
    period_s: Option<f64>,
    /// The highest rate, req/s (> 0).
    peak_rps: f64,
}

impl RateSchedule {
    /// Validates the points of `kind = "schedule"`.
    fn from_file(
        points: &[RatePointFile],
        interpolation: Option<Interpolation>,
        repeat_s: Option<f64>,
    ) -> Result<RateSchedule, WorkloadError> {
        let at = |i: usize, key: &str| format!("points[{i}].{key}");
        check(
            !points.is_empty() && points.len() <= MAX_SCHEDULE_POINTS,
            "points",
            format!(
                "has {} points, must have 1 to {MAX_SCHEDULE_POINTS}",
                points.len()
            ),
        )?;
        let mut out: Vec<(f64, f64)> = Vec::with_capacity(points.len());
        for (i, p) in points.iter().enumerate() {
            check(
                p.rate_rps == 0.0 || rate_in_range(p.rate_rps),
                &at(i, "rate-rps"),
                format!(
                    "{} must be 0 or in [{MIN_RATE_RPS}, {MAX_RATE_RPS}] requests/s",
                    p.rate_rps
                ),
            )?;
            match out.last() {
                None => check(
                    p.at_s == 0.0,
                    &at(i, "at-s"),
                    format!("{} s: the first point must be at 0 s", p.at_s),
                )?,
                Some(&(prev, _)) => check(
                    p.at_s.is_finite() && p.at_s > prev && p.at_s <= MAX_SECS,
                    &at(i, "at-s"),
                    format!(
                        "{} s must be after the previous point ({prev} s) and <= {MAX_SECS} s",
                        p.at_s
                    ),
                )?,
            }
            out.push((p.at_s, p.rate_rps));
        }
        let last = out.len() - 1;
        let (last_at, last_rate) = out[last];
        if let Some(r) = repeat_s {
            check(
                r.is_finite() && r > last_at && r <= MAX_SECS,
                "repeat-s",
                format!("{r} s must be after the last point ({last_at} s) and <= {MAX_SECS} s"),
            )?;
        } else {
            check(
                last_rate > 0.0,
                &at(last, "rate-rps"),
                "the schedule ends at rate 0 without repeat-s, so the requests would never \
                 all arrive"
                    .into(),
            )?;
        }
        let peak_rps = out.iter().map(|p| p.1).fold(0.0, f64::max);
        check(
            peak_rps > 0.0,
            "points",
            "every rate is 0: no request would arrive".into(),
        )?;
        Ok(RateSchedule {
            points: out,
            step: interpolation.unwrap_or_default() == Interpolation::Step,
            period_s: repeat_s,
            peak_rps,
        })
    }

    /// The rate at `t_s` seconds since the start, req/s.
    pub(crate) fn rate_at(&self, t_s: f64) -> f64 {
        let t = match self.period_s {
            Some(p) => t_s.rem_euclid(p),
            None => t_s,
        };
        // points[0] is at 0 <= t, so the partition point is >= 1.
        let i = self.points.partition_point(|p| p.0 <= t).saturating_sub(1);
        let (t0, r0) = self.points[i];
        if self.step {
            return r0;
        }
        let (t1, r1) = match (self.points.get(i + 1), self.period_s) {
            (Some(&p), _) => p,
            (None, Some(period)) => (period, self.points[0].1),
            (None, None) => return r0,
        };
        r0 + (r1 - r0) * (t - t0) / (t1 - t0)
    }

    /// The mean rate, req/s: over one period when it repeats, else over `[0, last point]`
    /// (the last rate when there is a single point).
    pub(crate) fn mean_rps(&self) -> f64 {
        let (end, last_rate) = match self.points.last() {
            Some(&p) => p,
            None => return 0.0,
        };
        let end = self.period_s.unwrap_or(end);
        if end == 0.0 {
            return last_rate;
        }
        let mut area = 0.0;
        for (i, &(t0, r0)) in self.points.iter().enumerate() {
            let (t1, r1) = match self.points.get(i + 1) {
                Some(&p) => p,
                None => (end, self.points[0].1),
            };
            let r1 = if self.step { r0 } else { r1 };
            area += (t1 - t0) * (r0 + r1) / 2.0;
        }
        area / end
    }

    /// The same schedule with every rate multiplied by `factor` (> 0).
    pub(crate) fn scaled(&self, factor: f64) -> RateSchedule {
        RateSchedule {
            points: self.points.iter().map(|&(t, r)| (t, r * factor)).collect(),
            peak_rps: self.peak_rps * factor,
            ..self.clone()
        }
    }

    /// One line for summaries.
    fn describe(&self) -> String {
        let lo = self
            .points
            .iter()
            .map(|p| p.1)
            .fold(f64::INFINITY, f64::min);
        let how = if self.step { "step" } else { "linear" };
        let repeat = match self.period_s {
            Some(p) => format!(", repeat every {p} s"),
            None => String::new(),
        };
        format!(
            "schedule ({how}, {} points, {lo}..{} req/s{repeat})",
            self.points.len(),
            self.peak_rps
        )
    }
}

impl Arrival {
    /// Validates `[workload.arrival]`.
    pub(crate) fn from_file(f: &ArrivalFile) -> Result<Arrival, WorkloadError> {
        Ok(match *f {
            ArrivalFile::Schedule {
                ref points,
                interpolation,
                repeat_s,
            } => Arrival::Schedule(RateSchedule::from_file(points, interpolation, repeat_s)?),
            ArrivalFile::Poisson { rate_rps } => {
                check_rate(rate_rps)?;
                Arrival::Poisson { rate_rps }
            }
            ArrivalFile::Gamma { rate_rps, cv } => {
                check_rate(rate_rps)?;
                check(
                    cv.is_finite() && (CV_RANGE.0..=CV_RANGE.1).contains(&cv),
                    "cv",
                    format!(
                        "{cv} must be in [{}, {}] (1 = Poisson)",
                        CV_RANGE.0, CV_RANGE.1
                    ),
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
                check(
                    (1..=MAX_CLIENTS).contains(&clients),
                    "clients",
                    format!("{clients} must be in [1, {MAX_CLIENTS}]"),
                )?;
                let think_time_ms = think_time_ms.unwrap_or(0.0);
                check(
                    think_time_ms.is_finite() && (0.0..=MAX_MS).contains(&think_time_ms),
                    "think-time-ms",
                    format!("{think_time_ms} must be in [0, {MAX_MS}] ms"),
                )?;
                Arrival::ClosedLoop {
                    clients,
                    think_time_ms,
                }
            }
        })
    }

    /// The mean open-loop arrival rate, req/s (`None` for a closed loop).
    pub(crate) fn mean_rps(&self) -> Option<f64> {
        match self {
            Arrival::Poisson { rate_rps }
            | Arrival::Gamma { rate_rps, .. }
            | Arrival::Constant { rate_rps } => Some(*rate_rps),
            Arrival::Schedule(s) => Some(s.mean_rps()),
            Arrival::ClosedLoop { .. } => None,
        }
    }

    /// The same process with mean rate `rate_rps` (checked by the caller); schedules keep
    /// their shape. `None` for a closed loop.
    pub(crate) fn with_rate(&self, rate_rps: f64) -> Option<Arrival> {
        Some(match self {
            Arrival::Poisson { .. } => Arrival::Poisson { rate_rps },
            Arrival::Gamma { cv, .. } => Arrival::Gamma { rate_rps, cv: *cv },
            Arrival::Constant { .. } => Arrival::Constant { rate_rps },
            Arrival::Schedule(s) => Arrival::Schedule(s.scaled(rate_rps / s.mean_rps())),
            Arrival::ClosedLoop { .. } => return None,
        })
    }

    /// One line for summaries, e.g. `poisson 10 req/s`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Arrival::Poisson { rate_rps } => format!("poisson {rate_rps} req/s"),
            Arrival::Gamma { rate_rps, cv } => format!("gamma {rate_rps} req/s cv {cv}"),
            Arrival::Constant { rate_rps } => format!("constant {rate_rps} req/s"),
            Arrival::Schedule(s) => s.describe(),
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
    /// Thinning: candidates at the peak rate, kept with probability `rate(t) / peak`.
    Schedule {
        /// Candidate gaps at the peak rate, seconds.
        candidates: Exp<f64>,
        /// The schedule.
        schedule: RateSchedule,
    },
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
    /// No arrival is looked for past this instant (the run's stop time): a schedule's
    /// thinning returns the first candidate beyond it instead of searching on.
    horizon: SimTime,
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
            Arrival::Schedule(ref s) => Gaps::Schedule {
                candidates: Exp::new(s.peak_rps).map_err(|e| bad(e.to_string()))?,
                schedule: s.clone(),
            },
            Arrival::ClosedLoop { .. } => return Ok(None),
        };
        Ok(Some(ArrivalGen {
            rng,
            gaps,
            now: SimTime::ZERO,
            count: 0,
            horizon: SimTime::ZERO + secs(MAX_SECS),
        }))
    }

    /// Stop searching for arrivals past `horizon` (see the field).
    pub(crate) fn set_horizon(&mut self, horizon: SimTime) {
        self.horizon = horizon;
    }

    /// The next arrival time (saturates at the end of time instead of overflowing).
    pub(crate) fn next_arrival(&mut self) -> SimTime {
        self.count += 1;
        self.now = match &self.gaps {
            Gaps::Poisson(d) => after(self.now, d.sample(&mut self.rng)),
            Gaps::Gamma(d) => after(self.now, d.sample(&mut self.rng)),
            Gaps::Constant { rate_rps } => SimTime::ZERO + secs(self.count as f64 / rate_rps),
            Gaps::Schedule {
                candidates,
                schedule,
            } => {
                let mut t = self.now;
                loop {
                    t = after(t, candidates.sample(&mut self.rng));
                    let keep: f64 = self.rng.random();
                    if keep * schedule.peak_rps < schedule.rate_at(t.as_secs_f64())
                        || t > self.horizon
                    {
                        break t;
                    }
                }
            }
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

    fn schedule(points: &[(f64, f64)], step: bool, repeat_s: Option<f64>) -> Arrival {
        let f = ArrivalFile::Schedule {
            points: points
                .iter()
                .map(|&(at_s, rate_rps)| RatePointFile { at_s, rate_rps })
                .collect(),
            interpolation: Some(if step {
                Interpolation::Step
            } else {
                Interpolation::Linear
            }),
            repeat_s,
        };
        Arrival::from_file(&f).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Arrivals in each `width_s` window of `[0, windows * width_s)`.
    fn counts(t: &[SimTime], width_s: f64, windows: usize) -> Vec<f64> {
        let mut c = vec![0.0; windows];
        for x in t {
            let k = (x.as_secs_f64() / width_s) as usize;
            if k < windows {
                c[k] += 1.0;
            }
        }
        c
    }

    /// Chi-squared test of window counts against expected means (Poisson counts).
    fn assert_counts_fit(got: &[f64], want: &[f64]) {
        let chi2: f64 = got.iter().zip(want).map(|(g, w)| (g - w).powi(2) / w).sum();
        let crit = ChiSquared::new(want.len() as f64)
            .unwrap_or_else(|e| panic!("{e}"))
            .inverse_cdf(0.999);
        assert!(chi2 < crit, "chi2 {chi2} >= {crit}: {got:?} vs {want:?}");
    }

    #[test]
    fn step_schedule_switches_rate() {
        let a = schedule(&[(0.0, 10.0), (100.0, 50.0), (200.0, 5.0)], true, None);
        let t = arrivals(&a, 20_000, 3);
        assert!(t.windows(2).all(|w| w[0] <= w[1]));
        let c = counts(&t, 50.0, 8);
        assert_counts_fit(
            &c,
            &[500.0, 500.0, 2500.0, 2500.0, 250.0, 250.0, 250.0, 250.0],
        );
    }

    #[test]
    fn linear_schedule_ramps_and_repeats() {
        // 0 -> 40 req/s over 100 s, back to 0 over the next 100 s, every 200 s.
        let a = schedule(&[(0.0, 0.0), (100.0, 40.0)], false, Some(200.0));
        assert_eq!(
            match &a {
                Arrival::Schedule(s) => (s.rate_at(50.0), s.rate_at(150.0), s.rate_at(250.0)),
                _ => (0.0, 0.0, 0.0),
            },
            (20.0, 20.0, 20.0)
        );
        let t = arrivals(&a, 16_000, 4);
        // Expected per 25 s window: the integral of the triangle; 3 periods are checked.
        let per_period = [125.0, 375.0, 625.0, 875.0, 875.0, 625.0, 375.0, 125.0];
        let want: Vec<f64> = per_period.iter().cycle().take(8 * 3).copied().collect();
        assert_counts_fit(&counts(&t, 25.0, 24), &want);
    }

    #[test]
    fn schedule_mean_rate() {
        let mean = |a: &Arrival| a.mean_rps().unwrap_or(0.0);
        let s = schedule(&[(0.0, 10.0), (100.0, 50.0), (200.0, 5.0)], true, None);
        assert_eq!(mean(&s), 30.0);
        let s = schedule(&[(0.0, 10.0), (100.0, 50.0)], true, Some(400.0));
        assert_eq!(mean(&s), 40.0);
        let s = schedule(&[(0.0, 10.0), (100.0, 50.0)], false, Some(200.0));
        assert_eq!(mean(&s), 30.0);
        let s = schedule(&[(0.0, 7.0)], false, None);
        assert_eq!(mean(&s), 7.0);
        // The mean matches what is generated.
        let s = schedule(&[(0.0, 10.0), (100.0, 50.0)], false, Some(200.0));
        let t = arrivals(&s, 60_000, 5);
        let rate = t.len() as f64 / t[t.len() - 1].as_secs_f64();
        assert!((rate / 30.0 - 1.0).abs() < 0.01, "{rate}");
    }

    #[test]
    fn invalid_schedules_name_the_point() {
        let e = |points: &[(f64, f64)], repeat_s: Option<f64>| {
            let f = ArrivalFile::Schedule {
                points: points
                    .iter()
                    .map(|&(at_s, rate_rps)| RatePointFile { at_s, rate_rps })
                    .collect(),
                interpolation: None,
                repeat_s,
            };
            Arrival::from_file(&f)
                .err()
                .map(|e| e.field().to_owned())
                .unwrap_or_default()
        };
        assert_eq!(e(&[], None), "workload.arrival.points");
        assert_eq!(e(&[(1.0, 1.0)], None), "workload.arrival.points[0].at-s");
        assert_eq!(
            e(&[(0.0, 1.0), (0.0, 2.0)], None),
            "workload.arrival.points[1].at-s"
        );
        assert_eq!(
            e(&[(0.0, 1.0), (5.0, -2.0)], None),
            "workload.arrival.points[1].rate-rps"
        );
        assert_eq!(
            e(&[(0.0, 1.0), (5.0, 0.0)], None),
            "workload.arrival.points[1].rate-rps"
        );
        assert_eq!(e(&[(0.0, 1.0), (5.0, 0.0)], Some(10.0)), "");
        assert_eq!(e(&[(0.0, 0.0)], Some(10.0)), "workload.arrival.points");
        assert_eq!(
            e(&[(0.0, 1.0), (5.0, 0.0)], Some(5.0)),
            "workload.arrival.repeat-s"
        );
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
