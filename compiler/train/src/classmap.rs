//! Which model output a class folder is: folders are matched to the model's labels by
//! name, never by their sorted order (a folder listing sorts "Ankle boot" first; a model's
//! outputs rarely do).

use anyhow::{bail, Result};

/// How the data's classes were matched to the model's outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassMap {
    /// `output[i]`: the model output of data class `i`.
    pub output: Vec<usize>,
    /// How: `"by name"`, `"by name (ignoring case and punctuation)"`, `"by index"`.
    pub how: &'static str,
}

/// Letters and digits only, lowercase: `T-shirt/top` and the folder `T-shirt_top` agree.
fn loose(s: &str) -> String {
    s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// Match data classes (folder names) to a model's `labels`: every name exactly, else
/// every name loosely, else every folder named by an output index (`0`, `1`, ...).
/// Anything else is refused, naming the folders that match no label.
pub fn match_classes(classes: &[String], labels: &[String]) -> Result<ClassMap> {
    let find = |f: &dyn Fn(&str) -> String| -> Option<Vec<usize>> {
        classes.iter().map(|c| labels.iter().position(|l| f(l) == f(c))).collect()
    };
    let map = if let Some(m) = find(&|s| s.to_string()) {
        ClassMap { output: m, how: "by name" }
    } else if let Some(m) = find(&loose) {
        ClassMap { output: m, how: "by name (ignoring case and punctuation)" }
    } else if let Some(m) = classes.iter().map(|c| c.parse::<usize>().ok().filter(|&i| i < labels.len())).collect::<Option<Vec<_>>>() {
        ClassMap { output: m, how: "by index" }
    } else {
        let unmatched: Vec<&str> = classes.iter().filter(|c| !labels.iter().any(|l| loose(l) == loose(c))).map(String::as_str).collect();
        bail!(
            "class folder(s) {} match none of the model's labels ({}); rename them, or pass --labels FILE with the model's class names in output order",
            unmatched.iter().map(|c| format!("'{c}'")).collect::<Vec<_>>().join(", "),
            labels.join(", ")
        );
    };
    let mut seen = vec![false; labels.len()];
    for (c, &o) in classes.iter().zip(&map.output) {
        if std::mem::replace(&mut seen[o], true) {
            bail!("two class folders match the model's label '{}' (one is '{c}')", labels[o]);
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn by_name_not_by_sorted_order() {
        let labels = s(&["T-shirt/top", "Trouser", "Ankle boot"]);
        let m = match_classes(&s(&["Ankle boot", "Trouser"]), &labels).expect("exact");
        assert_eq!(m.output, [2, 1]);
        assert_eq!(m.how, "by name");
        let m = match_classes(&s(&["Ankle boot", "T-shirt_top", "Trouser"]), &labels).expect("loose");
        assert_eq!(m.output, [2, 0, 1]);
        let m = match_classes(&s(&["0", "2"]), &labels).expect("index");
        assert_eq!((m.output, m.how), (vec![0, 2], "by index"));
        let e = match_classes(&s(&["Ankle boot", "Sandal"]), &labels).expect_err("unknown");
        assert!(format!("{e}").contains("'Sandal'"), "{e}");
        assert!(match_classes(&s(&["trouser", "Trouser"]), &labels).is_err(), "two folders, one label");
    }
}
