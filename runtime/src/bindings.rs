//! Host bindings of the `tidepool:handler/handler` world in `wit/`.

wasmtime::component::bindgen!({
    world: "handler",
    path: "../wit",
    // Called with `call_async` so that a timeout can also stop a guest waiting in a WASI host call
    // (a sleep); the imports stay synchronous.
    exports: { default: async },
});

pub(crate) use tidepool::handler::log::Level;
pub(crate) use tidepool::handler::store::StoreError;
