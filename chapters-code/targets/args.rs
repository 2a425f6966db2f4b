//! Reading numbers from table arguments the way kernel targets do.

/// `sscanf(arg, "%llu%c", &value, &dummy) == 1`, as dm-linear reads its
/// offset: leading white space is skipped, then a digit must follow (the
/// kernel's `vsscanf` refuses a sign for `%llu`), and nothing may follow the
/// digits. Like the kernel's `simple_strtoull`, it does not notice overflow:
/// the value wraps modulo 2^64. (The target then refuses nothing it should; the
/// core's device-size check catches a wrapped offset that points past the end.)
pub fn sscanf_llu(arg: &str) -> Option<u64> {
    let digits = arg.trim_start();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.bytes().fold(0u64, |value, b| {
        value.wrapping_mul(10).wrapping_add(u64::from(b - b'0'))
    }))
}

/// `kstrtoull(arg, 10, &value)`, the strict reader the kernel recommends for
/// new code: an optional `+`, decimal digits, at most one trailing newline.
/// Overflow is an error (`-ERANGE`), unlike [`sscanf_llu`].
pub fn kstrtoull(arg: &str) -> Option<u64> {
    let body = arg.strip_suffix('\n').unwrap_or(arg);
    let digits = body.strip_prefix('+').unwrap_or(body);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `kstrtouint(arg, 10, &value)`: [`kstrtoull`], and the value must fit in
/// an `unsigned int` (`-ERANGE` otherwise).
pub fn kstrtouint(arg: &str) -> Option<u32> {
    kstrtoull(arg).and_then(|value| u32::try_from(value).ok())
}

/// The count `dm_read_arg_group()` reads first (`validate_next_arg()`,
/// Linux 6.1 `drivers/md/dm-table.c` lines 758-774): an unsigned decimal
/// (`sscanf("%u%c")`, nothing after it), within `min..=max`, and no more
/// words promised than follow it. `None` is the target's error string.
pub fn read_arg_group(words: &[&str], min: usize, max: usize) -> Option<usize> {
    let first = words.first()?;
    if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let count: usize = first.parse().ok()?;
    ((min..=max).contains(&count) && count < words.len()).then_some(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sscanf_takes_what_the_kernel_takes() {
        assert_eq!(sscanf_llu("0"), Some(0));
        assert_eq!(sscanf_llu("  42"), Some(42));
        assert_eq!(sscanf_llu("+42"), None);
        assert_eq!(sscanf_llu("42x"), None);
        assert_eq!(sscanf_llu("-1"), None);
        assert_eq!(sscanf_llu(""), None);
        assert_eq!(sscanf_llu("18446744073709551616"), Some(0));
    }

    #[test]
    fn kstrtouint_keeps_to_32_bits() {
        assert_eq!(kstrtouint("4294967295"), Some(u32::MAX));
        assert_eq!(kstrtouint("4294967296"), None);
        assert_eq!(kstrtouint("-5"), None);
    }

    #[test]
    fn an_arg_group_count_is_bounded_by_its_limits_and_the_words_left() {
        assert_eq!(read_arg_group(&["2", "a", "b"], 0, 2), Some(2));
        assert_eq!(read_arg_group(&["2", "a"], 0, 2), None, "promises too much");
        assert_eq!(read_arg_group(&["3", "a", "b", "c"], 0, 2), None);
        assert_eq!(read_arg_group(&["x"], 0, 2), None);
        assert_eq!(read_arg_group(&["+1", "a"], 0, 2), None);
        assert_eq!(read_arg_group(&[], 0, 2), None);
    }

    #[test]
    fn kstrtoull_is_strict() {
        assert_eq!(kstrtoull("2048"), Some(2048));
        assert_eq!(kstrtoull("+7\n"), Some(7));
        assert_eq!(kstrtoull(" 7"), None);
        assert_eq!(kstrtoull("7 "), None);
        assert_eq!(kstrtoull("0x10"), None);
        assert_eq!(kstrtoull("18446744073709551615"), Some(u64::MAX));
        assert_eq!(kstrtoull("18446744073709551616"), None);
        assert_eq!(kstrtoull("-1"), None);
    }
}
