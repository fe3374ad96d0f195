// The stand-ins for the VM's NIF API (src/main.rs) must be in the dynamic
// symbol table, where the handler library's references resolve.
fn main() {
    println!("cargo:rustc-link-arg-bins=-Wl,--export-dynamic");
}
