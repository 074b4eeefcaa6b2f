//! Calendar arithmetic in Norwegian time, and a reader for the date and
//! time strings PLO documents carry (`xs:date`, `xs:dateTime`, with or
//! without a zone). Times without a zone are Norwegian local time.

use overgang_timefmt::oslo_offset_secs;

const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// The Norwegian calendar day (days since 1970-01-01) an instant falls on.
pub fn oslo_day(ms: i64) -> i64 {
    (ms.div_euclid(1000) + oslo_offset_secs(ms)).div_euclid(86_400)
}

/// The year of a day number.
pub fn year_of_day(day: i64) -> i64 {
    civil_from_days(day).0
}

/// A day number as `YYYY-MM-DD`.
pub fn day_string(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Local wall-clock milliseconds (as if UTC) to the instant, in Norwegian time.
fn local_to_instant(local_ms: i64) -> i64 {
    // The offset one hour before the local reading is the offset in force
    // except inside the change hours, which PLO times practically never hit.
    let guess = local_ms - 3_600_000;
    local_ms - oslo_offset_secs(guess) * 1000
}

/// Midnight Norwegian time starting a day number.
pub fn oslo_day_start(day: i64) -> i64 {
    local_to_instant(day * DAY_MS)
}

/// A time read from a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedTime {
    /// Milliseconds since the epoch.
    pub ms: i64,
    /// The string held a date only; `ms` is the start of that day in Norway.
    pub date_only: bool,
}

fn digits(s: &str) -> Option<i64> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// Reads `YYYY-MM-DD` into a day number.
fn read_date(s: &str) -> Option<i64> {
    let y = digits(s.get(0..4)?)?;
    let m = u32::try_from(digits(s.get(5..7)?)?).ok()?;
    let d = u32::try_from(digits(s.get(8..10)?)?).ok()?;
    if s.len() != 10 || s.as_bytes().get(4) != Some(&b'-') || s.as_bytes().get(7) != Some(&b'-') {
        return None;
    }
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// Reads an `xs:date` or `xs:dateTime` (`2018-01-29`, `2018-01-29T10:00:00`,
/// `2018-01-29T10:00:00.5+01:00`, `…Z`). Without a zone the time is
/// Norwegian local time; a date alone is the start of that day in Norway
/// (a zone on a bare date is ignored).
pub fn parse_plo_time(s: &str) -> Option<ParsedTime> {
    let s = s.trim();
    let date = s.get(..10)?;
    let day = read_date(date)?;
    let rest = &s[10..];
    if rest.is_empty() || rest == "Z" || is_zone(rest) {
        return Some(ParsedTime {
            ms: oslo_day_start(day),
            date_only: true,
        });
    }
    let rest = rest.strip_prefix('T')?;
    let h = digits(rest.get(0..2)?)?;
    let mi = digits(rest.get(3..5)?)?;
    let sec = digits(rest.get(6..8)?)?;
    if rest.as_bytes().get(2) != Some(&b':') || rest.as_bytes().get(5) != Some(&b':') {
        return None;
    }
    if h > 24 || mi > 59 || sec > 60 || (h == 24 && (mi > 0 || sec > 0)) {
        return None;
    }
    let mut tail = &rest[8..];
    let mut frac_ms = 0;
    if let Some(f) = tail.strip_prefix('.') {
        let n = f.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let ms_digits: String = f[..n].chars().chain("000".chars()).take(3).collect();
        frac_ms = digits(&ms_digits)?;
        tail = &f[n..];
    }
    let local = day * DAY_MS + ((h * 60 + mi) * 60 + sec) * 1000 + frac_ms;
    let ms = if tail.is_empty() {
        local_to_instant(local)
    } else if tail == "Z" {
        local
    } else if is_zone(tail) {
        let sign = if tail.starts_with('-') { -1 } else { 1 };
        let zh = digits(tail.get(1..3)?)?;
        let zm = digits(tail.get(4..6)?)?;
        local - sign * (zh * 60 + zm) * 60_000
    } else {
        return None;
    };
    Some(ParsedTime {
        ms,
        date_only: false,
    })
}

fn is_zone(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 6
        && (b[0] == b'+' || b[0] == b'-')
        && b[1].is_ascii_digit()
        && b[2].is_ascii_digit()
        && b[3] == b':'
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
}

/// Finds the first date in free text: `YYYY-MM-DD`, `DD.MM.YYYY` or
/// `D.M.YYYY`, or with a two-digit year `DD.MM.YY` (taken as 20YY).
/// Returns the day number.
pub fn find_date_in_text(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    for i in 0..b.len() {
        if !b[i].is_ascii_digit() || (i > 0 && b[i - 1].is_ascii_digit()) {
            continue;
        }
        if let Some(day) = text.get(i..i + 10).and_then(read_date) {
            if !b.get(i + 10).is_some_and(u8::is_ascii_digit) {
                return Some(day);
            }
        }
        if let Some(day) = dotted_at(text, i) {
            return Some(day);
        }
    }
    None
}

fn dotted_at(text: &str, i: usize) -> Option<i64> {
    let rest = text.get(i..)?;
    let mut parts = rest.splitn(3, '.');
    let d = parts.next()?;
    let m = parts.next()?;
    let y_rest = parts.next()?;
    let y: String = y_rest.chars().take_while(char::is_ascii_digit).collect();
    if !(1..=2).contains(&d.len()) || !(1..=2).contains(&m.len()) || !matches!(y.len(), 2 | 4) {
        return None;
    }
    // A two-digit year is this century's (`22.01.18` is 2018-01-22).
    let century = if y.len() == 2 { 2000 } else { 0 };
    let (d, m, y) = (
        u32::try_from(digits(d)?).ok()?,
        u32::try_from(digits(m)?).ok()?,
        century + digits(&y)?,
    );
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_follow_norwegian_summer_time() {
        // 10:00 in winter is 09:00 UTC; in summer 08:00 UTC.
        let w = parse_plo_time("2018-01-29T10:00:00").map(|p| p.ms);
        assert_eq!(w, Some(1_517_216_400_000));
        let s = parse_plo_time("2018-07-02T10:00:00").map(|p| p.ms);
        assert_eq!(s, Some(1_530_518_400_000));
        assert_eq!(
            parse_plo_time("2018-01-29T10:00:00Z").map(|p| p.ms),
            Some(1_517_220_000_000)
        );
        assert_eq!(
            parse_plo_time("2018-01-29T10:00:00.250+02:00").map(|p| p.ms),
            Some(1_517_212_800_250)
        );
    }

    #[test]
    fn a_bare_date_is_the_start_of_the_day_in_norway() {
        let p = parse_plo_time("2018-01-31");
        assert_eq!(
            p,
            Some(ParsedTime {
                ms: 1_517_353_200_000,
                date_only: true
            })
        );
        assert_eq!(p.map(|p| oslo_day(p.ms)), read_date("2018-01-31"));
    }

    #[test]
    fn nonsense_is_refused() {
        for s in [
            "",
            "2018-02-30",
            "2018-13-01",
            "18-01-01",
            "2018-01-01T25:00:00",
            "2018-01-01Tx",
            "2018-01-01T10:00:00+1",
        ] {
            assert_eq!(parse_plo_time(s), None, "{s}");
        }
    }

    #[test]
    fn dates_are_found_in_free_text() {
        assert_eq!(
            find_date_in_text("Kartlagt 03.01.2018 av sykepleier"),
            read_date("2018-01-03")
        );
        assert_eq!(
            find_date_in_text("dato: 2018-01-03."),
            read_date("2018-01-03")
        );
        assert_eq!(find_date_in_text("5.1.2018"), read_date("2018-01-05"));
        assert_eq!(
            find_date_in_text("Funksjonsvurdering gjort 22.01.18."),
            read_date("2018-01-22")
        );
        assert_eq!(find_date_in_text("ingen dato 123"), None);
        assert_eq!(day_string(days_from_civil(2024, 2, 29)), "2024-02-29");
    }
}
