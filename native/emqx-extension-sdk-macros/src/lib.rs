//! The `#[handler]` attribute of `emqx-extension-sdk`; see that crate's docs.

use proc_macro::TokenStream;
use quote::quote;
use syn::{parse_macro_input, ImplItem, ItemImpl};

/// Marks an `impl Handler for T` block: adds `implemented_hooks`, listing
/// every `on_*` method the block defines. A misspelt `on_*` name is caught
/// by the compiler, since it is not a method of the trait.
#[proc_macro_attribute]
pub fn handler(_args: TokenStream, input: TokenStream) -> TokenStream {
    let mut item = parse_macro_input!(input as ItemImpl);
    let methods: Vec<String> = item
        .items
        .iter()
        .filter_map(|it| match it {
            ImplItem::Fn(f) => Some(f.sig.ident.to_string()),
            _ => None,
        })
        .filter(|name| name.starts_with("on_"))
        .collect();
    let generated: ImplItem = syn::parse_quote! {
        fn implemented_hooks(&self) -> ::emqx_extension_sdk::HookSet {
            ::emqx_extension_sdk::HookSet::from_methods(&[#(#methods),*])
        }
    };
    item.items.push(generated);
    quote!(#item).into()
}
