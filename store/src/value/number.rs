//! DynamoDB numbers: up to 38 significant decimal digits, magnitude between
//! 1E-130 and 9.99…E+125, kept exactly (no binary floating point).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use bigdecimal::BigDecimal;

/// DynamoDB keeps at most 38 significant digits.
pub const MAX_DIGITS: usize = 38;
/// Largest allowed decimal exponent of the leading digit (9.99…E+125).
pub const MAX_EXPONENT: i32 = 125;
/// Smallest allowed decimal exponent of the leading digit (1E-130).
pub const MIN_EXPONENT: i32 = -130;
/// Longest number literal accepted before parsing, so a hostile input cannot
/// make us allocate or scan without bound.
const MAX_LITERAL_LEN: usize = 1024;

pub use crate::messages::item::NumberError;

/// An exact decimal `±0.d1d2…dn × 10^(exponent+1)`, normalised: no leading or
/// trailing zero digits, and zero has no digits and is never negative. The
/// value is `digits[0].digits[1..] × 10^exponent`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Number {
    negative: bool,
    /// Decimal digits 0..=9, most significant first; empty for zero.
    digits: Vec<u8>,
    /// Power of ten of the first digit.
    exponent: i32,
}

impl Number {
    pub fn zero() -> Self {
        Number { negative: false, digits: Vec::new(), exponent: 0 }
    }

    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// Significant digits, most significant first (empty for zero).
    pub fn digits(&self) -> &[u8] {
        &self.digits
    }

    /// Power of ten of the first significant digit.
    pub fn exponent(&self) -> i32 {
        self.exponent
    }

    /// Builds a number from parts and checks DynamoDB's range and precision.
    fn from_parts(negative: bool, mut digits: Vec<u8>, mut exponent: i32) -> Result<Self, NumberError> {
        let lead = digits.iter().take_while(|d| **d == 0).count();
        digits.drain(..lead);
        exponent -= lead as i32;
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            return Ok(Number::zero());
        }
        if exponent > MAX_EXPONENT {
            return Err(NumberError::Overflow);
        }
        if exponent < MIN_EXPONENT {
            return Err(NumberError::Underflow);
        }
        if digits.len() > MAX_DIGITS {
            return Err(NumberError::TooPrecise);
        }
        Ok(Number { negative, digits, exponent })
    }

    /// Number of bytes DynamoDB bills for this number: one, plus a byte per
    /// two significant digits of the integer part and, separately, of the
    /// fraction, plus one for a negative number. So `15` costs 2 and `1.5`
    /// costs 3, `100.5` costs 4 (the integer's zeros count once a fraction
    /// follows them), `-42` costs 3. (The live service's sizes, as the
    /// conformance suite captured them; the documented "one byte per two
    /// digits plus one" is the rule for integers and pure fractions.)
    pub fn billed_size(&self) -> usize {
        let n = self.digits.len();
        let integer = usize::try_from(self.exponent + 1).unwrap_or(0).min(n);
        let fraction = n - integer;
        1 + integer.div_ceil(2) + fraction.div_ceil(2) + usize::from(self.negative && n > 0)
    }

    fn to_big(&self) -> BigDecimal {
        // Canonical text always parses.
        BigDecimal::from_str(&self.to_string()).expect("canonical number text parses")
    }

    fn from_big(b: &BigDecimal) -> Result<Self, NumberError> {
        // BigDecimal's Display may use exponent notation; our parser accepts it.
        Number::from_str(&b.to_string())
    }

    pub fn checked_add(&self, other: &Number) -> Result<Number, NumberError> {
        Number::arithmetic(&(self.to_big() + other.to_big()))
    }

    pub fn checked_sub(&self, other: &Number) -> Result<Number, NumberError> {
        Number::arithmetic(&(self.to_big() - other.to_big()))
    }

    /// The result of arithmetic: one that needs more than 38 digits is an
    /// overflow in DynamoDB's words, whatever its magnitude (1e50 + 1;
    /// Alternator's tests, recorded against DynamoDB).
    fn arithmetic(b: &BigDecimal) -> Result<Self, NumberError> {
        Number::from_big(b).map_err(|e| match e {
            NumberError::TooPrecise => NumberError::Overflow,
            other => other,
        })
    }

    /// Encodes the number so that byte order equals numeric order, and the
    /// encoding is self-delimiting (it ends in a terminator byte).
    pub fn encode_ordered(&self, out: &mut Vec<u8>) {
        if self.is_zero() {
            out.push(0x80);
            return;
        }
        // Exponent is within [-130, 125]; bias it into 0..=255.
        let biased = (self.exponent - MIN_EXPONENT) as u8;
        let start = out.len();
        out.push(0xC0);
        out.push(biased);
        for d in &self.digits {
            out.push(d + 1);
        }
        out.push(0x00);
        if self.negative {
            out[start] = 0x40;
            for b in &mut out[start + 1..] {
                *b = !*b;
            }
        }
    }
}

impl Number {
    /// Decodes the encoding [`Number::encode_ordered`] wrote at the start
    /// of `bytes`: the number and the bytes it took, or `None` if they hold
    /// no valid encoding.
    pub(crate) fn decode_ordered(bytes: &[u8]) -> Option<(Number, usize)> {
        let negative = match *bytes.first()? {
            0x80 => return Some((Number::zero(), 1)),
            0xC0 => false,
            0x40 => true,
            _ => return None,
        };
        let flip = |b: u8| if negative { !b } else { b };
        let exponent = i32::from(flip(*bytes.get(1)?)) + MIN_EXPONENT;
        let mut digits = Vec::new();
        let mut at = 2;
        loop {
            match flip(*bytes.get(at)?) {
                0x00 => break,
                d @ 1..=10 => digits.push(d - 1),
                _ => return None,
            }
            at += 1;
        }
        if digits.is_empty() || digits.len() > MAX_DIGITS || exponent > MAX_EXPONENT {
            return None;
        }
        Some((Number { negative, digits, exponent }, at + 1))
    }
}

impl FromStr for Number {
    type Err = NumberError;

    /// Parses DynamoDB's number syntax: optional sign, digits with an optional
    /// point, optional `e`/`E` exponent. Leading and trailing zeros are
    /// insignificant.
    fn from_str(s: &str) -> Result<Self, NumberError> {
        let bad = || NumberError::NotNumeric(s.chars().take(64).collect());
        // No whitespace around the digits: DynamoDB (Java's BigDecimal)
        // refuses " 5" and "5 ".
        let text = s;
        if text.is_empty() || text.len() > MAX_LITERAL_LEN {
            return Err(bad());
        }
        let bytes = text.as_bytes();
        let mut i = 0;
        let mut negative = false;
        if bytes[0] == b'+' || bytes[0] == b'-' {
            negative = bytes[0] == b'-';
            i = 1;
        }
        let mut digits = Vec::with_capacity(bytes.len());
        let mut point_at: Option<usize> = None;
        let mut saw_digit = false;
        while i < bytes.len() {
            match bytes[i] {
                b'0'..=b'9' => {
                    digits.push(bytes[i] - b'0');
                    saw_digit = true;
                }
                b'.' if point_at.is_none() => point_at = Some(digits.len()),
                b'e' | b'E' => break,
                _ => return Err(bad()),
            }
            i += 1;
        }
        if !saw_digit {
            return Err(bad());
        }
        let mut exp_part: i64 = 0;
        if i < bytes.len() {
            // bytes[i] is 'e' or 'E'. DynamoDB reads the exponent in full
            // and range-checks it: past 64 bits it cannot be converted.
            let rest = &text[i + 1..];
            let unsigned = rest.strip_prefix(['+', '-']).unwrap_or(rest);
            if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            exp_part = rest.parse::<i64>().map_err(|_| bad())?;
        }
        let int_len = point_at.unwrap_or(digits.len()) as i128;
        let lead = digits.iter().take_while(|d| **d == 0).count() as i128;
        if lead == digits.len() as i128 {
            // Zero is zero whatever exponent it is written with (`0e1000`
            // is allowed: Alternator's test_number.py, run against
            // DynamoDB).
            return Ok(Number::zero());
        }
        // Exponent of the first significant digit.
        let exponent = int_len - 1 - lead + i128::from(exp_part);
        if exponent > i128::from(MAX_EXPONENT) {
            return Err(NumberError::Overflow);
        }
        if exponent < i128::from(MIN_EXPONENT) {
            return Err(NumberError::Underflow);
        }
        // In range, so the exponent before stripping leading zeros (at most
        // the literal's length more) fits.
        Number::from_parts(negative, digits, (exponent + lead) as i32)
    }
}

impl Number {
    /// Parses as DynamoDB's older value layer does (BatchWriteItem,
    /// transactions, Scan, PartiQL: Java's `BigDecimal` with 32-bit
    /// arithmetic): an exponent past 32 bits cannot be converted, and the
    /// magnitude wraps, so `1e2147483647` underflows where the newer layer
    /// says it overflows.
    pub fn parse_legacy(s: &str) -> Result<Number, NumberError> {
        let bad = || NumberError::NotNumeric(s.chars().take(64).collect());
        if let Some(at) = s.find(['e', 'E']) {
            let exp: i32 = s[at + 1..].parse().map_err(|_| bad())?;
            let mantissa = s[..at].strip_prefix(['+', '-']).unwrap_or(&s[..at]);
            let fraction = mantissa.split_once('.').map_or(0, |(_, f)| f.len());
            let significant = mantissa.bytes().filter(u8::is_ascii_digit).skip_while(|d| *d == b'0').count();
            // BigDecimal's scale is an int: past it the text cannot be converted.
            let scale = i32::try_from(fraction as i64 - i64::from(exp)).map_err(|_| bad())?;
            if significant > 0
                && mantissa.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                && mantissa.matches('.').count() <= 1
            {
                // Digits before the point, as `precision - scale` in 32 bits
                // (the precision counts trailing zeros, as BigDecimal's does).
                let magnitude = (significant as i32).wrapping_sub(scale);
                if magnitude > MAX_EXPONENT + 1 {
                    return Err(NumberError::Overflow);
                }
                if magnitude < MIN_EXPONENT + 1 {
                    return Err(NumberError::Underflow);
                }
            }
        }
        s.parse()
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        fn sign(n: &Number) -> i8 {
            if n.is_zero() {
                0
            } else if n.negative {
                -1
            } else {
                1
            }
        }
        let (a, b) = (sign(self), sign(other));
        if a != b || a == 0 {
            return a.cmp(&b);
        }
        let magnitude = self.exponent.cmp(&other.exponent).then_with(|| self.digits.cmp(&other.digits));
        if self.negative { magnitude.reverse() } else { magnitude }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Number {
    /// Plain decimal notation, as DynamoDB returns numbers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        let mut s = String::with_capacity(self.digits.len() + 8);
        if self.negative {
            s.push('-');
        }
        let digit = |d: &u8| char::from(b'0' + d);
        if self.exponent < 0 {
            s.push_str("0.");
            for _ in 0..(-self.exponent - 1) {
                s.push('0');
            }
            s.extend(self.digits.iter().map(digit));
        } else {
            let int_len = self.exponent as usize + 1;
            for i in 0..int_len {
                s.push(self.digits.get(i).map(digit).unwrap_or('0'));
            }
            if self.digits.len() > int_len {
                s.push('.');
                s.extend(self.digits[int_len..].iter().map(digit));
            }
        }
        f.write_str(&s)
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "N({self})")
    }
}

impl From<i64> for Number {
    fn from(v: i64) -> Self {
        Number::from_str(&v.to_string()).expect("an i64 is a valid DynamoDB number")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Number {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_normalises() {
        for (input, canonical) in [
            ("0", "0"),
            ("-0", "0"),
            ("000.000", "0"),
            ("1.50", "1.5"),
            ("+7", "7"),
            ("1e3", "1000"),
            ("1.25E-2", "0.0125"),
            ("-12345.678", "-12345.678"),
            (".5", "0.5"),
            ("5.", "5"),
            ("100", "100"),
            ("12345678901234567890123456789012345678", "12345678901234567890123456789012345678"),
        ] {
            assert_eq!(n(input).to_string(), canonical, "{input}");
        }
    }

    #[test]
    fn rejects_what_dynamodb_rejects() {
        assert_eq!("".parse::<Number>(), Err(NumberError::NotNumeric(String::new())));
        assert!(matches!("abc".parse::<Number>(), Err(NumberError::NotNumeric(_))));
        assert!(matches!("1.2.3".parse::<Number>(), Err(NumberError::NotNumeric(_))));
        assert!(matches!("1e".parse::<Number>(), Err(NumberError::NotNumeric(_))));
        assert!(matches!("NaN".parse::<Number>(), Err(NumberError::NotNumeric(_))));
        assert_eq!("123456789012345678901234567890123456789".parse::<Number>(), Err(NumberError::TooPrecise));
        assert_eq!("1e126".parse::<Number>(), Err(NumberError::Overflow));
        assert_eq!("1e-131".parse::<Number>(), Err(NumberError::Underflow));
        assert!("9.9999999999999999999999999999999999999e125".parse::<Number>().is_ok());
        assert!("1e-130".parse::<Number>().is_ok());
    }

    #[test]
    fn exponents_are_read_in_full() {
        use NumberError::{Overflow, Underflow};
        for (text, want) in [
            ("1e99999999999", Err(Overflow)),
            ("-1e99999999999", Err(Overflow)),
            ("1e-99999999999", Err(Underflow)),
            ("1e2147483648", Err(Overflow)),
            ("1e2147483647", Err(Overflow)),
            ("1e-2147483648", Err(Underflow)),
            ("0e125", Ok("0")),
            ("0.001e3", Ok("1")),
            ("000.0012e+3", Ok("1.2")),
        ] {
            assert_eq!(text.parse::<Number>().map(|n| n.to_string()), want.map(str::to_string), "{text}");
        }
        assert!(matches!("1e9223372036854775808".parse::<Number>(), Err(NumberError::NotNumeric(_))));
        assert!(matches!("1e+".parse::<Number>(), Err(NumberError::NotNumeric(_))));
        // The older layer's 32-bit arithmetic.
        assert_eq!(Number::parse_legacy("1e2147483647"), Err(Underflow));
        assert!(matches!(Number::parse_legacy("1e99999999999"), Err(NumberError::NotNumeric(_))));
        assert_eq!(Number::parse_legacy("1e126"), Err(Overflow));
        assert!(matches!(Number::parse_legacy("1e-2147483648"), Err(NumberError::NotNumeric(_))));
        assert_eq!(Number::parse_legacy("1.5e3").map(|n| n.to_string()), Ok("1500".to_string()));
    }

    #[test]
    fn zero_with_any_exponent_is_zero() {
        for text in ["0e1000", "0.0e200", "0e-1000", "-0e1000", "0E+126", "00.000e-131", "0e99999999999"] {
            assert_eq!(text.parse::<Number>(), Ok(Number::zero()), "{text}");
            assert_eq!(text.parse::<Number>().map(|n| n.to_string()), Ok("0".to_string()), "{text}");
        }
        for text in ["0e1000", "0.0e200", "0e-1000"] {
            assert_eq!(Number::parse_legacy(text), Ok(Number::zero()), "{text}");
        }
        assert_eq!("0e1000".parse::<Number>().unwrap(), n("0"));
    }

    #[test]
    fn orders_numerically_and_by_encoding() {
        let sorted = [
            "-1e125", "-100", "-1.55", "-1.5", "-1", "-0.001", "0", "1e-130", "0.001", "1", "1.5", "1.55", "2", "10",
            "100", "1e125",
        ];
        for w in sorted.windows(2) {
            let (a, b) = (n(w[0]), n(w[1]));
            assert!(a < b, "{a} < {b}");
            let (mut ea, mut eb) = (Vec::new(), Vec::new());
            a.encode_ordered(&mut ea);
            b.encode_ordered(&mut eb);
            assert!(ea < eb, "encoding of {a} < {b}");
        }
        assert_eq!(n("1.0"), n("1"));
    }

    #[test]
    fn arithmetic_is_exact_and_checked() {
        assert_eq!(n("0.1").checked_add(&n("0.2")).unwrap(), n("0.3"));
        assert_eq!(n("5").checked_sub(&n("7.5")).unwrap(), n("-2.5"));
        assert_eq!(
            n("9.9999999999999999999999999999999999999e125").checked_add(&n("1e125")),
            Err(NumberError::Overflow)
        );
        // A result past 38 digits is an overflow too, as DynamoDB words it.
        assert_eq!(n("1e50").checked_sub(&n("1")), Err(NumberError::Overflow));
        assert_eq!(n("1e50").checked_add(&n("1")), Err(NumberError::Overflow));
    }
}
