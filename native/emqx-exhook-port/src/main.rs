//! `emqx_exhook_port LIBRARY`: serves the handler in LIBRARY (a library
//! built with emqx-extension-sdk, the same file the NIF transport loads)
//! over stdin/stdout, as the plugin's Port transport runs it.
//!
//! A handler library refers to the VM's NIF API (`enif_*`), and is linked
//! to resolve those references when it is loaded. Outside the VM nothing
//! provides them, so this program does: each stand-in aborts if called,
//! which the Port transport never does (it decodes the External Term
//! Format itself). The names are the whole NIF API as rustler declares it
//! (OTP 21 to 28), so any handler library finds what it refers to.

use std::ffi::{CStr, CString, OsStr};
use std::process::ExitCode;

macro_rules! not_in_the_vm {
    ($($name:ident)*) => {
        $(
            #[no_mangle]
            pub extern "C" fn $name() {
                not_in_the_vm(stringify!($name));
            }
        )*
    };
}

fn not_in_the_vm(name: &str) -> ! {
    eprintln!("emqx_exhook_port: the handler called {name}, which exists only inside the VM");
    std::process::abort()
}

not_in_the_vm! {
    enif_alloc enif_alloc_binary enif_alloc_env enif_alloc_resource enif_binary_to_term
    enif_clear_env enif_compare enif_compare_monitors enif_compare_pids enif_cond_broadcast
    enif_cond_create enif_cond_destroy enif_cond_name enif_cond_signal enif_cond_wait
    enif_consume_timeslice enif_convert_time_unit enif_cpu_time enif_demonitor_process
    enif_dlopen enif_dlsym enif_dynamic_resource_call enif_equal_tids enif_fprintf enif_free
    enif_free_env enif_free_iovec enif_get_atom enif_get_atom_cache_index enif_get_atom_length
    enif_get_double enif_get_int enif_get_int64 enif_get_list_cell enif_get_list_length
    enif_get_local_pid enif_get_local_port enif_get_long enif_get_map_size enif_get_map_value
    enif_get_resource enif_get_string enif_get_string_length enif_get_tuple enif_get_uint
    enif_get_uint64 enif_get_ulong enif_getenv enif_has_pending_exception enif_hash
    enif_init_resource_type enif_inspect_binary enif_inspect_iolist_as_binary enif_inspect_iovec
    enif_ioq_create enif_ioq_deq enif_ioq_destroy enif_ioq_enq enif_ioq_enq_binary enif_ioq_enqv
    enif_ioq_peek enif_ioq_peek_head enif_ioq_size enif_is_atom enif_is_binary
    enif_is_current_process_alive enif_is_empty_list enif_is_exception enif_is_fun
    enif_is_identical enif_is_list enif_is_map enif_is_number enif_is_pid enif_is_pid_undefined
    enif_is_port enif_is_port_alive enif_is_process_alive enif_is_ref enif_is_tuple
    enif_keep_resource enif_make_atom enif_make_atom_len enif_make_badarg enif_make_binary
    enif_make_copy enif_make_double enif_make_existing_atom enif_make_existing_atom_len
    enif_make_int enif_make_int64 enif_make_list enif_make_list1 enif_make_list2 enif_make_list3
    enif_make_list4 enif_make_list5 enif_make_list6 enif_make_list7 enif_make_list8
    enif_make_list9 enif_make_list_cell enif_make_list_from_array enif_make_long
    enif_make_map_from_arrays enif_make_map_put enif_make_map_remove enif_make_map_update
    enif_make_monitor_term enif_make_new_atom enif_make_new_atom_len enif_make_new_binary
    enif_make_new_map enif_make_pid enif_make_ref enif_make_resource enif_make_resource_binary
    enif_make_reverse_list enif_make_string enif_make_string_len enif_make_sub_binary
    enif_make_tuple enif_make_tuple1 enif_make_tuple2 enif_make_tuple3 enif_make_tuple4
    enif_make_tuple5 enif_make_tuple6 enif_make_tuple7 enif_make_tuple8 enif_make_tuple9
    enif_make_tuple_from_array enif_make_uint enif_make_uint64 enif_make_ulong
    enif_make_unique_integer enif_map_iterator_create enif_map_iterator_destroy
    enif_map_iterator_get_pair enif_map_iterator_is_head enif_map_iterator_is_tail
    enif_map_iterator_next enif_map_iterator_prev enif_max_atom_cache_index enif_monitor_process
    enif_monotonic_time enif_mutex_create enif_mutex_destroy enif_mutex_lock enif_mutex_name
    enif_mutex_trylock enif_mutex_unlock enif_now_time enif_open_resource_type
    enif_open_resource_type_x enif_port_command enif_priv_data enif_raise_exception enif_realloc
    enif_realloc_binary enif_release_binary enif_release_resource enif_rwlock_create
    enif_rwlock_destroy enif_rwlock_name enif_rwlock_rlock enif_rwlock_runlock
    enif_rwlock_rwlock enif_rwlock_rwunlock enif_rwlock_tryrlock enif_rwlock_tryrwlock
    enif_schedule_nif enif_select enif_select_error enif_select_read enif_select_write
    enif_select_x enif_self enif_send enif_set_option enif_set_pid_undefined
    enif_sizeof_resource enif_snprintf enif_system_info enif_term_size enif_term_to_binary
    enif_term_type enif_thread_create enif_thread_exit enif_thread_join enif_thread_name
    enif_thread_opts_create enif_thread_opts_destroy enif_thread_self enif_thread_type
    enif_time_offset enif_tsd_get enif_tsd_key_create enif_tsd_key_destroy enif_tsd_set
    enif_vfprintf enif_vsnprintf enif_whereis_pid enif_whereis_port
}

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    match args.as_slice() {
        [flag, library] if flag == "--probe" => probe(library),
        [library] => serve(library),
        _ => {
            eprintln!("usage: emqx_exhook_port LIBRARY | emqx_exhook_port --probe LIBRARY");
            ExitCode::from(2)
        }
    }
}

/// Serves the handler in `library` over stdin/stdout.
fn serve(library: &OsStr) -> ExitCode {
    let handle = match open(library) {
        Ok(handle) => handle,
        Err(why) => {
            eprintln!("emqx_exhook_port: {why}");
            return ExitCode::from(2);
        }
    };
    let Some(entry) = symbol(handle, c"emqx_exhook_port_main") else {
        eprintln!(
            "emqx_exhook_port: {} has no emqx_exhook_port_main: build it with export_handler! of emqx-extension-sdk",
            library.to_string_lossy()
        );
        return ExitCode::from(2);
    };
    // SAFETY: `export_handler!` defines emqx_exhook_port_main as
    // `extern "C" fn() -> i32`; the library stays loaded until exit.
    let serve: extern "C" fn() -> i32 = unsafe { std::mem::transmute(entry) };
    ExitCode::from(u8::try_from(serve()).unwrap_or(1))
}

/// Tells the plugin, before it loads `library` into the broker's VM, what
/// the file is: one line on stdout, `ok emqx-extension-sdk <ABI> <module>`
/// for a handler library, else `error <kind> <text>` (kind: not_loadable,
/// not_a_handler, old_sdk). Loading it here first also keeps a library
/// whose load-time code crashes from taking the broker down.
fn probe(library: &OsStr) -> ExitCode {
    let line = match open(library) {
        Err(why) => format!("error not_loadable {why}"),
        Ok(handle) => match symbol(handle, c"emqx_exhook_library_info") {
            Some(info) => {
                // SAFETY: `export_handler!` defines emqx_exhook_library_info as
                // `extern "C" fn() -> *const c_char`, returning a static C string.
                let info: extern "C" fn() -> *const std::ffi::c_char =
                    unsafe { std::mem::transmute(info) };
                // SAFETY: the pointer is a NUL-terminated static string of the library.
                let text = unsafe { CStr::from_ptr(info()) };
                format!("ok {}", text.to_string_lossy())
            }
            None if symbol(handle, c"emqx_exhook_port_main").is_some() => {
                "error old_sdk built with an older emqx-extension-sdk".to_string()
            }
            None => "error not_a_handler no emqx-extension-sdk entry point".to_string(),
        },
    };
    println!("{line}");
    ExitCode::SUCCESS
}

/// dlopen with every reference resolved now (including the stand-ins above).
fn open(library: &OsStr) -> Result<*mut std::ffi::c_void, String> {
    let path = CString::new(library.as_encoded_bytes())
        .map_err(|_| "library path contains NUL".to_string())?;
    // SAFETY: `path` is a valid C string; RTLD_NOW resolves the library's
    // references (including the stand-ins above) before any of its code runs.
    let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        // SAFETY: dlerror returns a valid C string after a failed dlopen.
        let why = unsafe { CStr::from_ptr(libc::dlerror()) };
        return Err(why.to_string_lossy().into_owned());
    }
    Ok(handle)
}

fn symbol(handle: *mut std::ffi::c_void, name: &CStr) -> Option<*mut std::ffi::c_void> {
    // SAFETY: `handle` is a loaded library and `name` a valid C string.
    let found = unsafe { libc::dlsym(handle, name.as_ptr()) };
    (!found.is_null()).then_some(found)
}
