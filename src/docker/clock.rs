//! Times as the daemon writes them (RFC 3339 in JSON, RFC 1123 in the HTTP `Date` header),
//! turned into seconds since the epoch. Ages of the daemon's objects are always judged on the
//! daemon's own clock: a remote daemon's clock may be far from ours.

/// Days since the epoch of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn hms(t: &str) -> Option<i64> {
    let mut p = t.get(..8)?.splitn(3, ':').map(|x| x.parse::<i64>().ok());
    let (h, m, s) = (p.next()??, p.next()??, p.next()??);
    Some(h * 3_600 + m * 60 + s)
}

/// Seconds since the epoch of `2026-12-01T21:40:12.123456789Z` (an offset is ignored: only
/// ages are computed from it, roughly).
pub fn rfc3339(t: &str) -> Option<i64> {
    let (date, time) = t.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    Some(days_from_civil(y, m, day) * 86_400 + hms(time)?)
}

/// Seconds since the epoch of an HTTP date: `Wed, 02 Dec 2026 01:58:43 GMT`.
pub fn http_date(t: &str) -> Option<i64> {
    let mut parts = t.split_whitespace().skip(1);
    let day: i64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    Some(days_from_civil(year, month, day) * 86_400 + hms(parts.next()?)?)
}

/// Our own clock, seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Our own clock, nanoseconds since the epoch (as the events' `timeNano`).
pub fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times() {
        assert_eq!(rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339("2000-03-01T00:00:01.5Z"), Some(951_868_801));
        assert_eq!(
            rfc3339("2026-12-01T21:40:12.123456789Z"),
            Some(1_796_161_212)
        );
        assert_eq!(rfc3339("garbage"), None);
    }

    #[test]
    fn http_dates() {
        assert_eq!(http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            http_date("Tue, 01 Dec 2026 21:40:12 GMT"),
            Some(1_796_161_212)
        );
        assert_eq!(http_date("Tue, 01 Foo 2026 21:40:12 GMT"), None);
        assert_eq!(http_date(""), None);
    }
}
