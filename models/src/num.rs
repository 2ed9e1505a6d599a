//! Small numeric helpers shared by the cost model and the simulator's clock.

/// `x.round() as u64` (half away from zero; 0 for negatives and NaN, saturating like the
/// cast) without libm's `round` call: x86-64's baseline has no rounding instruction, and
/// the simulator rounds twice per simulated step (the step's duration, the decode
/// batch's mean context). Below 2^53 in magnitude the truncation `t` is exact and so is
/// `x - t` (Sterbenz, or `t = 0`), so the half-way test decides exactly as `round` does;
/// larger values are integers already and take `round`.
#[inline]
pub fn round_u64(x: f64) -> u64 {
    if x < 9_007_199_254_740_992.0 {
        let t = x as i64;
        let up = x - t as f64 >= 0.5;
        (t + i64::from(up)).max(0) as u64
    } else {
        x.round() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_u64_is_round() {
        let edges = [
            0.0,
            0.49999999999999994,
            0.5,
            1.5,
            2.5,
            4503599627370495.5,
            4503599627370496.5,
            9007199254740991.0,
            9007199254740992.0,
            1.8446744073709552e19,
            1e300,
            -0.7,
            -3.2,
            -1e300,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        for x in edges {
            assert_eq!(round_u64(x), x.round() as u64, "{x:e}");
        }
    }

    proptest! {
        #[test]
        fn round_u64_matches_round(bits in any::<u64>()) {
            // Any f64: negative, NaN and infinite ones included.
            let x = f64::from_bits(bits);
            prop_assert_eq!(round_u64(x), x.round() as u64);
        }

        #[test]
        fn round_u64_matches_round_on_durations(x in 0.0f64..1e13) {
            prop_assert_eq!(round_u64(x), x.round() as u64);
        }
    }
}
