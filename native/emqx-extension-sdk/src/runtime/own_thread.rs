//! Threads of the SDK's own: plain pthreads, neither the VM's (a handler
//! must never run on a scheduler) nor `std::thread`'s, which would leave
//! per-thread data on the calling thread, and that thread may be one of
//! the VM's schedulers, outliving the library the data's destructors live in.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// A plain OS thread of our own (not one of the VM's, and not started by
/// `std::thread`, which would leave per-thread data on the calling thread).
pub(crate) struct OwnThread(libc::pthread_t);

impl OwnThread {
    pub(crate) fn spawn<F: FnOnce() + Send + 'static>(
        name: &str,
        f: F,
    ) -> std::io::Result<OwnThread> {
        type Boxed = Box<dyn FnOnce() + Send>;
        extern "C" fn trampoline(arg: *mut libc::c_void) -> *mut libc::c_void {
            // SAFETY: `arg` is the `Box<Boxed>` leaked by `spawn` for this
            // thread alone; it is reclaimed exactly once, here.
            let f = unsafe { Box::from_raw(arg.cast::<Boxed>()) };
            // A panic must not unwind out of an extern "C" function.
            let _ = catch_unwind(AssertUnwindSafe(f));
            std::ptr::null_mut()
        }
        let arg: *mut Boxed = Box::into_raw(Box::new(Box::new(f) as Boxed));
        let mut thread: libc::pthread_t = 0;
        // SAFETY: `trampoline` matches pthread's start routine type and
        // takes ownership of `arg`, which stays valid until it does.
        let rc =
            unsafe { libc::pthread_create(&mut thread, std::ptr::null(), trampoline, arg.cast()) };
        if rc != 0 {
            // SAFETY: the thread was not created, so `arg` is still ours.
            drop(unsafe { Box::from_raw(arg) });
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        // Linux names are at most 15 bytes; the name only helps ps and top.
        let mut short: Vec<u8> = name.bytes().filter(|b| *b != 0).take(15).collect();
        short.push(0);
        // SAFETY: `thread` is a live thread we created; `short` is a
        // NUL-terminated string that outlives the call.
        unsafe { libc::pthread_setname_np(thread, short.as_ptr().cast()) };
        Ok(OwnThread(thread))
    }

    pub(crate) fn join(self) {
        // SAFETY: `self.0` was created joinable by `spawn` and is joined
        // once: `self` is consumed.
        unsafe { libc::pthread_join(self.0, std::ptr::null_mut()) };
    }
}

/// Runs `f` on a new plain OS thread (not one of the VM's, and not started
/// by `std::thread`, which would leave per-thread data on this one) and
/// returns its result.
pub(crate) fn on_own_thread<R: Send, F: FnOnce() -> R + Send>(f: F) -> std::io::Result<R> {
    struct Call<F, R> {
        f: Option<F>,
        out: Option<R>,
    }
    extern "C" fn trampoline<F: FnOnce() -> R, R>(arg: *mut libc::c_void) -> *mut libc::c_void {
        // SAFETY: `arg` is the `Call` on the stack of `on_own_thread`, which
        // waits in pthread_join until this thread is done with it.
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
    // SAFETY: `trampoline::<F, R>` matches pthread's start routine type and
    // gets a pointer to `call`, which outlives the thread: it is joined
    // below before `call` goes out of scope.
    let rc = unsafe {
        libc::pthread_create(
            &mut thread,
            std::ptr::null(),
            trampoline::<F, R>,
            (&mut call as *mut Call<F, R>).cast(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::from_raw_os_error(rc));
    }
    // SAFETY: `thread` was created above, joinable, and is joined once.
    let rc = unsafe { libc::pthread_join(thread, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(std::io::Error::from_raw_os_error(rc));
    }
    call.out
        .ok_or_else(|| std::io::Error::other("worker start-up panicked"))
}
