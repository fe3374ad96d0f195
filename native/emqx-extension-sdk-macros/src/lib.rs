//! The `#[handler]` attribute of `emqx-extension-sdk`; see that crate's docs.

use proc_macro::TokenStream;
use proc_macro2::{Delimiter, Group, Spacing, TokenStream as Tokens, TokenTree};
use quote::{quote, ToTokens};
use syn::{parse_macro_input, ImplItem, ItemImpl};

/// Marks an `impl Handler for T` block: adds `implemented_hooks`, listing
/// every `on_*` method the block defines (a misspelt `on_*` name is caught
/// by the compiler, since it is not a method of the trait), and sends what
/// its methods `print!`, `println!`, `eprint!` or `eprintln!` to the
/// broker's log, one record a line (info for stdout, warning for stderr),
/// instead of the broker's console.
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
    for it in &mut item.items {
        if let ImplItem::Fn(f) = it {
            let body = prints_to_log(f.block.to_token_stream());
            if let Ok(block) = syn::parse2(body) {
                f.block = block;
            }
        }
    }
    let generated: ImplItem = syn::parse_quote! {
        fn implemented_hooks(&self) -> ::emqx_extension_sdk::HookSet {
            ::emqx_extension_sdk::HookSet::from_methods(&[#(#methods),*])
        }
    };
    item.items.push(generated);
    quote!(#item).into()
}

/// `println!(...)` (not `std::println!`) becomes the SDK's `print_line`,
/// at every depth of `tokens`.
fn prints_to_log(tokens: Tokens) -> Tokens {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        if let Some((stderr, args)) = print_call(&tokens, i) {
            out.extend(quote! {
                ::emqx_extension_sdk::runtime::logging::print_line(::std::format_args!(#args), #stderr)
            });
            i += 3;
            continue;
        }
        out.push(match &tokens[i] {
            TokenTree::Group(g) => {
                let mut inner = Group::new(g.delimiter(), prints_to_log(g.stream()));
                inner.set_span(g.span());
                TokenTree::Group(inner)
            }
            other => other.clone(),
        });
        i += 1;
    }
    out.into_iter().collect()
}

/// At `i`: `print! (...)` and its kind (stderr or not) and arguments,
/// unless the macro is named through a path (`std::println!`).
fn print_call(tokens: &[TokenTree], i: usize) -> Option<(bool, Tokens)> {
    let TokenTree::Ident(name) = &tokens[i] else {
        return None;
    };
    let stderr = match name.to_string().as_str() {
        "print" | "println" => false,
        "eprint" | "eprintln" => true,
        _ => return None,
    };
    let after_path = i > 0
        && matches!(&tokens[i - 1], TokenTree::Punct(p) if p.as_char() == ':' && p.spacing() == Spacing::Alone);
    if after_path {
        return None;
    }
    match (tokens.get(i + 1), tokens.get(i + 2)) {
        (Some(TokenTree::Punct(bang)), Some(TokenTree::Group(args)))
            if bang.as_char() == '!' && args.delimiter() != Delimiter::None =>
        {
            let args = args.stream();
            Some((stderr, if args.is_empty() { quote!("") } else { args }))
        }
        _ => None,
    }
}
