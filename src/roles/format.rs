//! The role format (docs/roles.md): `roles/<name>/role.yml` with `templates/` and `files/`
//! beside it, and the loader that reads built-in roles (embedded at build time) and users'
//! role folders. A closed set of task kinds; each task names exactly one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;

include!(concat!(env!("OUT_DIR"), "/builtin_roles.rs"));

/// Size cap of one role file (role.yml, a template, a file): docs/limits.md.
pub const ROLE_FILE_CAP: u64 = 1 << 20;

/// The task kinds, in the words of role.yml.
pub const TASK_KINDS: [&str; 6] = ["file", "template", "directory", "package", "service", "firewall"];

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RoleDef {
    #[serde(default)]
    pub description: String,
    /// Handlers by name: what a changed task's `notify` triggers, once, after all tasks.
    #[serde(default)]
    pub handlers: BTreeMap<String, HandlerDef>,
    /// Validators by name: how a task's new file is proven good before it is kept.
    #[serde(default)]
    pub validators: BTreeMap<String, ValidatorDef>,
    #[serde(default)]
    pub tasks: Vec<TaskDef>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HandlerDef {
    /// `reload`, `restart` (both need `service`) or `daemon-reload`.
    pub action: String,
    #[serde(default)]
    pub service: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ValidatorDef {
    /// argv, no shell. `{staged}` is the staged file (unless `in_place`).
    pub command: Vec<String>,
    /// Put every changed file of this validator in place together, run the command, and put
    /// them all back if it fails (nginx -t). Otherwise the staged file is checked alone.
    #[serde(default)]
    pub in_place: bool,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FirewallDef {
    pub interface: String,
    #[serde(default)]
    pub rich_rules: Vec<String>,
    #[serde(default)]
    pub ports: Vec<String>,
}

/// One task as written. Exactly one kind key (`file`, `template`, `directory`, `package`,
/// `service`, `firewall`) is set; the other keys are its options.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TaskDef {
    #[serde(default)]
    pub name: Option<String>,
    /// A templated condition: the task applies when it renders `true`.
    #[serde(default)]
    pub when: Option<String>,

    // The kinds.
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub template: Option<String>,
    #[serde(default)]
    pub directory: Option<String>,
    #[serde(default)]
    pub package: Option<String>,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub firewall: Option<FirewallDef>,

    // Options of file/template/directory.
    /// template: a file in `templates/`; file: a file in `files/`.
    #[serde(default)]
    pub src: Option<String>,
    /// file: inline (templated) content.
    #[serde(default)]
    pub content: Option<String>,
    /// file: `hapair`, the running hapair binary.
    #[serde(default)]
    pub source: Option<String>,
    /// `present` (default) or `absent`.
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    /// The whole content is secret: never shown in plans, mode must not be readable by others.
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub validate: Option<String>,
    #[serde(default)]
    pub notify: Vec<String>,

    // Options of package.
    #[serde(default)]
    pub satisfied_by: Vec<String>,

    // Options of service.
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub started: Option<bool>,
    /// An HTTP URL that must answer after a converge (templated).
    #[serde(default)]
    pub probe: Option<String>,
}

impl TaskDef {
    /// The kind keys that are set.
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.file.is_some() {
            v.push("file");
        }
        if self.template.is_some() {
            v.push("template");
        }
        if self.directory.is_some() {
            v.push("directory");
        }
        if self.package.is_some() {
            v.push("package");
        }
        if self.service.is_some() {
            v.push("service");
        }
        if self.firewall.is_some() {
            v.push("firewall");
        }
        v
    }
}

/// A role: its definition and its templates and files, with where they came from.
#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    /// `built-in` or the folder it was read from.
    pub origin: String,
    pub def: RoleDef,
    /// `role.yml` as a path for messages.
    pub def_path: String,
    /// 1-based line of each task in role.yml (for messages).
    pub task_lines: Vec<usize>,
    pub templates: BTreeMap<String, String>,
    /// Where each template was read from (for messages).
    pub template_paths: BTreeMap<String, String>,
    pub files: BTreeMap<String, Vec<u8>>,
    /// Built into hapair (applies to every node) or a user's role (applies where listed).
    pub builtin: bool,
}

/// Where each task of role.yml starts: lines of `  - ` items under `tasks:`.
fn task_lines(text: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    let mut in_tasks = false;
    let mut indent = None;
    for (i, l) in text.lines().enumerate() {
        if l.starts_with("tasks:") {
            in_tasks = true;
            continue;
        }
        if !in_tasks {
            continue;
        }
        if !l.is_empty() && !l.starts_with(' ') && !l.starts_with('-') && !l.starts_with('#') {
            break;
        }
        let t = l.trim_start();
        if t.starts_with("- ") || t == "-" {
            let ind = l.len() - t.len();
            if *indent.get_or_insert(ind) == ind {
                lines.push(i + 1);
            }
        }
    }
    lines
}

/// Parse a role.yml; errors carry `path:line:column`.
pub fn parse_role_def(path: &str, text: &str) -> Result<RoleDef, Error> {
    // Bounded like every YAML input (nesting, aliases, size, NUL): `crate::input::yaml`.
    crate::input::yaml::<RoleDef>(text).map_err(|e| {
        let at = format!("{path}:{}:{}", e.line, e.column);
        let msg = e.message;
        let fix = if msg.starts_with("tasks") && msg.contains("unknown field") {
            format!("use one of the task kinds {} (docs/roles.md), with their options", TASK_KINDS.join(", "))
        } else {
            "see docs/roles.md for the role format".to_string()
        };
        Error::new(format!("{at}: {msg}")).with_fix(fix)
    })
}

/// The built-in roles, from the bytes embedded at build time.
pub fn builtin_roles() -> Result<Vec<Role>, Error> {
    let mut roles: BTreeMap<String, Role> = BTreeMap::new();
    for (path, bytes) in BUILTIN {
        let Some((name, rest)) = path.split_once('/') else { continue };
        let role = roles.entry(name.to_string()).or_insert_with(|| Role {
            name: name.to_string(),
            origin: "built-in".into(),
            def: RoleDef::default(),
            def_path: format!("roles/{name}/role.yml"),
            task_lines: vec![],
            templates: BTreeMap::new(),
            template_paths: BTreeMap::new(),
            files: BTreeMap::new(),
            builtin: true,
        });
        let text = || String::from_utf8_lossy(bytes).to_string();
        if rest == "role.yml" {
            role.def = parse_role_def(&role.def_path, &text())?;
            role.task_lines = task_lines(&text());
        } else if let Some(t) = rest.strip_prefix("templates/") {
            role.templates.insert(t.to_string(), text());
            role.template_paths.insert(t.to_string(), format!("roles/{path}"));
        } else if let Some(f) = rest.strip_prefix("files/") {
            role.files.insert(f.to_string(), bytes.to_vec());
        }
    }
    Ok(roles.into_values().collect())
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    crate::input::read_capped(path, ROLE_FILE_CAP).map_err(|e| Error::new(format!("`{}`: {e}", path.display())))
}

fn read_tree(dir: &Path, base: &Path, out: &mut BTreeMap<String, Vec<u8>>) -> Result<(), Error> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Ok(()) };
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            read_tree(&p, base, out)?;
        } else {
            let rel = p.strip_prefix(base).unwrap_or(&p).to_string_lossy().to_string();
            out.insert(rel, read(&p)?);
        }
    }
    Ok(())
}

/// The roles in a users' folder (`roles/` beside the inventory, or `--roles DIR`): each
/// sub-folder is a role. A folder named like a built-in role without a role.yml only replaces
/// that role's templates and files of the same name (extends it); with a role.yml it replaces
/// the role.
pub fn load_dir(dir: &Path, roles: &mut Vec<Role>) -> Result<(), Error> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| Error::new(format!("cannot read the roles folder `{}`: {e}", dir.display())))?;
    let mut dirs: Vec<PathBuf> = rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    for d in dirs {
        let name = d.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let def_file = d.join("role.yml");
        let mut templates = BTreeMap::new();
        read_tree(&d.join("templates"), &d.join("templates"), &mut templates)?;
        let templates: BTreeMap<String, String> =
            templates.into_iter().map(|(k, v)| (k, String::from_utf8_lossy(&v).to_string())).collect();
        let template_paths: BTreeMap<String, String> =
            templates.keys().map(|k| (k.clone(), d.join("templates").join(k).display().to_string())).collect();
        let mut files = BTreeMap::new();
        read_tree(&d.join("files"), &d.join("files"), &mut files)?;
        let existing = roles.iter().position(|r| r.name == name);
        if def_file.exists() {
            let def_path = def_file.display().to_string();
            let text = String::from_utf8_lossy(&read(&def_file)?).to_string();
            let def = parse_role_def(&def_path, &text)?;
            let role = Role {
                name: name.clone(),
                origin: d.display().to_string(),
                def,
                def_path,
                task_lines: task_lines(&text),
                templates,
                template_paths,
                files,
                builtin: existing.is_some_and(|i| roles[i].builtin),
            };
            match existing {
                Some(i) => roles[i] = role,
                None => roles.push(role),
            }
        } else if let Some(i) = existing {
            let r = &mut roles[i];
            r.origin = format!("{} + {}", r.origin, d.display());
            r.templates.extend(templates);
            r.template_paths.extend(template_paths);
            r.files.extend(files);
        } else {
            return Err(Error::new(format!("`{}` has no role.yml", d.display()))
                .with_fix("add a role.yml (docs/roles.md), or name the folder after the built-in role it extends"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_roles_are_embedded_and_parse() {
        let roles = builtin_roles().expect("built-in roles parse");
        let names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["firewalld", "nginx", "vrrp"]);
        for r in &roles {
            assert_eq!(r.task_lines.len(), r.def.tasks.len(), "{}", r.name);
            for t in &r.def.tasks {
                assert_eq!(t.kinds().len(), 1, "{}: {t:?}", r.name);
            }
        }
    }

    #[test]
    fn an_unknown_task_kind_names_file_line_and_the_kinds() {
        let e = parse_role_def("r/role.yml", "tasks:\n  - name: x\n    shell: rm -rf /\n").expect_err("refused");
        assert!(e.message.starts_with("r/role.yml:3:5: tasks[0]: unknown field `shell`"), "{}", e.message);
        assert!(e.fix.unwrap_or_default().contains("file, template, directory, package, service, firewall"));
    }

    #[test]
    fn task_lines_follow_the_items() {
        let t = "tasks:\n  - file: /a\n    mode: \"0644\"\n  # c\n  - service: x\n    enabled: true\nhandlers: {}\n";
        assert_eq!(task_lines(t), [2, 5]);
    }

    #[test]
    fn a_users_folder_overrides_a_template_or_the_whole_role() {
        let dir = std::env::temp_dir().join(format!("hapair-roles-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("nginx/templates")).expect("mkdir");
        std::fs::write(dir.join("nginx/templates/nginx-site.conf.tera"), "server {}\n").expect("write");
        std::fs::create_dir_all(dir.join("site/files")).expect("mkdir");
        std::fs::write(dir.join("site/role.yml"), "tasks:\n  - file: /etc/x\n    src: x\n").expect("write");
        std::fs::write(dir.join("site/files/x"), "x\n").expect("write");
        let mut roles = builtin_roles().expect("built-in");
        load_dir(&dir, &mut roles).expect("loads");
        let nginx = roles.iter().find(|r| r.name == "nginx").expect("nginx");
        assert_eq!(nginx.templates["nginx-site.conf.tera"], "server {}\n");
        assert!(nginx.builtin && !nginx.def.tasks.is_empty());
        let site = roles.iter().find(|r| r.name == "site").expect("site");
        assert!(!site.builtin);
        assert_eq!(site.files["x"], b"x\n");
        std::fs::create_dir_all(dir.join("nothing")).expect("mkdir");
        assert!(load_dir(&dir, &mut builtin_roles().expect("built-in")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// role.yml goes through the bounded YAML parser: an alias bomb is refused with its place.
    #[test]
    fn a_role_file_alias_bomb_is_refused_located() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![format!("*a{}", i - 1); 9].join(", ")));
        }
        let e = parse_role_def("roles/x/role.yml", &text).expect_err("bounded");
        assert!(e.message.starts_with("roles/x/role.yml:6:"), "{}", e.message);
        assert!(e.message.contains("more than 200000 values"), "{}", e.message);
    }
}
