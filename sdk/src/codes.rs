//! Grouping resources by code (fhirclient's `byCode`): an app that fetched
//! a patient's Observations finds them by LOINC code without walking
//! CodeableConcepts itself.

use std::collections::BTreeMap;

use serde_json::Value;

/// The positions of `resources` under each code of their `property` (a
/// CodeableConcept or an array of them, such as `code` or `category`): keyed
/// by the bare `code` and by `system|code`. A resource appears once per key.
pub fn by_code(resources: &[Value], property: &str) -> BTreeMap<String, Vec<usize>> {
    let mut out: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, r) in resources.iter().enumerate() {
        let concepts: Vec<&Value> = match r.get(property) {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(v @ Value::Object(_)) => vec![v],
            _ => continue,
        };
        for coding in concepts
            .iter()
            .filter_map(|c| c.get("coding")?.as_array())
            .flatten()
        {
            let Some(code) = coding.get("code").and_then(Value::as_str) else {
                continue;
            };
            let mut keys = vec![code.to_string()];
            if let Some(system) = coding.get("system").and_then(Value::as_str) {
                keys.push(format!("{system}|{code}"));
            }
            for k in keys {
                let list = out.entry(k).or_default();
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn groups_by_bare_and_system_qualified_codes() {
        let loinc = "http://loinc.org";
        let rs = vec![
            json!({"code": {"coding": [{"system": loinc, "code": "8867-4"}, {"code": "HR"}]}}),
            json!({"code": {"coding": [{"system": loinc, "code": "8867-4"}]}}),
            json!({"category": [{"coding": [{"code": "vital-signs"}]}, {"coding": [{"code": "vital-signs"}]}]}),
            json!({"code": "not a concept"}),
        ];
        let m = by_code(&rs, "code");
        assert_eq!(m["8867-4"], vec![0, 1]);
        assert_eq!(m["http://loinc.org|8867-4"], vec![0, 1]);
        assert_eq!(m["HR"], vec![0]);
        assert_eq!(by_code(&rs, "category")["vital-signs"], vec![2]);
    }
}
