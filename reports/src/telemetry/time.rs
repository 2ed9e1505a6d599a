//! Calendar timestamps of telemetry inputs and outputs, as integer nanoseconds since
//! 1970-01-01T00:00:00Z.
//!
//! Invariant: parsing is exact (no floats): a fraction of up to 9 digits is kept to the
//! nanosecond; times before 1970 or after 2262-04-11 (the last that u64 ns hold) are
//! refused, never wrapped.

/// Days from 1970-01-01 to the civil date `y-m-d` (proleptic Gregorian; H. Hinnant).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Digits only, as a number in `[lo, hi]`.
fn num(p: &str, lo: i64, hi: i64) -> Option<i64> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 4 {
        return None;
    }
    let v: i64 = p.parse().ok()?;
    (lo..=hi).contains(&v).then_some(v)
}

/// Parses `YYYY-MM-DD[T| ]HH:MM:SS[.f{1,9}][Z|±HH:MM]` (RFC 3339, or ISO 8601 with a
/// space) to ns since the epoch. Without a zone the time is UTC, unless `require_zone`.
pub fn parse_datetime_ns(s: &str, require_zone: bool) -> Option<u64> {
    let s = s.trim();
    if !s.is_ascii() || s.len() < 19 {
        return None;
    }
    let (date, rest) = s.split_at(10);
    let mut dp = date.split('-');
    let y = num(dp.next()?, 1970, 9999)?;
    let mo = num(dp.next()?, 1, 12)?;
    let d = num(dp.next()?, 1, 31)?;
    if dp.next().is_some() {
        return None;
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    if rest.len() < 8 {
        return None;
    }
    let (hms, mut rest) = rest.split_at(8);
    let mut tp = hms.split(':');
    let h = num(tp.next()?, 0, 23)?;
    let mi = num(tp.next()?, 0, 59)?;
    let se = num(tp.next()?, 0, 60)?;
    if tp.next().is_some() {
        return None;
    }
    let mut frac_ns = 0i64;
    if let Some(f) = rest.strip_prefix('.') {
        let n = f.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n > 9 {
            return None;
        }
        let v: i64 = f[..n].parse().ok()?;
        frac_ns = v * 10i64.pow(9 - n as u32);
        rest = &f[n..];
    }
    let offset_s = match rest {
        "" if !require_zone => 0,
        "Z" | "z" => 0,
        z if z.len() == 6 && (z.starts_with('+') || z.starts_with('-')) && &z[3..4] == ":" => {
            let oh = num(&z[1..3], 0, 23)?;
            let om = num(&z[4..6], 0, 59)?;
            let o = oh * 3600 + om * 60;
            if z.starts_with('-') { -o } else { o }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset_s;
    secs.checked_mul(1_000_000_000)
        .and_then(|ns| ns.checked_add(frac_ns))
        .and_then(|ns| u64::try_from(ns).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_and_iso_spaces_parse_exactly() {
        assert_eq!(parse_datetime_ns("1970-01-01T00:00:00Z", true), Some(0));
        assert_eq!(
            parse_datetime_ns("2025-01-01T00:00:00Z", true),
            Some(1_735_689_600_000_000_000)
        );
        assert_eq!(
            parse_datetime_ns("2025-01-01T02:00:00.5+02:00", true),
            Some(1_735_689_600_500_000_000)
        );
        assert_eq!(
            parse_datetime_ns("2023-11-16 18:15:46.6805900", false),
            Some((19_677 * 86_400 + 18 * 3600 + 15 * 60 + 46) * 1_000_000_000 + 680_590_000)
        );
        for bad in [
            "",
            "2025-01-01",
            "2025-01-01T00:00:00",
            "2025-13-01T00:00:00Z",
            "2025-01-01T00:00:00+2",
            "1969-12-31T23:59:59Z",
            "2025-01-01T00:00:00.Z",
            "2025-01-01X00:00:00Z",
        ] {
            assert_eq!(parse_datetime_ns(bad, true), None, "{bad}");
        }
        assert_eq!(
            parse_datetime_ns("2025-01-01 00:00:00", false),
            Some(1_735_689_600_000_000_000)
        );
    }
}
