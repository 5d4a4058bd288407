//! The Prometheus text format (version 0.0.4) as `GET /metrics` serves it, parsed into
//! samples (name, labels, value) and `# TYPE` lines, so that a test can ask for one counter or
//! gauge by name and labels.
//!
//! A pure parser: it touches no socket, process or file (`Server::metrics` fetches the page).
//! A line it cannot parse fails the test, so a malformed exposition does not go unnoticed.

use std::collections::BTreeMap;

/// One sample line of the Prometheus text format.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed `/metrics` page.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub text: String,
    pub samples: Vec<Sample>,
    /// `# TYPE name kind` lines.
    pub types: BTreeMap<String, String>,
}

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let mut samples = Vec::new();
        let mut types = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut it = rest.split_whitespace();
                if let (Some(n), Some(k)) = (it.next(), it.next()) {
                    types.insert(n.to_string(), k.to_string());
                }
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            if let Some(s) = parse_sample(line) {
                samples.push(s);
            } else {
                panic!("unparseable metrics line {line:?}");
            }
        }
        Metrics {
            text: text.to_string(),
            samples,
            types,
        }
    }

    /// Samples named `name` whose labels include every pair in `labels`.
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    /// The value of the one sample named `name` with exactly these labels; panics when there
    /// is none.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<&Sample> = self
            .find(name, labels)
            .into_iter()
            .filter(|s| s.labels.len() == labels.len())
            .collect();
        match found.as_slice() {
            [s] => s.value,
            [] => panic!("no sample {name}{labels:?} in metrics:\n{}", self.text),
            _ => panic!(
                "several samples {name}{labels:?} in metrics:\n{}",
                self.text
            ),
        }
    }
}

fn parse_sample(line: &str) -> Option<Sample> {
    let (name, labels, rest) = if let Some(open) = line.find('{') {
        let close = line.rfind('}')?;
        let name = &line[..open];
        let labels = parse_labels(&line[open + 1..close])?;
        (name, labels, &line[close + 1..])
    } else {
        let mut it = line.splitn(2, ' ');
        let name = it.next()?;
        (name, BTreeMap::new(), it.next().unwrap_or(""))
    };
    let value_text = rest.split_whitespace().next()?;
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name: name.trim().to_string(),
        labels,
        value,
    })
}

fn parse_labels(s: &str) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && (bytes[i] == b',' || bytes[i] == b' ') {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let eq = s[i..].find('=')? + i;
        let key = s[i..eq].trim().to_string();
        i = eq + 1;
        if bytes.get(i) != Some(&b'"') {
            return None;
        }
        i += 1;
        let mut val = String::new();
        while i < bytes.len() && bytes[i] != b'"' {
            if bytes[i] == b'\\' && i + 1 < bytes.len() {
                i += 1;
                val.push(match bytes[i] {
                    b'n' => '\n',
                    c => c as char,
                });
            } else {
                val.push(bytes[i] as char);
            }
            i += 1;
        }
        i += 1;
        out.insert(key, val);
    }
    Some(out)
}
