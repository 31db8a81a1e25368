//! Component dependencies, composed with wac-graph the way Spin's `spin-compose` does it
//! (spin.md §9; `spin@v3.6.3:crates/compose/src/lib.rs`):
//!
//! 1. register the main component and instantiate it;
//! 2. for each dependency, match its name against the main component's imports (no match is an
//!    error; two dependencies for one import are a conflict), register and instantiate it;
//! 3. alias the dependency's export (the import's own name unless `export` says otherwise) and
//!    pass it as the instantiation argument (wac-graph checks the export's type is a subtype of
//!    the import);
//! 4. export every export of the main component;
//! 5. encode.
//!
//! Imports a dependency leaves open become imports of the composed component.
//!
//! Not imitated: with `dependencies_inherit_configuration = false` (Spin 3's default) Spin
//! first plugs a `deny-all` adapter into each dependency, which denies `wasi:cli/environment`,
//! `wasi:filesystem/preopens`, outgoing HTTP, sockets and every `fermyon:spin/*@2.0.0` import. The
//! adapter is a binary shipped inside Spin (`crates/compose/deny_all.wasm`) that this host does
//! not have. This project's library components import nothing (and Rust std's WASI imports
//! are only `wasi:cli`/`wasi:io`), so for them the plug is a no-op (`NoPlugHappened`); a
//! dependency that did use HTTP or Spin APIs would get the main component's permissions here
//! but be denied in Spin.

use anyhow::{Context, anyhow, bail};
use wac_graph::types::Package;
use wac_graph::{CompositionGraph, EncodeOptions};

use crate::manifest::Dependency;

/// One dependency with its bytes loaded.
pub(crate) struct LoadedDependency<'a> {
    pub(crate) dependency: &'a Dependency,
    pub(crate) bytes: Vec<u8>,
}

fn package_name(dep: &Dependency) -> String {
    match &dep.name {
        crate::manifest::DependencyName::Plain(p) => p.clone(),
        crate::manifest::DependencyName::Package { package, .. } => package.clone(),
    }
}

/// Composes `main` (component `component_id`) with its dependencies; returns `main` unchanged
/// when there are none.
pub(crate) fn compose(
    component_id: &str,
    main: Vec<u8>,
    dependencies: Vec<LoadedDependency<'_>>,
) -> anyhow::Result<Vec<u8>> {
    if dependencies.is_empty() {
        return Ok(main);
    }
    let mut graph = CompositionGraph::new();
    let main_pkg = Package::from_bytes(component_id, None, main, graph.types_mut())
        .with_context(|| format!("reading component {component_id:?}"))?;
    let main_world = main_pkg.ty();
    let main_id = graph.register_package(main_pkg)?;
    let main_inst = graph.instantiate(main_id);
    let imports: Vec<String> = graph.types()[main_world].imports.keys().cloned().collect();

    // import name -> (dependency index, instantiation node, world)
    let mut plugs: Vec<(String, usize)> = Vec::new();
    let mut instances = Vec::new();
    for (index, loaded) in dependencies.into_iter().enumerate() {
        let dep = loaded.dependency;
        let matched: Vec<&String> = imports
            .iter()
            .filter(|i| dep.name.matches_import(i))
            .collect();
        if matched.is_empty() {
            bail!(
                "dependency '{}' doesn't match any imports of component '{component_id}' (its \
                 imports: {})",
                dep.name,
                imports.join(", ")
            );
        }
        let name = package_name(dep);
        let pkg = Package::from_bytes(&name, None, loaded.bytes, graph.types_mut())
            .with_context(|| format!("reading dependency '{}'", dep.name))?;
        let world = pkg.ty();
        let pkg_id = graph
            .register_package(pkg)
            .with_context(|| format!("registering dependency '{}'", dep.name))?;
        let inst = graph.instantiate(pkg_id);
        instances.push((dep, inst, world));
        for import in matched {
            if let Some((_, other)) = plugs.iter().find(|(i, _)| i == import) {
                bail!(
                    "component '{component_id}' has dependency conflicts: import '{import}' \
                     satisfied by dependencies: '{}', '{}'",
                    instances[*other].0.name,
                    dep.name
                );
            }
            plugs.push((import.clone(), index));
        }
    }

    for (import, index) in plugs {
        let (dep, inst, world) = &instances[index];
        let export = dep.export.clone().unwrap_or_else(|| import.clone());
        if !graph.types()[*world].exports.contains_key(&export) {
            bail!(
                "dependency '{}' doesn't export '{export}' to satisfy import '{import}'",
                dep.name
            );
        }
        let alias = graph
            .alias_instance_export(*inst, &export)
            .map_err(|e| anyhow!("dependency '{}': {e}", dep.name))?;
        graph
            .set_instantiation_argument(main_inst, &import, alias)
            .map_err(|e| {
                anyhow!(
                    "dependency '{}' exports '{export}' which is not compatible with import \
                 '{import}': {e}",
                    dep.name
                )
            })?;
    }

    let exports: Vec<String> = graph.types()[main_world].exports.keys().cloned().collect();
    for export in exports {
        let alias = graph.alias_instance_export(main_inst, &export)?;
        graph.export(alias, &export)?;
    }
    graph
        .encode(EncodeOptions::default())
        .with_context(|| format!("encoding the composition of component {component_id:?}"))
}

/// The names of a component's imports (`wasi:io/poll@0.2.6`, `ml-connector:…`), in order.
pub fn component_imports(wasm: &[u8]) -> anyhow::Result<Vec<String>> {
    let mut graph = CompositionGraph::new();
    let pkg = Package::from_bytes("component", None, wasm.to_vec(), graph.types_mut())?;
    Ok(graph.types()[pkg.ty()].imports.keys().cloned().collect())
}
