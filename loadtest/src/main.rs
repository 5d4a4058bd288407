//! `tessera-loadtest`: the load generator. The loadtest issue fills this in; until then it
//! only says so, so that the workspace layout is in place.

fn main() {
    eprintln!("tessera-loadtest: not built yet (see the loadtest issue)");
    std::process::exit(2);
}
