//! Returns its event unchanged: the trivial handler the benchmarks use.

wit_bindgen::generate!({ world: "handler", path: "../../wit" });

struct Echo;

impl Guest for Echo {
    fn handle(event: String, _context: Context) -> Result<String, FunctionError> {
        Ok(event)
    }
}

export!(Echo);
