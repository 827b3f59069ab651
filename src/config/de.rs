//! Deserializers for values with rules of their own (positive sizes, durations, ranges),
//! so a bad value is an error naming its key and line, like any other.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

pub(crate) fn de_from_str<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

pub(crate) fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    let v = humantime::parse_duration(&s)
        .map_err(|e| serde::de::Error::custom(format!("{e} (expected e.g. \"30s\", \"5m\")")))?;
    if v.is_zero() {
        return Err(serde::de::Error::custom("must be greater than zero"));
    }
    Ok(v)
}

/// The journal's commit delay: "0s" (commit at once) up to 1 s; longer would hold every
/// acknowledgement (the audit API answers once its events are durable) for that long.
pub(super) fn de_commit_delay<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    let v = humantime::parse_duration(&s)
        .map_err(|e| serde::de::Error::custom(format!("{e} (expected e.g. \"5ms\", \"0s\")")))?;
    if v > Duration::from_secs(1) {
        return Err(serde::de::Error::custom("must be at most 1s"));
    }
    Ok(v)
}

pub(super) fn de_positive<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = u64::deserialize(d)?;
    if v == 0 {
        return Err(serde::de::Error::custom("must be greater than zero"));
    }
    Ok(v)
}

pub(crate) fn de_positive_usize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let v = de_positive(d)?;
    usize::try_from(v).map_err(|_| serde::de::Error::custom("too large"))
}

pub(super) fn de_some_positive_usize<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<usize>, D::Error> {
    de_positive_usize(d).map(Some)
}

pub(super) fn de_some_duration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    de_duration(d).map(Some)
}

pub(super) fn de_max_message<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let v = de_positive_usize(d)?;
    if !(480..=16 * 1024 * 1024).contains(&v) {
        return Err(serde::de::Error::custom(
            "must be between 480 (RFC 5426 minimum) and 16777216",
        ));
    }
    Ok(v)
}

pub(super) fn de_zstd_level<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    let v = i32::deserialize(d)?;
    if !(1..=19).contains(&v) {
        return Err(serde::de::Error::custom("must be between 1 and 19"));
    }
    Ok(v)
}

pub(super) fn de_stream<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    if !crate::segment::valid_stream_id(&s) {
        return Err(serde::de::Error::custom(
            "must be 1 to 64 characters from A-Z a-z 0-9 . _ - (not . or ..)",
        ));
    }
    Ok(Some(s))
}
