//! The engine's top-level modules import each other without circles: each one can be read, tested and changed with
//! only the modules below it in mind. Read from the sources: a module's `crate::x` paths outside comments and test
//! modules are its imports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// `text` without `//` comments (doc links name modules they do not import) and without its test module.
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .map(|line| match line.find("//") {
            // A `//` inside a string literal (a URL) keeps the line: it can only add an edge, never hide one.
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The modules `code` names: `crate::x` and each first name inside `crate::{…}`.
fn named_modules(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let ident = |s: &str| -> String { s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect() };
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        match rest.strip_prefix('{') {
            None => {
                names.insert(ident(rest));
            }
            Some(group) => {
                let group = group.split("};").next().unwrap_or_default();
                // Top-level items of the group: split on commas outside nested braces.
                let mut depth = 0;
                let mut start = 0;
                for (j, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            names.insert(ident(group[start..j].trim()));
                            start = j + 1;
                        }
                        _ => {}
                    }
                }
                names.insert(ident(group[start..].trim()));
            }
        }
    }
    names
}

fn module_graph(src: &Path) -> std::io::Result<Graph> {
    let mut modules: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(src)? {
        let path = entry?.path();
        let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(str::to_string) else {
            continue;
        };
        if name == "lib" || name == "main" {
            continue;
        }
        let mut files = Vec::new();
        if path.is_dir() {
            rust_files(&path, &mut files)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        } else {
            continue;
        }
        modules.entry(name).or_default().extend(files);
    }
    let mut graph = Graph::new();
    for (name, files) in &modules {
        let mut edges = BTreeSet::new();
        for file in files {
            let code = code_of(&std::fs::read_to_string(file)?);
            edges.extend(
                named_modules(&code)
                    .into_iter()
                    .filter(|m| m != name && modules.contains_key(m)),
            );
        }
        graph.insert(name.clone(), edges);
    }
    Ok(graph)
}

/// The groups of two or more modules that reach each other (Tarjan's strongly connected components).
fn circles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                group.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                s.found.push(group);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.found
}

#[test]
fn engine_modules_import_each_other_without_circles() -> std::io::Result<()> {
    let graph = module_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))?;
    // The reading itself works: the session sits on the statements, which sit on the context.
    assert!(graph.len() > 20, "{graph:?}");
    assert!(graph["session"].contains("statements"), "{:?}", graph["session"]);
    assert!(graph["statements"].contains("context"), "{:?}", graph["statements"]);
    let found = circles(&graph);
    let edges: Vec<String> = found
        .iter()
        .flatten()
        .map(|m| {
            let inside: Vec<_> = graph[m]
                .iter()
                .filter(|n| found.iter().flatten().any(|f| f == *n))
                .collect();
            format!("{m} -> {inside:?}")
        })
        .collect();
    assert!(found.is_empty(), "import circles {found:?}:\n{}", edges.join("\n"));
    Ok(())
}

#[test]
fn circles_are_found_through_use_groups_and_paths() {
    let graph = |edges: &[(&str, &str)]| -> Graph {
        let mut g = Graph::new();
        for (a, b) in edges {
            g.entry(a.to_string()).or_default().insert(b.to_string());
            g.entry(b.to_string()).or_default();
        }
        g
    };
    assert_eq!(
        circles(&graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])),
        vec![vec!["a".to_string(), "b".into(), "c".into()]]
    );
    assert!(circles(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])).is_empty());
    let code = code_of(
        "use crate::{alpha::X, beta::{Y, Z}, gamma};\n// crate::comment\nlet v = crate::delta::f();\n#[cfg(test)]\nuse crate::tests_only;",
    );
    let names: Vec<_> = named_modules(&code).into_iter().collect();
    assert_eq!(names, ["alpha", "beta", "delta", "gamma"]);
}
