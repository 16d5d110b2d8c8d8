//! Cancellation. Dropping a future cancels it (Rust's own rule, which the
//! browser platform extends to the `fetch` in flight); an [`AbortHandle`]
//! cancels it from elsewhere, like a JavaScript `AbortController`, and ends
//! a retry wait or a caller's wait on a shared refresh at once.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_util::future::{select, Either};

use crate::error::{ErrorKind, SdkError};

#[derive(Debug, Default)]
struct State {
    aborted: Cell<bool>,
    wakers: RefCell<Vec<Waker>>,
}

/// A cancellation flag shared by its clones. `AbortHandle::default()` is
/// never aborted unless someone calls [`AbortHandle::abort`].
#[derive(Debug, Clone, Default)]
pub struct AbortHandle(Rc<State>);

impl AbortHandle {
    /// A handle not yet aborted.
    pub fn new() -> AbortHandle {
        AbortHandle::default()
    }

    /// Aborts every operation given this handle (or a clone).
    pub fn abort(&self) {
        if !self.0.aborted.replace(true) {
            for w in self.0.wakers.borrow_mut().drain(..) {
                w.wake();
            }
        }
    }

    /// Whether [`AbortHandle::abort`] was called.
    pub fn is_aborted(&self) -> bool {
        self.0.aborted.get()
    }

    /// Completes when the handle is aborted.
    pub fn aborted(&self) -> Aborted {
        Aborted(self.clone())
    }
}

/// The future of [`AbortHandle::aborted`].
#[derive(Debug)]
pub struct Aborted(AbortHandle);

impl Future for Aborted {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let state = &(self.0).0;
        if state.aborted.get() {
            return Poll::Ready(());
        }
        let mut wakers = state.wakers.borrow_mut();
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// The error of an aborted operation on `what` (a URL or an action).
pub fn aborted_error(what: &str) -> SdkError {
    SdkError::new(ErrorKind::Aborted, crate::form::cat(&[what, ": aborted"]))
}

/// `work` as this caller sees it: an abort of `handle` ends it at once with an
/// `aborted` error (and drops `work`).
pub async fn or_abort<T>(
    work: impl Future<Output = Result<T, SdkError>>,
    handle: &AbortHandle,
    what: &str,
) -> Result<T, SdkError> {
    if handle.is_aborted() {
        return Err(aborted_error(what));
    }
    let work = std::pin::pin!(work);
    match select(work, handle.aborted()).await {
        Either::Left((result, _)) => result,
        Either::Right(((), _)) => Err(aborted_error(what)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::future::pending;

    #[test]
    fn an_abort_ends_a_wait_that_would_never_end() {
        let handle = AbortHandle::new();
        let waiting = or_abort(pending::<Result<(), SdkError>>(), &handle, "wait");
        let mut waiting = Box::pin(waiting);
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        handle.abort();
        match waiting.as_mut().poll(&mut cx) {
            Poll::Ready(Err(e)) => assert_eq!(e.kind, ErrorKind::Aborted),
            other => panic!("{other:?}"),
        }
        // Aborted before it starts: never polled.
        let e = futures_executor::block_on(or_abort(async { Ok(1) }, &handle, "x")).unwrap_err();
        assert_eq!(e.message, "x: aborted");
    }
}
