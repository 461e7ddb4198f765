//! dist/kubernetes/daemonset.yaml and dist/Containerfile, as far as this machine can test
//! them without a cluster or a container engine: the manifest parses, names the documented
//! mounts, capabilities (not `privileged`), host network and scrape annotations, runs the
//! binary where the image puts it, and its ConfigMap's file passes `policer apply --check`.

use std::{fs, path::PathBuf};

use policer_tests::{TempDir, policer_bin, run, text};
use yaml_rust2::{Yaml, YamlLoader};

fn dist(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist").join(path)
}

fn manifest() -> Vec<Yaml> {
    let text = fs::read_to_string(dist("kubernetes/daemonset.yaml")).expect("read the manifest");
    YamlLoader::load_from_str(&text).expect("the manifest is YAML")
}

fn of_kind<'a>(docs: &'a [Yaml], kind: &str) -> &'a Yaml {
    let found: Vec<&Yaml> = docs.iter().filter(|d| d["kind"].as_str() == Some(kind)).collect();
    assert_eq!(found.len(), 1, "one {kind} in the manifest");
    found[0]
}

fn strings(list: &Yaml) -> Vec<&str> {
    list.as_vec().map(|v| v.iter().filter_map(Yaml::as_str).collect()).unwrap_or_default()
}

const BINARY: &str = "/usr/local/bin/policer";

#[test]
fn the_daemonset_names_the_documented_privileges_and_mounts() {
    let docs = manifest();
    let daemonset = of_kind(&docs, "DaemonSet");
    let config_map = of_kind(&docs, "ConfigMap");
    let pod = &daemonset["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"].as_bool(), Some(true), "policers go on the node's interfaces");

    let volumes = pod["volumes"].as_vec().expect("volumes");
    let volume = |name: &str| {
        volumes
            .iter()
            .find(|v| v["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("{name}"))
    };
    let bpffs = volume("bpffs");
    assert_eq!(bpffs["hostPath"]["path"].as_str(), Some("/sys/fs/bpf"));
    let config = volume("config");
    assert_eq!(config["configMap"]["name"].as_str(), config_map["metadata"]["name"].as_str());
    assert!(config_map["data"]["policer.toml"].as_str().is_some(), "the ConfigMap's file");

    let init = &pod["initContainers"][0];
    let export = &pod["containers"][0];
    for (container, needs) in
        [(init, &["BPF", "NET_ADMIN", "SYS_ADMIN"][..]), (export, &["BPF", "SYS_ADMIN"][..])]
    {
        let name = container["name"].as_str().unwrap();
        let security = &container["securityContext"];
        assert_ne!(security["privileged"].as_bool(), Some(true), "{name}: privileged");
        assert_eq!(strings(&security["capabilities"]["drop"]), ["ALL"], "{name}");
        let added = strings(&security["capabilities"]["add"]);
        assert_eq!(added, needs, "{name}: the README's capabilities, and only those needed");
        assert_eq!(strings(&container["command"])[0], BINARY, "{name} runs the image's binary");
        let mounts = container["volumeMounts"].as_vec().expect("volumeMounts");
        assert!(
            mounts.iter().any(|m| m["name"].as_str() == Some("bpffs")
                && m["mountPath"].as_str() == Some("/sys/fs/bpf")),
            "{name} mounts the host's bpffs at /sys/fs/bpf"
        );
    }
    let apply = strings(&init["command"]);
    assert_eq!(apply[1..4], ["apply", "--prune", "--allow-missing"]);
    let config_mount = init["volumeMounts"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|m| m["name"].as_str() == Some("config"))
        .and_then(|m| m["mountPath"].as_str())
        .expect("the init container mounts the ConfigMap");
    assert_eq!(*apply.last().unwrap(), format!("{config_mount}/policer.toml"));

    // The exporter's port, as the scrape annotations name it.
    let command = strings(&export["command"]);
    assert_eq!(command[1..3], ["export", "--listen"]);
    let port = command[3].rsplit(':').next().unwrap();
    assert_eq!(export["ports"][0]["containerPort"].as_i64(), port.parse().ok());
    let annotations = &daemonset["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"].as_str(), Some("true"));
    assert_eq!(annotations["prometheus.io/port"].as_str(), Some(port));
    assert_eq!(annotations["prometheus.io/path"].as_str(), Some("/metrics"));

    // The image puts the binary where the manifest runs it.
    let containerfile = fs::read_to_string(dist("Containerfile")).expect("dist/Containerfile");
    assert!(containerfile.contains(&format!("COPY --from=build /policer {BINARY}")));
    assert!(containerfile.contains("+crt-static"), "a static binary");
}

#[test]
fn the_config_maps_file_passes_apply_check() {
    let docs = manifest();
    let file = of_kind(&docs, "ConfigMap")["data"]["policer.toml"].as_str().unwrap().to_string();
    let dir = TempDir::new("k8s");
    let path = dir.write("policer.toml", &file);
    // As the init container would, but checking only: the nodes' interfaces are not here.
    let output = run(
        policer_bin().to_str().unwrap(),
        ["apply", "--check", "--allow-missing", path.to_str().unwrap()],
    );
    assert!(output.status.success(), "apply --check: {}", text(&output));
    assert!(text(&output).contains("valid, 1 policer declared"), "{}", text(&output));
}
