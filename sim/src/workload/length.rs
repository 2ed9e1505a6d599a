//! Length distributions of prompts and outputs, in tokens.
//!
//! Invariants: every sample is an integer in `[min, max]` with `1 <= min <= max <=`
//! [`MAX_TOKENS`] (an unset `max` is `MAX_TOKENS`, for the sampler and the mass check alike). Continuous
//! distributions (normal, log-normal) are rounded to the nearest integer and then
//! *rejection*-truncated: a draw outside `[min, max]` is redrawn, never clipped, so no
//! probability piles up on the bounds (the mean of the result is the truncated mean, not
//! `mean`). Validation refuses a truncation that keeps less than 1% of the mass, so a
//! sample takes fewer than 100 draws on average. Empirical samples are rows drawn
//! uniformly, so they only take values present in the file. A histogram sample lies in
//! the bucket drawn (probability `count / total`), never outside the buckets; with a
//! `mean`, each bucket's density is shaped by one exponent shared by all buckets, solved
//! once at validation so the expected length equals `mean`.

use std::path::Path;

use rand::RngExt;
use rand_distr::{Distribution, Normal};

use super::data::{ColumnRequest, DataSource, read_token_columns};
use super::error::WorkloadError;
use super::file::LengthFile;
use crate::limits::MAX_TOKENS;
use crate::rng::SimRng;

/// Least probability mass a truncation window must keep.
const MIN_KEPT_MASS: f64 = 0.01;

/// Largest relative `jitter` of a fixed length (lengths stay within 0.5x..1.5x).
const MAX_JITTER: f64 = 0.5;

/// Which of the two lengths a distribution describes (picks built-in default columns).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum LengthRole {
    /// Prompt tokens.
    Input,
    /// Output tokens.
    Output,
}

/// A validated length distribution, tokens.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum LengthDist {
    /// Always this many tokens.
    Fixed(u32),
    /// `tokens x (1 + jitter x U(-1, 1))`, rounded, at least 1.
    Jittered { tokens: u32, jitter: f64 },
    /// Uniform integer in `[min, max]`.
    Uniform { min: u32, max: u32 },
    /// Rounded normal, rejection-truncated to `[min, max]`.
    Normal {
        mean: f64,
        std: f64,
        min: u32,
        max: Option<u32>,
    },
    /// Rounded log-normal (mean and std of the tokens), rejection-truncated.
    LogNormal {
        mean: f64,
        std: f64,
        min: u32,
        max: Option<u32>,
    },
    /// A bucket by its count, then a length inside it (see [`Histogram`]).
    Histogram(Histogram),
    /// Uniformly drawn rows of a CSV column.
    Empirical {
        source: DataSource,
        column: String,
        /// TOML path of the distribution (for errors found when the file is read).
        field: String,
    },
}

/// `Err(Invalid)` at `field.key` unless `ok`.
fn check(ok: bool, field: &str, key: &str, message: String) -> Result<(), WorkloadError> {
    if ok {
        Ok(())
    } else {
        Err(WorkloadError::invalid(format!("{field}.{key}"), message))
    }
}

impl LengthDist {
    /// Validates `f`, found at the TOML path `field`.
    pub(crate) fn from_file(
        f: &LengthFile,
        field: &str,
        role: LengthRole,
        base_dir: &Path,
    ) -> Result<LengthDist, WorkloadError> {
        Ok(match f {
            LengthFile::Fixed { tokens, jitter } => {
                check(
                    (1..=MAX_TOKENS).contains(tokens),
                    field,
                    "tokens",
                    format!("{tokens} must be in [1, {MAX_TOKENS}] tokens"),
                )?;
                match *jitter {
                    // No jitter draws nothing: the same lengths as without the key.
                    None => LengthDist::Fixed(*tokens),
                    Some(0.0) => LengthDist::Fixed(*tokens),
                    Some(j) => {
                        check(
                            (0.0..=MAX_JITTER).contains(&j),
                            field,
                            "jitter",
                            format!("{j} must be a relative jitter in [0, {MAX_JITTER}]"),
                        )?;
                        LengthDist::Jittered {
                            tokens: *tokens,
                            jitter: j,
                        }
                    }
                }
            }
            LengthFile::Uniform { min, max } => {
                bounds(field, Some(*min), Some(*max))?;
                LengthDist::Uniform {
                    min: *min,
                    max: *max,
                }
            }
            LengthFile::Normal {
                mean,
                std,
                min,
                max,
            } => {
                let (min, max) = bounds(field, *min, *max)?;
                let top = f64::from(MAX_TOKENS);
                check(
                    mean.is_finite() && (-top..=top).contains(mean),
                    field,
                    "mean",
                    format!("{mean:?} must be in [-{MAX_TOKENS}, {MAX_TOKENS}] tokens"),
                )?;
                check(
                    std.is_finite() && (0.0..=top).contains(std),
                    field,
                    "std",
                    format!("{std} must be in [0, {MAX_TOKENS}] tokens"),
                )?;
                let d = LengthDist::Normal {
                    mean: *mean,
                    std: *std,
                    min,
                    max,
                };
                d.check_mass(field)?;
                d
            }
            LengthFile::Lognormal {
                mean,
                std,
                min,
                max,
            } => {
                let (min, max) = bounds(field, *min, *max)?;
                let top = f64::from(MAX_TOKENS);
                check(
                    mean.is_finite() && *mean > 0.0 && *mean <= top,
                    field,
                    "mean",
                    format!("{mean:?} must be in (0, {MAX_TOKENS}] tokens"),
                )?;
                check(
                    std.is_finite() && (0.0..=top).contains(std),
                    field,
                    "std",
                    format!("{std} must be in [0, {MAX_TOKENS}] tokens"),
                )?;
                let d = LengthDist::LogNormal {
                    mean: *mean,
                    std: *std,
                    min,
                    max,
                };
                d.check_mass(field)?;
                d
            }
            LengthFile::Histogram {
                upper_bounds,
                counts,
                mean,
            } => LengthDist::Histogram(Histogram::new(upper_bounds, counts, *mean, field)?),
            LengthFile::Empirical { path, column } => {
                let source = DataSource::resolve(path, base_dir, &format!("{field}.path"))?;
                let column = match (column, &source) {
                    (Some(c), _) => c.clone(),
                    (None, DataSource::Builtin(b)) => match (b.length_columns(), role) {
                        (Some((i, _)), LengthRole::Input) => i.to_owned(),
                        (Some((_, o)), LengthRole::Output) => o.to_owned(),
                        (None, _) => {
                            return Err(WorkloadError::invalid(
                                format!("{field}.path"),
                                format!("`{path}` is a JSONL trace, not a CSV table"),
                            ));
                        }
                    },
                    (None, DataSource::File(_)) => {
                        return Err(WorkloadError::invalid(
                            format!("{field}.column"),
                            "required: the CSV column header to sample",
                        ));
                    }
                };
                LengthDist::Empirical {
                    source,
                    column,
                    field: field.to_owned(),
                }
            }
        })
    }

    /// Log-normal `(mu, sigma)` of the underlying normal for the token mean and std.
    fn lognormal_params(mean: f64, std: f64) -> (f64, f64) {
        let s2 = (1.0 + (std / mean).powi(2)).ln();
        (mean.ln() - s2 / 2.0, s2.sqrt())
    }

    /// Probability that a rounded draw lands in `[min, max]` (continuous kinds only).
    fn kept_mass(&self) -> f64 {
        let (lo, hi, center, scale, log) = match *self {
            LengthDist::Normal {
                mean,
                std,
                min,
                max,
            } => (min, max, mean, std, false),
            LengthDist::LogNormal {
                mean,
                std,
                min,
                max,
            } => {
                let (mu, sigma) = Self::lognormal_params(mean, std);
                (min, max, mu, sigma, true)
            }
            _ => return 1.0,
        };
        let map = |x: f64| if log { x.ln() } else { x };
        let a = map(f64::from(lo) - 0.5);
        let b = map(f64::from(hi.unwrap_or(MAX_TOKENS)) + 0.5);
        if scale == 0.0 {
            let v = if log { center.exp() } else { center }.round();
            let inside = v >= f64::from(lo) && v <= f64::from(hi.unwrap_or(MAX_TOKENS));
            return if inside { 1.0 } else { 0.0 };
        }
        std_normal_cdf((b - center) / scale) - std_normal_cdf((a - center) / scale)
    }

    /// Refuses a truncation window that keeps under [`MIN_KEPT_MASS`] of the distribution.
    fn check_mass(&self, field: &str) -> Result<(), WorkloadError> {
        let m = self.kept_mass();
        if m >= MIN_KEPT_MASS {
            Ok(())
        } else {
            Err(WorkloadError::invalid(
                field,
                format!(
                    "[min, max] keeps only {:.3}% of the distribution (at least {}% needed): \
                     move mean or widen min/max",
                    m * 100.0,
                    MIN_KEPT_MASS * 100.0
                ),
            ))
        }
    }

    /// One line for summaries, e.g. `lognormal(mean 1000, std 500, [1, 8192]) tok`.
    pub(crate) fn describe(&self) -> String {
        let range = |min: u32, max: Option<u32>| match max {
            Some(m) => format!("[{min}, {m}]"),
            None => format!("[{min}, inf)"),
        };
        match self {
            LengthDist::Fixed(t) => format!("fixed {t} tok"),
            LengthDist::Jittered { tokens, jitter } => {
                format!("fixed {tokens} tok ±{}%", jitter * 100.0)
            }
            LengthDist::Uniform { min, max } => format!("uniform [{min}, {max}] tok"),
            LengthDist::Normal {
                mean,
                std,
                min,
                max,
            } => format!("normal(mean {mean}, std {std}, {}) tok", range(*min, *max)),
            LengthDist::LogNormal {
                mean,
                std,
                min,
                max,
            } => format!(
                "lognormal(mean {mean}, std {std}, {}) tok",
                range(*min, *max)
            ),
            LengthDist::Histogram(h) => h.describe(),
            LengthDist::Empirical { source, column, .. } => {
                format!("empirical {}:{column}", source.label())
            }
        }
    }
}

/// Most buckets a histogram may have.
pub(crate) const MAX_BUCKETS: usize = 4096;

/// Range of the shape exponent a histogram's `mean` is solved in (1 = uniform in each
/// bucket; larger piles a bucket's mass towards its lower bound, smaller towards its
/// upper bound).
const SHAPE_RANGE: (f64, f64) = (1e-4, 1e4);

/// Buckets wider than this use the Euler-Maclaurin form of their mean (exact sums below).
const EXACT_MEAN_WIDTH: u32 = 1024;

/// A validated histogram length: bucket `i` holds the lengths in `(lower[i], upper[i]]`.
/// A sample draws a bucket with probability `count / total`, then
/// `lower + ceil(width x v^shape)` with `v` uniform in (0, 1], so every bucket keeps
/// exactly its share of the mass and `shape` (one exponent for all buckets) moves the
/// mass within buckets until the mean is the one given (`shape = 1`: uniform).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Histogram {
    /// Exclusive lower bound of each bucket, tokens (0 for the first).
    lower: Vec<u32>,
    /// Inclusive upper bound of each bucket, tokens.
    upper: Vec<u32>,
    /// Observations up to and including each bucket (cumulative), > 0 at the end.
    cumulative: Vec<u64>,
    /// The mean asked for, tokens, if any.
    mean: Option<f64>,
    /// The shape exponent (1 without a mean).
    shape: f64,
}

/// Expected `ceil(width x v^shape)` for `v` uniform in (0, 1]: the mean offset of a
/// length above its bucket's lower bound.
fn bucket_offset_mean(width: u32, shape: f64) -> f64 {
    if width <= 1 {
        return f64::from(width);
    }
    let w = f64::from(width);
    if width > EXACT_MEAN_WIDTH {
        // sum_{k<w} (1 - (k/w)^(1/shape)) ~ integral + (f(0) - f(w)) / 2.
        return w / (shape + 1.0) + 0.5;
    }
    let p = 1.0 / shape;
    (0..width)
        .map(|k| 1.0 - (f64::from(k) / w).powf(p))
        .sum::<f64>()
}

impl Histogram {
    /// Validates `[workload.*-tokens]` of `kind = "histogram"`, found at `field`.
    fn new(
        upper_bounds: &[u32],
        counts: &[u64],
        mean: Option<f64>,
        field: &str,
    ) -> Result<Histogram, WorkloadError> {
        check(
            !upper_bounds.is_empty() && upper_bounds.len() <= MAX_BUCKETS,
            field,
            "upper-bounds",
            format!("{} buckets; give 1 to {MAX_BUCKETS}", upper_bounds.len()),
        )?;
        check(
            counts.len() == upper_bounds.len(),
            field,
            "counts",
            format!(
                "{} counts for {} upper-bounds; give one count per bucket",
                counts.len(),
                upper_bounds.len()
            ),
        )?;
        let mut lower = Vec::with_capacity(upper_bounds.len());
        let mut prev = 0u32;
        for (i, &b) in upper_bounds.iter().enumerate() {
            check(
                b > prev && b <= MAX_TOKENS,
                field,
                "upper-bounds",
                format!(
                    "bound {i} = {b} must be above the previous bound ({prev}) and at most {MAX_TOKENS} tokens"
                ),
            )?;
            lower.push(prev);
            prev = b;
        }
        let mut cumulative = Vec::with_capacity(counts.len());
        let mut total = 0u64;
        for &c in counts {
            total = total.checked_add(c).ok_or_else(|| {
                WorkloadError::invalid(format!("{field}.counts"), "the counts overflow 2^64")
            })?;
            cumulative.push(total);
        }
        check(
            total > 0,
            field,
            "counts",
            "every count is 0: no length to draw".to_owned(),
        )?;
        let mut h = Histogram {
            lower,
            upper: upper_bounds.to_vec(),
            cumulative,
            mean,
            shape: 1.0,
        };
        if let Some(m) = mean {
            h.shape = h.solve_shape(m, field)?;
        }
        Ok(h)
    }

    /// Probability of bucket `i`.
    fn share(&self, i: usize) -> f64 {
        let total = *self.cumulative.last().unwrap_or(&1) as f64;
        let before = if i == 0 { 0 } else { self.cumulative[i - 1] };
        (self.cumulative[i] - before) as f64 / total
    }

    /// Expected length with exponent `shape`, tokens.
    fn expected(&self, shape: f64) -> f64 {
        (0..self.upper.len())
            .filter(|&i| self.share(i) > 0.0)
            .map(|i| {
                let width = self.upper[i] - self.lower[i];
                self.share(i) * (f64::from(self.lower[i]) + bucket_offset_mean(width, shape))
            })
            .sum()
    }

    /// The exponent whose expected length is `mean` (bisection on its logarithm; the
    /// expectation falls as the exponent grows). A mean between the bounds the buckets
    /// allow but past what the exponent range reaches takes the range's end (within
    /// 0.1% of the bound); a mean outside the buckets is an error.
    fn solve_shape(&self, mean: f64, field: &str) -> Result<f64, WorkloadError> {
        let (lo_s, hi_s) = SHAPE_RANGE;
        // Hard bounds: every length at its bucket's lowest or highest value.
        let floor: f64 = (0..self.upper.len())
            .map(|i| self.share(i) * f64::from(self.lower[i] + 1))
            .sum();
        let ceil: f64 = (0..self.upper.len())
            .map(|i| self.share(i) * f64::from(self.upper[i]))
            .sum();
        check(
            mean.is_finite() && mean >= floor && mean <= ceil,
            field,
            "mean",
            format!(
                "{mean:?} tokens is outside what the buckets allow ([{floor:.3}, {ceil:.3}]: every length at its bucket's lowest or highest value)"
            ),
        )?;
        if mean >= self.expected(lo_s) {
            return Ok(lo_s);
        }
        if mean <= self.expected(hi_s) {
            return Ok(hi_s);
        }
        let (mut a, mut b) = (lo_s.ln(), hi_s.ln());
        for _ in 0..60 {
            let mid = 0.5 * (a + b);
            if self.expected(mid.exp()) > mean {
                a = mid;
            } else {
                b = mid;
            }
        }
        Ok((0.5 * (a + b)).exp())
    }

    /// One line for summaries.
    fn describe(&self) -> String {
        let total = self.cumulative.last().copied().unwrap_or(0);
        let mean = match self.mean {
            Some(m) => format!(", mean {m}"),
            None => String::new(),
        };
        format!(
            "histogram({} buckets in [1, {}], {total} observations{mean}) tok",
            self.upper.len(),
            self.upper.last().copied().unwrap_or(0)
        )
    }

    /// One length, tokens: two draws (the bucket, the place in it).
    fn sample(&self, rng: &mut SimRng) -> u32 {
        let total = *self.cumulative.last().expect("validated non-empty");
        let r = rng.random_range(0..total);
        let i = self.cumulative.partition_point(|&c| c <= r);
        let width = self.upper[i] - self.lower[i];
        // v in (0, 1].
        let v = 1.0 - rng.random::<f64>();
        let off = (f64::from(width) * v.powf(self.shape)).ceil() as u32;
        self.lower[i] + off.clamp(1, width)
    }
}

/// Checks `min` (default 1) and `max` of a truncated distribution.
fn bounds(
    field: &str,
    min: Option<u32>,
    max: Option<u32>,
) -> Result<(u32, Option<u32>), WorkloadError> {
    let min = min.unwrap_or(1);
    check(
        (1..=MAX_TOKENS).contains(&min),
        field,
        "min",
        format!("{min} must be in [1, {MAX_TOKENS}] tokens"),
    )?;
    if let Some(max) = max {
        check(
            (min..=MAX_TOKENS).contains(&max),
            field,
            "max",
            format!("{max} must be in [min = {min}, {MAX_TOKENS}] tokens"),
        )?;
    }
    Ok((min, max))
}

/// Standard normal CDF, via the Numerical Recipes `erfc` (relative error < 1.2e-7).
pub(crate) fn std_normal_cdf(z: f64) -> f64 {
    if z == f64::INFINITY {
        return 1.0;
    }
    if z == f64::NEG_INFINITY {
        return 0.0;
    }
    let x = -z / std::f64::consts::SQRT_2;
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.5 * a);
    let poly = -a * a - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc_a = t * poly.exp();
    let erfc = if x >= 0.0 { erfc_a } else { 2.0 - erfc_a };
    0.5 * erfc
}

/// Draws lengths from a [`LengthDist`] (data files already loaded).
#[derive(Clone, Debug)]
pub(crate) enum LengthSampler {
    /// Always this many tokens.
    Fixed(u32),
    /// `tokens x (1 + jitter x U(-1, 1))`, rounded, at least 1 (one draw).
    Jittered { tokens: u32, jitter: f64 },
    /// Uniform integer in `[min, max]`.
    Uniform { min: u32, max: u32 },
    /// Rounded normal or log-normal, rejection-truncated to `[min, max]`.
    Normal {
        dist: Normal<f64>,
        log: bool,
        min: u32,
        max: u32,
    },
    /// A histogram's buckets.
    Histogram(Histogram),
    /// Values of a column, drawn uniformly.
    Empirical(Vec<u32>),
}

/// Safety net of the rejection loop (validation makes ~100 draws the worst mean case).
const MAX_REJECTIONS: u32 = 10_000_000;

impl LengthSampler {
    /// Builds the sampler, reading the data file of an empirical distribution.
    pub(crate) fn new(d: &LengthDist) -> Result<LengthSampler, WorkloadError> {
        let invalid = |e: rand_distr::NormalError| {
            WorkloadError::invalid("workload", format!("bad distribution parameters: {e}"))
        };
        Ok(match d {
            LengthDist::Fixed(t) => LengthSampler::Fixed(*t),
            LengthDist::Jittered { tokens, jitter } => LengthSampler::Jittered {
                tokens: *tokens,
                jitter: *jitter,
            },
            LengthDist::Uniform { min, max } => LengthSampler::Uniform {
                min: *min,
                max: *max,
            },
            LengthDist::Normal {
                mean,
                std,
                min,
                max,
            } => LengthSampler::Normal {
                dist: Normal::new(*mean, *std).map_err(invalid)?,
                log: false,
                min: *min,
                max: max.unwrap_or(MAX_TOKENS),
            },
            LengthDist::LogNormal {
                mean,
                std,
                min,
                max,
            } => {
                // exp(Normal(mu, sigma)) is LogNormal(mu, sigma).
                let (mu, sigma) = LengthDist::lognormal_params(*mean, *std);
                LengthSampler::Normal {
                    dist: Normal::new(mu, sigma).map_err(invalid)?,
                    log: true,
                    min: *min,
                    max: max.unwrap_or(MAX_TOKENS),
                }
            }
            LengthDist::Histogram(h) => LengthSampler::Histogram(h.clone()),
            LengthDist::Empirical {
                source,
                column,
                field,
            } => {
                let col_field = format!("{field}.column");
                let mut cols = read_token_columns(
                    source,
                    &[ColumnRequest {
                        header: column,
                        field: &col_field,
                    }],
                )?;
                LengthSampler::Empirical(cols.pop().unwrap_or_default())
            }
        })
    }

    /// One length, tokens.
    pub(crate) fn sample(&self, rng: &mut SimRng) -> u32 {
        match self {
            LengthSampler::Fixed(t) => *t,
            LengthSampler::Jittered { tokens, jitter } => {
                // u in [0, 1): uniform over tokens x [1 - jitter, 1 + jitter).
                let u: f64 = rng.random();
                let x = f64::from(*tokens) * (1.0 + jitter * (2.0 * u - 1.0));
                (x.round() as u32).max(1)
            }
            LengthSampler::Uniform { min, max } => rng.random_range(*min..=*max),
            LengthSampler::Normal {
                dist,
                log,
                min,
                max,
            } => {
                for _ in 0..MAX_REJECTIONS {
                    let z = dist.sample(rng);
                    let x = if *log { z.exp() } else { z }.round();
                    if x >= f64::from(*min) && x <= f64::from(*max) {
                        return x as u32;
                    }
                }
                panic!("length truncation rejected {MAX_REJECTIONS} draws: validation is broken")
            }
            LengthSampler::Histogram(h) => h.sample(rng),
            LengthSampler::Empirical(values) => values[rng.random_range(0..values.len())],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, Streams};
    use statrs::distribution::{ContinuousCDF, Normal as SNormal};

    #[test]
    fn normal_cdf_matches_statrs() {
        let n = SNormal::standard();
        for i in -80..=80 {
            let z = f64::from(i) / 10.0;
            let (a, b) = (std_normal_cdf(z), n.cdf(z));
            assert!((a - b).abs() < 1e-7, "z={z}: {a} vs {b}");
        }
    }

    fn dist(f: LengthFile) -> LengthDist {
        match LengthDist::from_file(
            &f,
            "workload.input-tokens",
            LengthRole::Input,
            Path::new("."),
        ) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        }
    }

    fn draw(d: &LengthDist, n: usize, seed: u64) -> Vec<u32> {
        let s = match LengthSampler::new(d) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let mut rng = Streams::new(seed).get(Stream::InputLen);
        (0..n).map(|_| s.sample(&mut rng)).collect()
    }

    fn mean(v: &[u32]) -> f64 {
        v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64
    }

    #[test]
    fn fixed_and_uniform_respect_bounds_and_mean() {
        assert!(
            draw(
                &dist(LengthFile::Fixed {
                    tokens: 7,
                    jitter: None
                }),
                100,
                1
            )
            .iter()
            .all(|&x| x == 7)
        );
        let v = draw(&dist(LengthFile::Uniform { min: 10, max: 20 }), 100_000, 1);
        assert!(v.iter().all(|&x| (10..=20).contains(&x)));
        assert!(v.contains(&10) && v.contains(&20));
        assert!((mean(&v) - 15.0).abs() < 0.05, "{}", mean(&v));
    }

    #[test]
    fn jitter_spreads_fixed_lengths_uniformly_within_bounds() {
        let fixed = |jitter| {
            dist(LengthFile::Fixed {
                tokens: 1000,
                jitter,
            })
        };
        // Absent and 0 draw nothing (today's lengths, no stream consumed).
        assert_eq!(fixed(None), LengthDist::Fixed(1000));
        assert_eq!(fixed(Some(0.0)), LengthDist::Fixed(1000));
        let v = draw(&fixed(Some(0.01)), 100_000, 7);
        assert!(v.iter().all(|&x| (990..=1010).contains(&x)));
        assert!((mean(&v) - 1000.0).abs() < 0.1, "{}", mean(&v));
        // Uniform: interior integers equally likely (990 and 1010 get half a bin).
        let n = |k: u32| v.iter().filter(|&&x| x == k).count() as f64;
        let per = 100_000.0 / 20.0;
        for k in [991, 1000, 1009] {
            assert!((n(k) - per).abs() < 5.0 * per.sqrt(), "{k}: {}", n(k));
        }
        assert!((n(990) - per / 2.0).abs() < 5.0 * per.sqrt(), "{}", n(990));
        // Same seed, same draws; at least 1 for tiny lengths.
        assert_eq!(v, draw(&fixed(Some(0.01)), 100_000, 7));
        let one = dist(LengthFile::Fixed {
            tokens: 1,
            jitter: Some(0.5),
        });
        assert!(draw(&one, 1000, 1).iter().all(|&x| x >= 1));
        for bad in [-0.1, 0.51, f64::NAN, f64::INFINITY] {
            let e = LengthDist::from_file(
                &LengthFile::Fixed {
                    tokens: 10,
                    jitter: Some(bad),
                },
                "workload.input-tokens",
                LengthRole::Input,
                Path::new("."),
            )
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
            assert!(e.starts_with("workload.input-tokens.jitter: "), "{e}");
            assert!(e.contains("[0, 0.5]"), "{e}");
        }
    }

    #[test]
    fn normal_mean_and_truncation() {
        let d = dist(LengthFile::Normal {
            mean: 500.0,
            std: 100.0,
            min: None,
            max: None,
        });
        let v = draw(&d, 100_000, 2);
        assert!((mean(&v) - 500.0).abs() < 2.0, "{}", mean(&v));
        // Truncated to [400, 600]: symmetric, so the mean stays 500, and no pile-up.
        let d = dist(LengthFile::Normal {
            mean: 500.0,
            std: 100.0,
            min: Some(400),
            max: Some(600),
        });
        let v = draw(&d, 100_000, 3);
        assert!(v.iter().all(|&x| (400..=600).contains(&x)));
        assert!((mean(&v) - 500.0).abs() < 1.5, "{}", mean(&v));
        let at_bounds = v.iter().filter(|&&x| x == 400 || x == 600).count();
        // Unclipped: ~2 x 1e5 x pdf(1 sd) / (sd x mass) = ~709 draws; clipping would give ~31,700.
        assert!(
            at_bounds < 1000,
            "{at_bounds} draws on the bounds: clipped?"
        );
    }

    #[test]
    fn lognormal_mean_std_are_of_the_tokens() {
        let d = dist(LengthFile::Lognormal {
            mean: 1000.0,
            std: 500.0,
            min: None,
            max: None,
        });
        let v = draw(&d, 200_000, 4);
        let m = mean(&v);
        let sd =
            (v.iter().map(|&x| (f64::from(x) - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        assert!((m - 1000.0).abs() < 10.0, "mean {m}");
        assert!((sd - 500.0).abs() < 15.0, "std {sd}");
        let d = dist(LengthFile::Lognormal {
            mean: 1000.0,
            std: 500.0,
            min: Some(200),
            max: Some(1500),
        });
        assert!(
            draw(&d, 50_000, 5)
                .iter()
                .all(|&x| (200..=1500).contains(&x))
        );
    }

    #[test]
    fn invalid_parameters_name_the_field() {
        let e = |f: LengthFile| {
            LengthDist::from_file(
                &f,
                "workload.output-tokens",
                LengthRole::Output,
                Path::new("."),
            )
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
        };
        assert!(
            e(LengthFile::Fixed {
                tokens: 0,
                jitter: None
            })
            .starts_with("workload.output-tokens.tokens: ")
        );
        assert!(
            e(LengthFile::Uniform { min: 5, max: 4 }).starts_with("workload.output-tokens.max: ")
        );
        assert!(
            e(LengthFile::Uniform { min: 0, max: 4 }).starts_with("workload.output-tokens.min: ")
        );
        let n = |mean: f64, std: f64, min: Option<u32>, max: Option<u32>| {
            e(LengthFile::Normal {
                mean,
                std,
                min,
                max,
            })
        };
        assert!(n(10.0, -1.0, None, None).starts_with("workload.output-tokens.std: "));
        assert!(n(f64::NAN, 1.0, None, None).starts_with("workload.output-tokens.mean: "));
        assert!(n(10.0, 1.0, Some(9), Some(8)).starts_with("workload.output-tokens.max: "));
        assert!(n(10.0, 1.0, Some(0), None).starts_with("workload.output-tokens.min: "));
        // Almost all of the mass is cut away: refused, not looped on.
        assert!(n(100.0, 10.0, Some(150), None).starts_with("workload.output-tokens: "));
        assert!(n(100.0, 0.0, Some(101), None).starts_with("workload.output-tokens: "));
        assert_eq!(n(100.0, 0.0, Some(100), None), "");
        let l = e(LengthFile::Lognormal {
            mean: 0.0,
            std: 1.0,
            min: None,
            max: None,
        });
        assert!(l.starts_with("workload.output-tokens.mean: "), "{l}");
        let p = e(LengthFile::Empirical {
            path: "/nonexistent/x.csv".into(),
            column: Some("a".into()),
        });
        assert!(p.starts_with("workload.output-tokens.path: "), "{p}");
        assert!(p.contains("/nonexistent/x.csv"), "{p}");
    }

    fn histogram(bounds: &[u32], counts: &[u64], mean: Option<f64>) -> LengthFile {
        LengthFile::Histogram {
            upper_bounds: bounds.to_vec(),
            counts: counts.to_vec(),
            mean,
        }
    }

    /// Every bucket keeps its share of the draws; without a mean each bucket is uniform
    /// (vLLM's 1-2-5 buckets), with one the sample mean is the mean asked for.
    #[test]
    fn histogram_keeps_bucket_shares_and_the_mean() {
        let bounds = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000];
        let counts = [0, 3, 10, 0, 40, 100, 300, 900, 2000, 600, 47];
        let total: u64 = counts.iter().sum();
        let n = 200_000;
        for mean in [None, Some(400.0), Some(250.0), Some(460.0)] {
            let d = dist(histogram(&bounds, &counts, mean));
            let v = draw(&d, n, 11);
            let mut lo = 0;
            for (b, c) in bounds.iter().zip(counts) {
                let got = v.iter().filter(|&&x| x > lo && x <= *b).count() as f64 / n as f64;
                let want = c as f64 / total as f64;
                let sd = (want * (1.0 - want) / n as f64).sqrt();
                assert!(
                    (got - want).abs() <= 5.0 * sd + 1e-12,
                    "{mean:?} ({lo}, {b}]: {got} vs {want}"
                );
                lo = *b;
            }
            assert!(v.iter().all(|&x| (2..=2000).contains(&x)));
            match mean {
                Some(m) => assert!((mean_of(&v) - m).abs() < 0.01 * m, "{} vs {m}", mean_of(&v)),
                None => {
                    // Uniform in buckets: (lo + 1 + hi) / 2 per bucket.
                    let mut lo = 0u32;
                    let mut want = 0.0;
                    for (b, c) in bounds.iter().zip(counts) {
                        want += c as f64 / total as f64 * f64::from(lo + 1 + b) / 2.0;
                        lo = *b;
                    }
                    assert!(
                        (mean_of(&v) - want).abs() < 0.01 * want,
                        "{} vs {want}",
                        mean_of(&v)
                    );
                }
            }
        }
        // Unit-wide buckets give their bound exactly.
        let unit = dist(histogram(&[3, 4, 5], &[0, 1, 1], None));
        let v = draw(&unit, 1000, 1);
        assert!(v.iter().all(|&x| x == 4 || x == 5) && v.contains(&4) && v.contains(&5));
        assert_eq!(v, draw(&unit, 1000, 1));
    }

    fn mean_of(v: &[u32]) -> f64 {
        mean(v)
    }

    #[test]
    fn histogram_errors_name_the_key() {
        let e = |f: LengthFile| {
            LengthDist::from_file(
                &f,
                "workload.input-tokens",
                LengthRole::Input,
                Path::new("."),
            )
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
        };
        assert!(e(histogram(&[], &[], None)).starts_with("workload.input-tokens.upper-bounds: "));
        assert!(
            e(histogram(&[5, 5], &[1, 1], None))
                .starts_with("workload.input-tokens.upper-bounds: ")
        );
        assert!(e(histogram(&[5, 9], &[1], None)).starts_with("workload.input-tokens.counts: "));
        assert!(e(histogram(&[5, 9], &[0, 0], None)).starts_with("workload.input-tokens.counts: "));
        // (0, 10] holds 1..=10: a mean of 11 or 0.5 is impossible.
        assert!(e(histogram(&[10], &[4], Some(11.0))).starts_with("workload.input-tokens.mean: "));
        assert!(e(histogram(&[10], &[4], Some(0.5))).starts_with("workload.input-tokens.mean: "));
        assert!(
            e(histogram(&[10], &[4], Some(f64::NAN))).starts_with("workload.input-tokens.mean: ")
        );
        assert_eq!(e(histogram(&[10], &[4], Some(10.0))), "");
        assert_eq!(e(histogram(&[10], &[4], Some(1.0))), "");
    }

    #[test]
    fn empirical_samples_only_values_in_the_file() {
        let d = dist(LengthFile::Empirical {
            path: "builtin:sharegpt".into(),
            column: None,
        });
        let LengthDist::Empirical { column, .. } = &d else {
            panic!("not empirical");
        };
        assert_eq!(column, "num_prefill_tokens");
        let file = read_token_columns(
            &DataSource::Builtin(super::super::data::Builtin::ShareGpt),
            &[ColumnRequest {
                header: "num_prefill_tokens",
                field: "f",
            }],
        );
        let mut present = file.unwrap_or_default().pop().unwrap_or_default();
        present.sort_unstable();
        let v = draw(&d, 20_000, 6);
        assert!(v.iter().all(|x| present.binary_search(x).is_ok()));
        // ShareGPT prompt mean is 2340 tokens (sim/data/README.md).
        assert!((mean(&v) - 2340.0).abs() < 60.0, "{}", mean(&v));
    }
}
