//! Counted assertions: every [`check!`](crate::check!) and
//! [`check_eq!`](crate::check_eq!) adds one to a global counter, so the
//! harness can report how many assertions the suite made. A failed check
//! panics like `assert!`, and libtest-mimic reports the trial as failed.

use std::sync::atomic::{AtomicUsize, Ordering};

static CHECKS: AtomicUsize = AtomicUsize::new(0);

/// Counts one assertion (called by the macros).
pub fn count() {
    CHECKS.fetch_add(1, Ordering::Relaxed);
}

/// How many assertions have been evaluated so far.
pub fn total() -> usize {
    CHECKS.load(Ordering::Relaxed)
}

/// `assert!` that is counted.
#[macro_export]
macro_rules! check {
    ($cond:expr $(,)?) => {{
        $crate::check::count();
        assert!($cond);
    }};
    ($cond:expr, $($arg:tt)+) => {{
        $crate::check::count();
        assert!($cond, $($arg)+);
    }};
}

/// `assert_eq!` that is counted.
#[macro_export]
macro_rules! check_eq {
    ($left:expr, $right:expr $(,)?) => {{
        $crate::check::count();
        assert_eq!($left, $right);
    }};
    ($left:expr, $right:expr, $($arg:tt)+) => {{
        $crate::check::count();
        assert_eq!($left, $right, $($arg)+);
    }};
}
