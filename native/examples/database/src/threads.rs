//! Running code on a thread that is not one of the broker's.
//!
//! `init` and `deinit` run on the broker's (dirty) scheduler threads. A
//! thread-local with a destructor left on such a thread pins this library
//! in memory after the broker unloads it, and starting a thread with
//! `std::thread` or opening a PostgreSQL connection (tokio) leaves one. So
//! the handler starts its threads, connects, and closes its connections
//! from a short-lived OS thread made here, as the SDK does for its workers.
//! (When the SDK exports its helper, this module goes.)

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `f` on a new plain OS thread and returns its result; `Err` when
/// the thread could not start or `f` panicked.
pub fn on_plain_thread<R: Send, F: FnOnce() -> R + Send>(f: F) -> Result<R, String> {
    struct Call<F, R> {
        f: Option<F>,
        out: Option<R>,
    }
    extern "C" fn trampoline<F: FnOnce() -> R, R>(arg: *mut libc::c_void) -> *mut libc::c_void {
        // SAFETY: `arg` is the `Call` on the stack of `on_plain_thread`,
        // which waits in pthread_join until this thread is done with it.
        let call = unsafe { &mut *arg.cast::<Call<F, R>>() };
        if let Some(f) = call.f.take() {
            // A panic must not unwind out of an extern "C" function.
            call.out = catch_unwind(AssertUnwindSafe(f)).ok();
        }
        std::ptr::null_mut()
    }
    let mut call = Call {
        f: Some(f),
        out: None,
    };
    let mut thread: libc::pthread_t = 0;
    // SAFETY: `trampoline::<F, R>` has pthread's start routine type and gets
    // a pointer to `call`, which outlives the thread: it is joined below
    // before `call` goes out of scope.
    let rc = unsafe {
        libc::pthread_create(
            &mut thread,
            std::ptr::null(),
            trampoline::<F, R>,
            (&mut call as *mut Call<F, R>).cast(),
        )
    };
    if rc != 0 {
        return Err(format!(
            "cannot start a thread: {}",
            std::io::Error::from_raw_os_error(rc)
        ));
    }
    // SAFETY: `thread` was created above, is joinable, and is joined once.
    let rc = unsafe { libc::pthread_join(thread, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(format!(
            "cannot join a thread: {}",
            std::io::Error::from_raw_os_error(rc)
        ));
    }
    call.out.ok_or_else(|| "panicked".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_on_another_thread_and_returns_the_result() {
        let here = std::thread::current().id();
        let there = on_plain_thread(|| std::thread::current().id()).unwrap();
        assert_ne!(here, there);
        assert_eq!(on_plain_thread(|| 6 * 7), Ok(42));
    }

    #[test]
    fn a_panic_is_an_error() {
        let r: Result<(), String> = on_plain_thread(|| panic!("boom"));
        assert!(r.is_err());
    }
}
