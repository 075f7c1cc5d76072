//! Strings a guest hands the host (what the handler returns, the arguments of its `store` and
//! `log` calls), read out of the guest's memory with a cap: a string longer than its bound is
//! measured where it lies, and only as much of it is copied as the host keeps.
//!
//! wasmtime lifts a `string` into a `String` of whatever length the guest says, before the host
//! can look at it: a guest with 4 GiB of linear memory could make the host allocate 4 GiB more.
//! The types here are lifted instead. Each starts from a [`Span`]: the string's place and length,
//! checked against the guest's memory by wasmtime's own `WasmStr` (alignment, bounds) and not
//! copied. Then [`Capped`] copies the string only if it fits its bound, [`Head`] copies at most
//! its bound from the start, and [`CappedError`] copies an error object's two strings only if the
//! object, serialized, fits Lambda's response limit.
//!
//! This reads linear memory through `wasmtime::component::__internal` (`LiftContext`), which
//! wasmtime does not promise to keep stable: the workspace pins wasmtime to an exact version.

use wasmtime::component::__internal::wasmtime_environ::component::StringEncoding;
use wasmtime::component::__internal::{CanonicalAbiInfo, InstanceType, InterfaceType, LiftContext};
use wasmtime::component::{ComponentType, Lift, WasmStr};

use crate::invocation::{ERROR_JSON_OVERHEAD, json_byte_len, json_string_len};
use crate::limits::MAX_RESPONSE_BYTES;

/// How a string is encoded in the guest's memory (the component's `string-encoding` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// Every Rust, JS and Python guest.
    Utf8,
    /// Two bytes a code unit.
    Utf16,
    /// One byte a character: the short form of `latin1+utf16`.
    Latin1,
}

/// Where a guest string lies in the guest's memory, checked to be in bounds but not copied. Only
/// meaningful inside the lift that produced it (the memory it points into is the guest's).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    ptr: usize,
    /// Its length in code units of its encoding: bytes of UTF-8 or Latin-1, UTF-16 units.
    units: usize,
    encoding: Encoding,
}

impl Span {
    /// The string at `ptr` of length `len` (as the canonical ABI passes them).
    fn new(cx: &LiftContext<'_>, ptr: u32, len: u32) -> Span {
        /// The canonical ABI's tag of a UTF-16 string under the `latin1+utf16` encoding.
        const UTF16_TAG: u32 = 1 << 31;
        let (encoding, units) = match cx.options().string_encoding {
            StringEncoding::Utf16 => (Encoding::Utf16, len),
            StringEncoding::CompactUtf16 if len & UTF16_TAG == 0 => (Encoding::Latin1, len),
            StringEncoding::CompactUtf16 => (Encoding::Utf16, len & !UTF16_TAG),
            _ => (Encoding::Utf8, len),
        };
        Span { ptr: ptr as usize, units: units as usize, encoding }
    }

    /// The length in code units. Each is at least one byte of UTF-8, so comparing it with a cap
    /// never lets a string that is too long through.
    pub(crate) fn units(&self) -> usize {
        self.units
    }

    /// The string's bytes in the guest's memory (in bounds: checked when it was lifted).
    fn bytes<'a>(&self, cx: &LiftContext<'a>) -> wasmtime::Result<&'a [u8]> {
        let len = match self.encoding {
            Encoding::Utf16 => self.units * 2,
            Encoding::Utf8 | Encoding::Latin1 => self.units,
        };
        cx.memory()
            .get(self.ptr..)
            .and_then(|rest| rest.get(..len))
            .ok_or_else(|| wasmtime::Error::msg("string pointer/length out of bounds of memory"))
    }

    /// The characters of a UTF-16 or Latin-1 string, decoded one at a time.
    fn chars<'a>(&self, bytes: &'a [u8]) -> Box<dyn Iterator<Item = wasmtime::Result<char>> + 'a> {
        match self.encoding {
            Encoding::Latin1 => Box::new(bytes.iter().map(|&b| Ok(char::from(b)))),
            _ => {
                let units = bytes.chunks_exact(2).map(|pair| u16::from_le_bytes([pair[0], pair[1]]));
                Box::new(char::decode_utf16(units).map(|c| c.map_err(wasmtime::Error::from)))
            }
        }
    }

    /// Copies the whole string (as wasmtime's own lift would, with the same errors).
    fn read(&self, cx: &LiftContext<'_>) -> wasmtime::Result<String> {
        let bytes = self.bytes(cx)?;
        match self.encoding {
            Encoding::Utf8 => Ok(std::str::from_utf8(bytes)?.to_owned()),
            _ => self.chars(bytes).collect(),
        }
    }

    /// Copies at most `max` bytes (of UTF-8) from the start of the string, cut before a
    /// character that does not fit; returns them and the code units left unread. Only the head
    /// is validated.
    fn read_head(&self, cx: &LiftContext<'_>, max: usize) -> wasmtime::Result<(String, usize)> {
        let bytes = self.bytes(cx)?;
        if self.encoding == Encoding::Utf8 {
            let take = &bytes[..bytes.len().min(max)];
            let head = match std::str::from_utf8(take) {
                Ok(head) => head,
                // A character that runs past the cut: keep what precedes it.
                Err(e) if take.len() < bytes.len() && e.error_len().is_none() => {
                    std::str::from_utf8(&take[..e.valid_up_to()])?
                }
                Err(e) => return Err(e.into()),
            };
            return Ok((head.to_owned(), bytes.len() - head.len()));
        }
        let mut head = String::new();
        let mut read = 0;
        for c in self.chars(bytes) {
            let c = c?;
            if head.len() + c.len_utf8() > max {
                break;
            }
            head.push(c);
            read += if self.encoding == Encoding::Utf16 { c.len_utf16() } else { 1 };
        }
        Ok((head, self.units - read))
    }

    /// The string's length as a JSON string (quotes and escapes included), read in place. An
    /// unpaired UTF-16 surrogate counts as the three bytes of its replacement character.
    fn json_len(&self, cx: &LiftContext<'_>) -> wasmtime::Result<usize> {
        let bytes = self.bytes(cx)?;
        Ok(match self.encoding {
            Encoding::Utf8 => json_string_len(bytes),
            _ => {
                let len = |c: wasmtime::Result<char>| match c {
                    Ok(c) if c.is_ascii() => json_byte_len(c as u8),
                    Ok(c) => c.len_utf8(),
                    Err(_) => '\u{FFFD}'.len_utf8(),
                };
                2 + self.chars(bytes).map(len).sum::<usize>()
            }
        })
    }
}

// SAFETY: `Span` is lifted exactly as a `string`: its `Lower` representation, ABI and type check
// are those of `String`, and lifting first lifts a `WasmStr` from the same pointer and length,
// which checks them against the guest's memory (alignment and bounds) as wasmtime's own string
// lifts do. Nothing is read from memory here; `Span::bytes` reads it later through the
// `LiftContext`'s safe slice.
#[allow(unsafe_code)]
unsafe impl ComponentType for Span {
    type Lower = <String as ComponentType>::Lower;

    const ABI: CanonicalAbiInfo = <String as ComponentType>::ABI;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <String as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: see `ComponentType for Span` above.
#[allow(unsafe_code)]
unsafe impl Lift for Span {
    fn linear_lift_from_flat(cx: &mut LiftContext<'_>, ty: InterfaceType, src: &Self::Lower) -> wasmtime::Result<Self> {
        WasmStr::linear_lift_from_flat(cx, ty, src)?;
        // A string is flattened as (pointer, length).
        Ok(Span::new(cx, src[0].get_u32(), src[1].get_u32()))
    }

    fn linear_lift_from_memory(cx: &mut LiftContext<'_>, ty: InterfaceType, bytes: &[u8]) -> wasmtime::Result<Self> {
        WasmStr::linear_lift_from_memory(cx, ty, bytes)?;
        // A string in memory is a little-endian u32 pointer, then a u32 length.
        let word = |at: usize| {
            bytes
                .get(at..at + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_le_bytes)
                .ok_or_else(|| wasmtime::Error::msg("string pointer pair out of bounds"))
        };
        Ok(Span::new(cx, word(0)?, word(4)?))
    }
}

/// A type lifted from a guest `string` through its [`Span`].
trait FromSpan: Sized {
    fn from_span(cx: &mut LiftContext<'_>, span: Span) -> wasmtime::Result<Self>;
}

/// `ComponentType` and `Lift` for a `FromSpan` type with a `const MAX: usize` parameter: a
/// `string` in the component's types, lifted as a [`Span`] and then `from_span`.
macro_rules! lifted_through_span {
    ($ty:ident) => {
        // SAFETY: exactly `Span`'s representation, ABI and type check; lifting lifts a `Span`
        // (see its `ComponentType` impl) and reads nothing more.
        #[allow(unsafe_code)]
        unsafe impl<const MAX: usize> ComponentType for $ty<MAX> {
            type Lower = <Span as ComponentType>::Lower;

            const ABI: CanonicalAbiInfo = <Span as ComponentType>::ABI;

            fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
                <Span as ComponentType>::typecheck(ty, types)
            }
        }

        // SAFETY: see `ComponentType` above.
        #[allow(unsafe_code)]
        unsafe impl<const MAX: usize> Lift for $ty<MAX> {
            fn linear_lift_from_flat(
                cx: &mut LiftContext<'_>,
                ty: InterfaceType,
                src: &Self::Lower,
            ) -> wasmtime::Result<Self> {
                let span = Span::linear_lift_from_flat(cx, ty, src)?;
                Self::from_span(cx, span)
            }

            fn linear_lift_from_memory(
                cx: &mut LiftContext<'_>,
                ty: InterfaceType,
                bytes: &[u8],
            ) -> wasmtime::Result<Self> {
                let span = Span::linear_lift_from_memory(cx, ty, bytes)?;
                Self::from_span(cx, span)
            }
        }
    };
}

/// A guest string, copied only if it is at most `MAX` bytes long (of UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Capped<const MAX: usize> {
    /// The string, at most `MAX` bytes.
    Fits(String),
    /// Longer than the cap: its length, never copied. In bytes for a UTF-8 guest (every Rust, JS
    /// and Python one); for a UTF-16 or Latin-1 one in code units (each at least one byte), or in
    /// bytes when it had to be transcoded to be measured.
    TooLarge(usize),
}

impl<const MAX: usize> FromSpan for Capped<MAX> {
    fn from_span(cx: &mut LiftContext<'_>, span: Span) -> wasmtime::Result<Self> {
        if span.units() > MAX {
            return Ok(Capped::TooLarge(span.units()));
        }
        // At most MAX code units: a bounded copy (up to three bytes of UTF-8 a unit).
        let text = span.read(cx)?;
        Ok(if text.len() > MAX { Capped::TooLarge(text.len()) } else { Capped::Fits(text) })
    }
}

lifted_through_span!(Capped);

/// The start of a guest string: at most `MAX` bytes (of UTF-8) are copied, cut before a
/// character that does not fit, and the rest is only counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head<const MAX: usize> {
    pub(crate) text: String,
    /// What was not read: bytes for a UTF-8 guest, code units for another.
    pub(crate) unread: usize,
}

impl<const MAX: usize> FromSpan for Head<MAX> {
    fn from_span(cx: &mut LiftContext<'_>, span: Span) -> wasmtime::Result<Self> {
        let (text, unread) = span.read_head(cx, MAX)?;
        Ok(Head { text, unread })
    }
}

lifted_through_span!(Head);

/// The handler's `function-error`, as it lies in the guest's memory.
#[derive(ComponentType, Lift)]
#[component(record)]
pub(crate) struct RawError {
    #[component(name = "error-type")]
    error_type: Span,
    #[component(name = "error-message")]
    error_message: Span,
}

/// The handler's `function-error`, copied only if its error object
/// (`{"errorMessage": ..., "errorType": ...}`, the payload the caller gets) fits Lambda's
/// response limit, [`MAX_RESPONSE_BYTES`]. At most that many bytes of the two strings together
/// are ever copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CappedError {
    Fits {
        error_type: String,
        error_message: String,
    },
    /// The error object is larger: its serialized size in bytes, measured in the guest's memory
    /// (for a UTF-16 or Latin-1 guest whose strings were not copied, from their characters).
    TooLarge(usize),
}

impl CappedError {
    fn from_raw(cx: &mut LiftContext<'_>, raw: RawError) -> wasmtime::Result<Self> {
        let RawError { error_type, error_message } = raw;
        // Each code unit is at least one byte of JSON, and each string has its quotes.
        let at_least = ERROR_JSON_OVERHEAD + (error_type.units() + 2) + (error_message.units() + 2);
        if at_least > MAX_RESPONSE_BYTES {
            let size = ERROR_JSON_OVERHEAD + error_type.json_len(cx)? + error_message.json_len(cx)?;
            return Ok(CappedError::TooLarge(size));
        }
        let error_type = error_type.read(cx)?;
        let error_message = error_message.read(cx)?;
        let size =
            ERROR_JSON_OVERHEAD + json_string_len(error_type.as_bytes()) + json_string_len(error_message.as_bytes());
        Ok(if size > MAX_RESPONSE_BYTES {
            CappedError::TooLarge(size)
        } else {
            CappedError::Fits { error_type, error_message }
        })
    }
}

// SAFETY: exactly `RawError`'s representation, ABI and type check (a record of two strings);
// lifting lifts a `RawError` (two `Span`s, see `ComponentType for Span`) and then reads through
// `Span`'s checked slices only.
#[allow(unsafe_code)]
unsafe impl ComponentType for CappedError {
    type Lower = <RawError as ComponentType>::Lower;

    const ABI: CanonicalAbiInfo = <RawError as ComponentType>::ABI;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <RawError as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: see `ComponentType for CappedError` above.
#[allow(unsafe_code)]
unsafe impl Lift for CappedError {
    fn linear_lift_from_flat(cx: &mut LiftContext<'_>, ty: InterfaceType, src: &Self::Lower) -> wasmtime::Result<Self> {
        let raw = RawError::linear_lift_from_flat(cx, ty, src)?;
        CappedError::from_raw(cx, raw)
    }

    fn linear_lift_from_memory(cx: &mut LiftContext<'_>, ty: InterfaceType, bytes: &[u8]) -> wasmtime::Result<Self> {
        let raw = RawError::linear_lift_from_memory(cx, ty, bytes)?;
        CappedError::from_raw(cx, raw)
    }
}
