//! Norwegian national identity numbers: fødselsnummer (FNR), D-number (DNR,
//! first digit + 4) and H-number (HNR, third digit + 4). Eleven digits: a
//! birth date `DDMMYY`, an individual number, and two mod-11 check digits.

/// Why an identity number is not valid. Never carries the number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NidProblem {
    /// Not eleven digits.
    Format,
    /// The birth date part is not a date (after the D/H adjustments).
    Date,
    /// A check digit does not match.
    CheckDigit,
}

const W1: [u32; 9] = [3, 7, 6, 1, 8, 9, 4, 5, 2];
const W2: [u32; 10] = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];

fn check_digit(digits: &[u32], weights: &[u32]) -> Option<u32> {
    let sum: u32 = digits.iter().zip(weights).map(|(d, w)| d * w).sum();
    match 11 - sum % 11 {
        11 => Some(0),
        10 => None,
        k => Some(k),
    }
}

/// Checks an FNR, D-number or H-number.
pub fn check(value: &str) -> Result<(), NidProblem> {
    let v = value.trim();
    if v.len() != 11 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NidProblem::Format);
    }
    let mut d = [0u32; 11];
    for (x, b) in d.iter_mut().zip(v.bytes()) {
        *x = u32::from(b - b'0');
    }
    let mut day = d[0] * 10 + d[1];
    let mut month = d[2] * 10 + d[3];
    if day > 40 {
        day -= 40; // D-number
    }
    if month > 40 {
        month -= 40; // H-number
    }
    // The century is not in the number, so 29 February is allowed.
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 => 29,
        _ => return Err(NidProblem::Date),
    };
    if !(1..=days_in_month).contains(&day) {
        return Err(NidProblem::Date);
    }
    let k1 = check_digit(&d[..9], &W1).ok_or(NidProblem::CheckDigit)?;
    if k1 != d[9] {
        return Err(NidProblem::CheckDigit);
    }
    let k2 = check_digit(&d[..10], &W2).ok_or(NidProblem::CheckDigit)?;
    if k2 != d[10] {
        return Err(NidProblem::CheckDigit);
    }
    Ok(())
}

/// Makes a valid number from a date and an individual number, for tests
/// (fictitious people only). `None` when no check digit exists for it.
pub fn make(ddmmyy: &str, individual: &str) -> Option<String> {
    let nine = format!("{ddmmyy}{individual}");
    if nine.len() != 9 || !nine.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut d: Vec<u32> = nine.bytes().map(|b| u32::from(b - b'0')).collect();
    d.push(check_digit(&d, &W1)?);
    d.push(check_digit(&d, &W2)?);
    Some(d.iter().map(|x| char::from(b'0' + *x as u8)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_numbers() {
        // Not every individual number has a check digit: take the first that does.
        let first = |date: &str| (100..200).find_map(|i| make(date, &i.to_string()));
        let fnr = first("010190").expect("fnr");
        assert_eq!(check(&fnr), Ok(()));
        // D-number: day + 40.
        let dnr = first("410190").expect("dnr");
        assert_eq!(check(&dnr), Ok(()));
        // H-number: month + 40.
        let hnr = first("014190").expect("hnr");
        assert_eq!(check(&hnr), Ok(()));
        let mut bad = fnr.clone().into_bytes();
        bad[10] = if bad[10] == b'9' { b'0' } else { bad[10] + 1 };
        assert_eq!(
            check(std::str::from_utf8(&bad).unwrap()),
            Err(NidProblem::CheckDigit)
        );
        assert_eq!(check("1234"), Err(NidProblem::Format));
        assert_eq!(check("0101901234x"), Err(NidProblem::Format));
        assert_eq!(check("32019012345"), Err(NidProblem::Date));
        assert_eq!(check("01139012345"), Err(NidProblem::Date));
        assert_eq!(check("31024040278"), Err(NidProblem::Date), "31 February");
        assert_eq!(check("31044012345"), Err(NidProblem::Date), "31 April");
    }

    #[test]
    fn every_single_digit_change_is_caught() {
        let fnr = (400..500)
            .find_map(|i| make("150575", &i.to_string()))
            .expect("fnr");
        for i in 0..11 {
            for x in b'0'..=b'9' {
                let mut b = fnr.clone().into_bytes();
                if b[i] == x {
                    continue;
                }
                b[i] = x;
                let s = String::from_utf8(b).unwrap();
                assert!(check(&s).is_err(), "{i}: {x}");
            }
        }
    }
}
