//! Code generation: a handler function becomes a function returning a
//! `switchyard_bot::Handler` (the original body kept inside it), and a `#[bot]` module gains a
//! `pub fn bot()` collecting its handlers.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, Item, ItemFn, ItemMod, LitStr, Pat, Type};

use crate::events::{CATCH_ALL, EventMacro, is_handler_attr};
use crate::validate::{check_arity, check_event_name, check_regex};

/// What the attribute says.
pub(crate) enum Trigger {
    /// A typed event, with an optional regex.
    Typed(EventMacro, Option<LitStr>),
    /// `on_event("NAME")`.
    CatchAll(LitStr),
}

/// Parses the attribute's arguments for `which`.
pub(crate) fn trigger(which: &str, attr: TokenStream) -> syn::Result<Trigger> {
    if which == CATCH_ALL {
        let lit: LitStr = syn::parse2(attr).map_err(|e| {
            syn::Error::new(
                e.span(),
                "on_event needs the event name: #[on_event(\"GUILD_ROLE_CREATE\")]",
            )
        })?;
        check_event_name(&lit.value()).map_err(|m| syn::Error::new(lit.span(), m))?;
        return Ok(Trigger::CatchAll(lit));
    }
    let Some(event) = crate::events::lookup(which) else {
        return Err(syn::Error::new(
            Span::call_site(),
            format!("unknown event macro {which}"),
        ));
    };
    if attr.is_empty() {
        return Ok(Trigger::Typed(event, None));
    }
    let lit: LitStr = syn::parse2(attr).map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("{which} takes one regex string, such as #[{which}(r\"^,echo (.*)\")]"),
        )
    })?;
    if !event.text {
        return Err(syn::Error::new(
            lit.span(),
            format!("{which} has no text to match a pattern against; remove the pattern"),
        ));
    }
    Ok(Trigger::Typed(event, Some(lit)))
}

struct CaptureArg {
    ident: Ident,
    name: String,
    ty: Type,
    optional: Option<Type>,
    span: Span,
}

/// The `T` of `Option<T>`.
fn option_inner(ty: &Type) -> Option<Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        syn::GenericArgument::Type(t) if args.args.len() == 1 => Some(t.clone()),
        _ => None,
    }
}

/// Expands one handler function.
pub(crate) fn handler(trigger: Trigger, mut func: ItemFn) -> syn::Result<TokenStream> {
    if func.sig.asyncness.is_none() {
        return Err(syn::Error::new(
            func.sig.fn_token.span(),
            "a handler must be an `async fn`",
        ));
    }
    if !func.sig.generics.params.is_empty() {
        return Err(syn::Error::new(
            func.sig.generics.span(),
            "a handler cannot be generic",
        ));
    }
    let mut inputs = func.sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Typed(_)) => {}
        Some(FnArg::Receiver(r)) => {
            return Err(syn::Error::new(
                r.span(),
                "a handler is a free function, not a method",
            ));
        }
        None => {
            return Err(syn::Error::new(
                func.sig.paren_token.span.join(),
                "a handler takes the context first, such as `ctx: Context<Message>`",
            ));
        }
    }
    let mut args = Vec::new();
    for (i, input) in inputs.enumerate() {
        let FnArg::Typed(pt) = input else {
            return Err(syn::Error::new(input.span(), "unexpected receiver"));
        };
        let name = match &*pt.pat {
            Pat::Ident(p) => p.ident.to_string().trim_start_matches('_').to_owned(),
            _ => format!("arg{}", i + 1),
        };
        args.push(CaptureArg {
            ident: format_ident!("__switchyard_arg{}", i + 1),
            name,
            ty: (*pt.ty).clone(),
            optional: option_inner(&pt.ty),
            span: pt.span(),
        });
    }
    let vis = func.vis.clone();
    let outer_name = func.sig.ident.clone();
    let name_str = outer_name.to_string();
    let (docs, others): (Vec<_>, Vec<_>) =
        func.attrs.drain(..).partition(|a| a.path().is_ident("doc"));
    func.attrs = others;
    func.vis = syn::Visibility::Inherited;
    func.sig.ident = format_ident!("__switchyard_handler");
    let arg_idents: Vec<&Ident> = args.iter().map(|a| &a.ident).collect();
    let build = match trigger {
        Trigger::CatchAll(event) => {
            if let Some(a) = args.first() {
                return Err(syn::Error::new(
                    a.span,
                    "on_event handlers take only the context (there is no pattern to capture from)",
                ));
            }
            quote! {
                ::switchyard_bot::Handler::on_event(#event, #name_str, |__ctx| async move {
                    ::switchyard_bot::__private::HandlerOutput::into_handler_result(
                        __switchyard_handler(__ctx).await,
                    )
                })
            }
        }
        Trigger::Typed(event, pattern) => {
            let groups = match &pattern {
                Some(lit) => {
                    check_regex(&lit.value()).map_err(|m| syn::Error::new(lit.span(), m))?
                }
                None => 0,
            };
            if let Err(m) = check_arity(groups, args.len()) {
                let span = args.get(groups).map_or(Span::call_site(), |a| a.span);
                let m = if pattern.is_none() {
                    format!(
                        "{m} (there is no pattern: add one, such as #[{}(r\"^,cmd (.*)\")])",
                        event.name
                    )
                } else {
                    m
                };
                return Err(syn::Error::new(span, m));
            }
            let marker = format_ident!("{}", event.marker);
            let pattern = match &pattern {
                Some(lit) => quote!(::switchyard_bot::__private::Option::Some(#lit)),
                None => quote!(::switchyard_bot::__private::Option::None),
            };
            let parses = args.iter().enumerate().map(|(i, a)| {
                let index = i + 1;
                let CaptureArg {
                    ident,
                    name,
                    ty,
                    optional,
                    span,
                } = a;
                let call = match optional {
                    Some(inner) => {
                        quote_spanned!(*span=> __caps.parse_opt::<#inner>(#index, #name))
                    }
                    None => quote_spanned!(*span=> __caps.parse::<#ty>(#index, #name)),
                };
                quote! {
                    let #ident: #ty = match #call {
                        ::switchyard_bot::__private::Result::Ok(v) => v,
                        ::switchyard_bot::__private::Result::Err(e) => {
                            return ::switchyard_bot::__private::Result::Err(e)
                        }
                    };
                }
            });
            quote! {
                ::switchyard_bot::Handler::on::<::switchyard_bot::events::#marker, _, _>(
                    #name_str,
                    #pattern,
                    |__ctx, __caps: ::switchyard_bot::Captures| async move {
                        #(#parses)*
                        ::switchyard_bot::__private::HandlerOutput::into_handler_result(
                            __switchyard_handler(__ctx #(, #arg_idents)*).await,
                        )
                    },
                )
            }
        }
    };
    Ok(quote! {
        #(#docs)*
        #[allow(clippy::needless_lifetimes)]
        #vis fn #outer_name() -> ::switchyard_bot::Handler {
            #func
            #build
        }
    })
}

/// Expands `#[bot]` / `#[bot(name = "…")]` on an inline module.
pub(crate) fn module(attr: TokenStream, mut module: ItemMod) -> syn::Result<TokenStream> {
    let mut name = module.ident.to_string();
    if !attr.is_empty() {
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("name") {
                let lit: LitStr = meta.value()?.parse()?;
                name = lit.value();
                Ok(())
            } else {
                Err(meta.error("expected `name = \"…\"`"))
            }
        });
        syn::parse::Parser::parse2(parser, attr)?;
    }
    let Some((_, items)) = &mut module.content else {
        return Err(syn::Error::new(
            module.span(),
            "#[bot] needs the module's items inline: `mod echo { … }`",
        ));
    };
    let mut handlers = Vec::new();
    for item in items.iter() {
        match item {
            Item::Fn(f) if f.sig.ident == "bot" => {
                return Err(syn::Error::new(
                    f.sig.ident.span(),
                    "#[bot] generates `fn bot()`; rename this function",
                ));
            }
            Item::Fn(f)
                if f.attrs.iter().any(|a| {
                    a.path()
                        .segments
                        .last()
                        .is_some_and(|s| is_handler_attr(&s.ident.to_string()))
                }) =>
            {
                handlers.push(f.sig.ident.clone());
            }
            _ => {}
        }
    }
    if handlers.is_empty() {
        return Err(syn::Error::new(
            module.ident.span(),
            "this bot module has no handlers (#[on_message(…)], #[on_event(\"…\")], …)",
        ));
    }
    let doc = format!("The `{name}` bot: every handler of this module.");
    let generated: Item = syn::parse2(quote! {
        #[doc = #doc]
        pub fn bot() -> ::switchyard_bot::Bot {
            ::switchyard_bot::Bot::new(#name).handlers([#(#handlers()),*])
        }
    })?;
    items.push(generated);
    Ok(quote!(#module))
}
