//! Times as the API and the AppRec write them (UTC), as clients send them
//! in queries, and as HTTP dates (`Retry-After`). Plain arithmetic: no IO,
//! no clock (reading the clock is the caller's), no state.

/// Milliseconds since the epoch as RFC 3339 in UTC with milliseconds
/// (`2026-11-23T17:05:09.123Z`).
pub fn rfc3339_millis(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (date, time) = split(secs);
    format!("{date}T{time}.{:03}Z", ms.rem_euclid(1000))
}

/// Seconds since the epoch as an xs:dateTime in UTC, to the second
/// (`2026-11-23T17:05:09Z`), as the AppRec's GenDate.
pub fn xs_datetime(secs: i64) -> String {
    let (date, time) = split(secs);
    format!("{date}T{time}Z")
}

/// Reads an HTTP date in the IMF-fixdate form RFC 9110 requires senders to
/// use (`Sun, 06 Nov 1994 08:49:37 GMT`) into milliseconds since the epoch.
pub fn parse_imf_fixdate(v: &str) -> Option<i64> {
    let rest = v.trim().split_once(", ")?.1;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| x == month)? as u32 + 1;
    let d: u32 = day.parse().ok()?;
    let y: i64 = year.parse().ok()?;
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, mi, s] = hms.as_slice() else {
        return None;
    };
    if d == 0 || d > days_in_month(y, i64::from(m)) as u32 || *h > 23 || *mi > 59 || *s > 60 {
        return None;
    }
    Some((days_from_civil(y, m, d) * 86_400 + h * 3600 + mi * 60 + s) * 1000)
}

/// Milliseconds since the epoch as Norwegian local time for people to read,
/// `24.11.2026 14:05` (CET, or CEST in summer by the EU rule: from 01:00 UTC
/// on the last Sunday of March to 01:00 UTC on the last Sunday of October).
pub fn oslo_minutes(ms: i64) -> String {
    let local = ms.div_euclid(1000) + oslo_offset_secs(ms);
    let days = local.div_euclid(86_400);
    let rem = local.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{d:02}.{m:02}.{y:04} {:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// Norway's offset from UTC at an instant, in seconds (3600 or 7200).
pub fn oslo_offset_secs(ms: i64) -> i64 {
    let secs = ms.div_euclid(1000);
    let (y, _, _) = civil_from_days(secs.div_euclid(86_400));
    let last_sunday = |month: u32| {
        let last = days_from_civil(y, month, 31);
        // 1970-01-01 was a Thursday: weekday 0 = Monday.
        let weekday = (last + 3).rem_euclid(7);
        last - (weekday + 1).rem_euclid(7)
    };
    let start = last_sunday(3) * 86_400 + 3600;
    let end = last_sunday(10) * 86_400 + 3600;
    if (start..end).contains(&secs) {
        7200
    } else {
        3600
    }
}

/// A `YYYY-MM-DD` date (as an HTML date input sends it) read as midnight
/// Norwegian time, in milliseconds since the epoch.
pub fn oslo_date_start(date: &str) -> Option<i64> {
    let utc_midnight = parse_rfc3339(date.get(..10)?)?;
    if date.len() != 10 {
        return None;
    }
    // The offset at midnight local time is the offset one hour earlier in
    // UTC terms except on the two change days, where 00:00 is never inside
    // the change hour (01:00 UTC).
    Some(utc_midnight - oslo_offset_secs(utc_midnight) * 1000)
}

fn split(secs: i64) -> (String, String) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, (rem % 3600) / 60, rem % 60),
    )
}

/// Reads an RFC 3339 time (`2026-11-23T17:05:09Z`, with optional fraction
/// and offset) or a bare date (`2026-11-23`, midnight UTC) into
/// milliseconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return None;
    }
    let day_ms = days_from_civil(y, mo as u32, d as u32) * 86_400_000;
    if b.len() == 10 {
        return Some(day_ms);
    }
    if !(b[10] == b'T' || b[10] == b't' || b[10] == b' ')
        || b.len() < 19
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac_ms = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let digits = s.get(start..i.min(start + 3))?;
        frac_ms = digits.parse::<i64>().ok()? * 10i64.pow(3 - digits.len() as u32);
    }
    let offset_min = match b.get(i) {
        Some(b'Z') | Some(b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let m = oh * 60 + om;
            if sign == b'+' {
                m
            } else {
                -m
            }
        }
        _ => return None,
    };
    Some(day_ms + ((h * 60 + mi - offset_min) * 60 + se) * 1000 + frac_ms)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Proleptic Gregorian date from days since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the inverse).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    #[test]
    fn oslo_time_follows_summer_time() {
        let at = |s: &str| super::parse_rfc3339(s).unwrap();
        assert_eq!(
            super::oslo_minutes(at("2026-11-24T13:05:00Z")),
            "24.11.2026 14:05"
        );
        assert_eq!(
            super::oslo_minutes(at("2026-07-01T22:30:00Z")),
            "02.07.2026 00:30"
        );
        // 2026: summer time from 29 March 01:00 UTC to 25 October 01:00 UTC.
        assert_eq!(super::oslo_offset_secs(at("2026-03-29T00:59:59Z")), 3600);
        assert_eq!(super::oslo_offset_secs(at("2026-03-29T01:00:00Z")), 7200);
        assert_eq!(super::oslo_offset_secs(at("2026-10-25T00:59:59Z")), 7200);
        assert_eq!(super::oslo_offset_secs(at("2026-10-25T01:00:00Z")), 3600);
        // 2024: 31 March and 27 October.
        assert_eq!(super::oslo_offset_secs(at("2024-03-31T01:00:00Z")), 7200);
        assert_eq!(super::oslo_offset_secs(at("2024-10-27T00:00:00Z")), 7200);
        assert_eq!(super::oslo_offset_secs(at("2024-10-27T01:00:00Z")), 3600);
        assert_eq!(
            super::oslo_date_start("2026-07-01"),
            Some(at("2026-06-30T22:00:00Z"))
        );
        assert_eq!(
            super::oslo_date_start("2026-01-15"),
            Some(at("2026-01-14T23:00:00Z"))
        );
        assert_eq!(super::oslo_date_start("2026-01-15T00:00"), None);
        assert_eq!(super::oslo_date_start("15.01.2026"), None);
    }

    use super::*;

    #[test]
    fn http_dates() {
        // 1994-11-06T08:49:37Z is 784111777 s after the epoch.
        assert_eq!(
            parse_imf_fixdate("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777_000)
        );
        for bad in [
            "",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 CET",
        ] {
            assert_eq!(parse_imf_fixdate(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn formats_in_utc() {
        assert_eq!(xs_datetime(0), "1970-01-01T00:00:00Z");
        assert_eq!(xs_datetime(951_782_400 + 3_661), "2000-02-29T01:01:01Z");
        assert_eq!(xs_datetime(1_795_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(
            rfc3339_millis(1_795_000_000_123),
            "2026-11-18T11:06:40.123Z"
        );
        assert_eq!(rfc3339_millis(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn parses_what_it_formats_and_offsets() {
        for ms in [0, 1_795_000_000_123, 951_782_400_000, 4_102_444_800_000] {
            assert_eq!(parse_rfc3339(&rfc3339_millis(ms)), Some(ms));
        }
        assert_eq!(
            parse_rfc3339("2026-11-18T12:06:40+01:00"),
            Some(1_795_000_000_000)
        );
        assert_eq!(
            parse_rfc3339("2026-11-18T11:06:40.5Z"),
            Some(1_795_000_000_500)
        );
        assert_eq!(parse_rfc3339("1970-01-02"), Some(86_400_000));
        for bad in [
            "",
            "2026-13-01",
            "2026-02-30",
            "2026-11-18T25:00:00Z",
            "2026-11-18T11:06:40",
            "yesterday",
            "2026-11-18T11:06:40.Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
