//! The declarations of src/lib.rs against include/bsnn.h, read as text: the
//! same set of functions, each with the same parameter names and the Rust
//! types the C types map to, the same typedefs, and every enum value and
//! numeric #define with the same value. A mismatch in an FFI declaration
//! compiles and links silently, so this is what keeps the crate honest.
//!
//! The header is `BSNN_HEADER` when set, else the source tree's
//! include/bsnn.h; a missing header fails the test (never a skip).

use std::collections::BTreeMap;
use std::env;
use std::fs;
use std::path::PathBuf;

fn read(path: PathBuf) -> String {
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {}", path.display(), e))
}

fn header_text() -> String {
    let path = match env::var_os("BSNN_HEADER") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../include/bsnn.h"),
    };
    read(path)
}

fn rust_text() -> String {
    read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
}

/// `text` with every `/* ... */` comment replaced by a space.
fn strip_c_comments(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        out.push(' ');
        let end = rest[start + 2..].find("*/").expect("unterminated comment");
        rest = &rest[start + 2 + end + 2..];
    }
    out.push_str(rest);
    out
}

/// `text` without `//` comments (the crate has no string holding "//").
fn strip_rust_comments(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` without preprocessor lines (and their `\\` continuations).
fn strip_preprocessor(text: &str) -> String {
    let mut out = Vec::new();
    let mut continued = false;
    for line in text.lines() {
        let directive = continued || line.trim_start().starts_with('#');
        continued = directive && line.trim_end().ends_with('\\');
        if !directive {
            out.push(line);
        }
    }
    out.join("\n")
}

fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Splits "const float *data" into ("const float *", "data").
fn split_last_ident(decl: &str) -> (String, String) {
    let decl = decl.trim();
    let cut = decl.trim_end_matches(is_ident_char).len();
    (decl[..cut].trim().to_string(), decl[cut..].to_string())
}

/// The Rust spelling of a C type: `const size_t **` is `*mut *const usize`.
fn rust_type(c: &str) -> String {
    let stars = c.matches('*').count();
    let words: Vec<&str> =
        c.split(|ch: char| ch == '*' || ch.is_whitespace()).filter(|w| !w.is_empty()).collect();
    let is_const = words.contains(&"const");
    let base: Vec<&str> = words.into_iter().filter(|w| *w != "const").collect();
    assert_eq!(base.len(), 1, "unexpected C type {:?}", c);
    let base = match base[0] {
        "float" => "f32",
        "double" => "f64",
        "int" => "c_int",
        "unsigned" => "c_uint",
        "size_t" => "usize",
        "uint64_t" => "u64",
        "char" => "c_char",
        "void" => "c_void",
        other => other,
    };
    if stars == 0 {
        return base.to_string();
    }
    let mut t = format!("{}{}", if is_const { "*const " } else { "*mut " }, base);
    for _ in 1..stars {
        t = format!("*mut {}", t);
    }
    t
}

/// A C parameter name as Rust spells it: a Rust keyword gets a trailing `_`
/// (`fn` is `fn_`).
fn rust_name(c: &str) -> String {
    const KEYWORDS: [&str; 38] = [
        "as", "async", "await", "box", "break", "const", "continue", "crate", "dyn", "else", "enum",
        "extern", "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
        "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe",
        "use", "where", "while",
    ];
    if KEYWORDS.contains(&c) {
        format!("{}_", c)
    } else {
        c.to_string()
    }
}

/// A signature as comparable text: "name(a: T, b: U) -> R" ("" for void).
fn c_signature(ret: &str, name: &str, params: &str) -> String {
    let params = params.trim();
    let args: Vec<String> = if params == "void" || params.is_empty() {
        Vec::new()
    } else {
        params
            .split(',')
            .map(|p| {
                let (ty, pname) = split_last_ident(p);
                format!("{}: {}", rust_name(&pname), rust_type(&ty))
            })
            .collect()
    };
    let ret = rust_type(ret);
    let ret = if ret == "c_void" { String::new() } else { format!(" -> {}", ret) };
    format!("{}({}){}", name, args.join(", "), ret)
}

fn rust_signature(name: &str, params: &str, ret: &str) -> String {
    let args: Vec<String> =
        params.split(',').map(squash).filter(|a| !a.is_empty()).map(|a| a.replace(" :", ":")).collect();
    let ret = squash(ret);
    let ret = if ret.is_empty() { String::new() } else { format!(" -> {}", ret) };
    format!("{}({}){}", name, args.join(", "), ret)
}

#[derive(Default, Debug)]
struct Api {
    functions: BTreeMap<String, String>,
    fn_types: BTreeMap<String, String>,
    objects: Vec<String>,
    enums: BTreeMap<String, String>, // enum type name -> underlying type
    values: BTreeMap<String, (String, i64)>, // constant -> (type, value)
}

fn parse_header(text: &str) -> Api {
    let mut api = Api::default();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() >= 3 && words[0] == "#define" && words[1].starts_with("BSNN_") {
            if let Ok(v) = words[2].parse::<i64>() {
                api.values.insert(words[1].to_string(), ("#define".to_string(), v));
            }
        }
    }
    let flat = squash(&strip_preprocessor(&strip_c_comments(text)));
    for stmt in flat.split(';') {
        // A statement may follow `extern "C" {`: start at its first keyword.
        let stmt = match (stmt.find("BSNN_API "), stmt.find("typedef ")) {
            (Some(a), Some(t)) => &stmt[a.min(t)..],
            (Some(a), None) => &stmt[a..],
            (None, Some(t)) => &stmt[t..],
            (None, None) => continue,
        };
        if let Some(decl) = stmt.strip_prefix("BSNN_API ") {
            let open = decl.find('(').expect("function without parameters");
            let (ret, name) = split_last_ident(&decl[..open]);
            let params = decl[open + 1..].trim_end().trim_end_matches(')');
            api.functions.insert(name.clone(), c_signature(&ret, &name, params));
        } else if let Some(rest) = stmt.strip_prefix("typedef struct ") {
            let name = rest.split_whitespace().next().unwrap();
            api.objects.push(name.to_string());
        } else if let Some(rest) = stmt.strip_prefix("typedef enum ") {
            let open = rest.find('{').unwrap();
            let close = rest.find('}').unwrap();
            let name = rest[close + 1..].trim().to_string();
            let mut negative = false;
            let mut members = Vec::new();
            for item in rest[open + 1..close].split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (member, value) = item.split_once('=').expect("enum value without '='");
                let value: i64 = value.trim().parse().expect("enum value not a number");
                negative |= value < 0;
                members.push((member.trim().to_string(), value));
            }
            for (member, value) in members {
                api.values.insert(member, (name.clone(), value));
            }
            api.enums.insert(name, if negative { "c_int" } else { "c_uint" }.to_string());
        } else if let Some(rest) = stmt.strip_prefix("typedef ") {
            // A function pointer: "R (*name)(params)".
            let star = rest.find("(*").expect("unknown typedef");
            let close = rest[star..].find(')').unwrap() + star;
            let name = rest[star + 2..close].trim();
            let params = rest[close + 1..].trim().trim_start_matches('(').trim_end_matches(')');
            let sig = c_signature(&rest[..star], "fn", params);
            api.fn_types.insert(name.to_string(), sig);
        }
    }
    api
}

fn parse_rust(text: &str) -> Api {
    let mut api = Api::default();
    // rustfmt's line breaks leave "( a" and "b, )": undo them.
    let mut flat = squash(&strip_rust_comments(text));
    for (from, to) in [("( ", "("), (" )", ")"), ("< ", "<"), (" >", ">"), (",)", ")"), (",>", ">")] {
        flat = flat.replace(from, to);
    }
    let mut rest = flat.as_str();
    while let Some(at) = rest.find("pub fn ") {
        let tail = &rest[at + 7..];
        let end = tail.find(';').unwrap();
        let decl = &tail[..end];
        let open = decl.find('(').unwrap();
        let close = decl.rfind(')').unwrap();
        let name = decl[..open].trim();
        let ret = decl[close + 1..].trim().trim_start_matches("->");
        api.functions.insert(name.to_string(), rust_signature(name, &decl[open + 1..close], ret));
        rest = &tail[end..];
    }
    for stmt in flat.split(';').map(str::trim) {
        let stmt = stmt.rsplit('}').next().unwrap().trim();
        if let Some(rest) = stmt.strip_prefix("opaque!(") {
            api.objects.push(rest.trim_end_matches(')').trim().to_string());
        } else if let Some(rest) = stmt.strip_prefix("pub type ") {
            let (name, ty) = rest.split_once('=').unwrap();
            let name = name.trim().to_string();
            let ty = ty.trim();
            if let Some(inner) = ty.strip_prefix("Option<unsafe extern \"C\" fn") {
                let inner = inner.trim_end_matches('>');
                let close = inner.rfind(')').unwrap();
                let ret = inner[close + 1..].trim().trim_start_matches("->");
                api.fn_types.insert(name, rust_signature("fn", &inner[1..close], ret));
            } else {
                api.enums.insert(name, ty.to_string());
            }
        } else if let Some(rest) = stmt.strip_prefix("pub const ") {
            let (name, rest) = rest.split_once(':').unwrap();
            let (ty, value) = rest.split_once('=').unwrap();
            if let Ok(v) = value.trim().parse::<i64>() {
                api.values.insert(name.trim().to_string(), (ty.trim().to_string(), v));
            }
        }
    }
    api
}

/// Lines of `a` and `b` that differ, as a readable report.
fn differences(what: &str, c: &BTreeMap<String, String>, rust: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in c {
        match rust.get(k) {
            None => out.push(format!("{} {} missing from the crate: {}", what, k, v)),
            Some(r) if r != v => out.push(format!("{} {}:\n    header: {}\n    crate:  {}", what, k, v, r)),
            _ => {}
        }
    }
    for (k, v) in rust {
        if !c.contains_key(k) {
            out.push(format!("{} {} is not in the header: {}", what, k, v));
        }
    }
    out
}

#[test]
fn every_header_function_is_declared_with_the_same_signature() {
    let c = parse_header(&header_text());
    let rust = parse_rust(&rust_text());
    assert!(c.functions.len() > 100, "parsed only {} header functions", c.functions.len());
    let diff = differences("function", &c.functions, &rust.functions);
    assert!(diff.is_empty(), "\n{}", diff.join("\n"));
    // The set the shared library exports is the header's BSNN_API set
    // (make check-exports), so the crate declares exactly what it exports.
    assert_eq!(c.functions.keys().collect::<Vec<_>>(), rust.functions.keys().collect::<Vec<_>>());
}

#[test]
fn callback_hook_and_allocator_types_match() {
    let c = parse_header(&header_text());
    let rust = parse_rust(&rust_text());
    assert!(c.fn_types.len() >= 4 && c.fn_types.contains_key("bsnn_grad_hook"), "{:?}", c.fn_types);
    let diff = differences("function type", &c.fn_types, &rust.fn_types);
    assert!(diff.is_empty(), "\n{}", diff.join("\n"));
}

#[test]
fn every_enum_value_and_define_matches() {
    let c = parse_header(&header_text());
    let rust = parse_rust(&rust_text());
    let show = |m: &BTreeMap<String, (String, i64)>| -> BTreeMap<String, String> {
        m.iter().map(|(k, (t, v))| (k.clone(), format!("{} = {}", t, v))).collect()
    };
    let mut c_values = show(&c.values);
    // #defines may have any integer type in Rust; compare their values only.
    for (k, (t, v)) in &rust.values {
        if c.values.get(k).map(|(ct, _)| ct == "#define").unwrap_or(false) {
            c_values.insert(k.clone(), format!("{} = {}", t, v));
        }
    }
    assert!(c_values.len() > 150, "parsed only {} header values", c_values.len());
    let diff = differences("constant", &c_values, &show(&rust.values));
    assert!(diff.is_empty(), "\n{}", diff.join("\n"));
}

#[test]
fn every_enum_type_and_object_is_declared() {
    let c = parse_header(&header_text());
    let rust = parse_rust(&rust_text());
    let diff = differences("enum type", &c.enums, &rust.enums);
    assert!(diff.is_empty(), "\n{}", diff.join("\n"));
    assert_eq!(c.objects, rust.objects);
}

#[test]
fn the_parser_reads_what_it_claims() {
    // The checks above are only as good as the parsing: spot-check it on
    // declarations whose Rust form is known by hand.
    let c = parse_header(&header_text());
    assert_eq!(
        c.functions["bsnn_scheduler_next"],
        "bsnn_scheduler_next(out_indices: *mut *const usize, out_count: *mut usize, \
         out_epoch_end: *mut c_int, s: *mut bsnn_scheduler) -> bsnn_status"
    );
    assert_eq!(c.functions["bsnn_tensor_free"], "bsnn_tensor_free(t: *mut bsnn_tensor)");
    assert_eq!(c.functions["bsnn_version"], "bsnn_version() -> c_uint");
    assert_eq!(
        c.fn_types["bsnn_callback"],
        "fn(user: *mut c_void, event: bsnn_event, epoch: usize, step: usize, \
         batch_size: usize, loss: f64) -> c_int"
    );
    assert_eq!(c.values["BSNN_E_UNSUPPORTED"], ("bsnn_status".to_string(), -9));
    assert_eq!(c.values["BSNN_MAX_RANK"], ("#define".to_string(), 4));
    assert_eq!(c.enums["bsnn_status"], "c_int");
    assert_eq!(c.enums["bsnn_loss"], "c_uint");
    assert_eq!(c.objects.len(), 9);
}
