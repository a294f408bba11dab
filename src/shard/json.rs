//! `report.json` of several shards made one: a JSON value that keeps its keys' order (the
//! report's fields are in a fixed order, not sorted), and the rules that combine the shards'.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// A JSON value whose objects keep their keys in the order read.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as serde_json keeps it.
    Num(serde_json::Number),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object, keys in order.
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// The value of `key` in an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(kv) => kv.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn u64(&self) -> Option<u64> {
        match self {
            Json::Num(n) => n.as_u64(),
            _ => None,
        }
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Num(n) => n.serialize(s),
            Json::Str(t) => s.serialize_str(t),
            Json::Arr(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Json::Obj(kv) => {
                let mut m = s.serialize_map(Some(kv.len()))?;
                for (k, v) in kv {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
        Ok(Json::Num(n.into()))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
        Ok(Json::Num(n.into()))
    }
    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Json, E> {
        serde_json::Number::from_f64(n)
            .map(Json::Num)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }
    fn visit_str<E>(self, s: &str) -> Result<Json, E> {
        Ok(Json::Str(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Json, E> {
        Ok(Json::Str(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = a.next_element()? {
            v.push(x);
        }
        Ok(Json::Arr(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
        let mut v = Vec::new();
        while let Some((k, x)) = a.next_entry::<String, Json>()? {
            v.push((k, x));
        }
        Ok(Json::Obj(v))
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

/// Numbers that are the same in every shard (frame numbers, event numbers, and the frames the
/// capture point restored, which every shard counts over all the frames it reads).
const SAME: &[&str] = &[
    "first_frame",
    "frame",
    "event",
    "restored",
    "control_first_frame",
];

/// The shards' `report.json` (parsed, in shard order) made one; `Err` names what disagrees.
pub fn merge_reports(shards: Vec<Json>) -> Result<Json, String> {
    let mut merged = merge_at("", shards)?;
    // Derived from the summed counters, as the replay derives it.
    if let Json::Obj(kv) = &mut merged
        && let Some((_, Json::Obj(cp))) = kv.iter_mut().find(|(k, _)| k == "capture_point")
    {
        let get = |k: &str| cp.iter().find(|(n, _)| n == k).and_then(|(_, v)| v.u64());
        let gateway = cp
            .iter()
            .any(|(k, v)| k == "point" && *v == Json::Str("gateway".into()));
        let (to_private, inet) = (
            get("internet_frames_to_private").unwrap_or(0),
            get("internet_frames").unwrap_or(0),
        );
        let looks = gateway && to_private > 0 && to_private * 2 > inet;
        for (k, v) in cp.iter_mut() {
            if k == "looks_like_instance_capture" {
                *v = Json::Bool(looks);
            }
        }
    }
    Ok(merged)
}

fn merge_at(path: &str, vals: Vec<Json>) -> Result<Json, String> {
    let key = path.rsplit('.').next().unwrap_or("");
    if path == ".flows" {
        return merge_flows(vals);
    }
    let first = vals.first().cloned().unwrap_or(Json::Null);
    let all_same = vals.iter().all(|v| *v == first);
    if path == ".topology" || path == ".inputs" || key == "looks_like_instance_capture" {
        return if all_same || key == "looks_like_instance_capture" {
            Ok(first)
        } else {
            Err(format!("`{path}` differs between the shards"))
        };
    }
    match first {
        Json::Num(_) if SAME.contains(&key) => {
            if all_same {
                Ok(first)
            } else {
                Err(format!("`{path}` differs between the shards"))
            }
        }
        Json::Num(_) => {
            let mut sum: u64 = 0;
            for v in &vals {
                let n = v
                    .u64()
                    .ok_or_else(|| format!("`{path}` is not a count in every shard"))?;
                sum = sum.saturating_add(n);
            }
            Ok(Json::Num(sum.into()))
        }
        Json::Obj(_) => {
            let objs: Vec<Vec<(String, Json)>> = vals
                .into_iter()
                .map(|v| match v {
                    Json::Obj(kv) => Ok(kv),
                    _ => Err(format!("`{path}` is not an object in every shard")),
                })
                .collect::<Result<_, _>>()?;
            let same_keys = objs.iter().all(|o| {
                o.len() == objs[0].len() && o.iter().zip(&objs[0]).all(|(a, b)| a.0 == b.0)
            });
            let keys: Vec<String> = if same_keys {
                objs[0].iter().map(|(k, _)| k.clone()).collect()
            } else {
                // Only maps written sorted (counters by name, zeros left out) differ in keys.
                let mut ks: Vec<String> = objs.iter().flatten().map(|(k, _)| k.clone()).collect();
                ks.sort();
                ks.dedup();
                ks
            };
            let mut out = Vec::with_capacity(keys.len());
            for k in keys {
                let here: Vec<Json> = objs
                    .iter()
                    .filter_map(|o| o.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
                    .collect();
                let v = merge_at(&format!("{path}.{k}"), here)?;
                out.push((k, v));
            }
            Ok(Json::Obj(out))
        }
        Json::Arr(first_arr) => {
            let arrs: Vec<Vec<Json>> = vals
                .into_iter()
                .map(|v| match v {
                    Json::Arr(a) if a.len() == first_arr.len() => Ok(a),
                    _ => Err(format!("`{path}` has another length in some shard")),
                })
                .collect::<Result<_, _>>()?;
            let mut out = Vec::with_capacity(first_arr.len());
            for i in 0..first_arr.len() {
                let here = arrs.iter().map(|a| a[i].clone()).collect();
                out.push(merge_at(&format!("{path}[{i}]"), here)?);
            }
            Ok(Json::Arr(out))
        }
        _ if all_same => Ok(first),
        _ => Err(format!("`{path}` differs between the shards")),
    }
}

/// The flows of every shard, in first-frame order (each flow is whole in one shard).
fn merge_flows(vals: Vec<Json>) -> Result<Json, String> {
    let mut all: Vec<(u64, usize, Json)> = Vec::new();
    for (s, v) in vals.into_iter().enumerate() {
        let Json::Arr(flows) = v else {
            return Err("`flows` is not an array in every shard".into());
        };
        for f in flows {
            let n = f
                .get("first_frame")
                .and_then(Json::u64)
                .ok_or("a flow without `first_frame`")?;
            all.push((n, s, f));
        }
    }
    // Stable: each shard's flows are in order already.
    all.sort_by_key(|(n, _, _)| *n);
    for w in all.windows(2) {
        if w[0].0 == w[1].0 && w[0].1 != w[1].1 {
            return Err(format!(
                "the flow first seen at frame {} is in shards {} and {}: an event moved its inside endpoint; replay it on one machine",
                w[0].0, w[0].1, w[1].1
            ));
        }
    }
    related_within_shards(&all)?;
    Ok(Json::Arr(all.into_iter().map(|(_, _, f)| f).collect()))
}

/// An ALG announcement (a `related-flow` finding: an address and port a control channel
/// named) links flows across the whole replay: a flow of another shard to that endpoint, or
/// the same endpoint announced in two shards, would change findings and verdicts that no
/// shard could compute. Refused: only one machine reports those exactly.
fn related_within_shards(all: &[(u64, usize, Json)]) -> Result<(), String> {
    let mut announced: std::collections::HashMap<&str, (usize, u64)> = Default::default();
    for (first, s, f) in all {
        let Some(Json::Arr(findings)) = f.get("findings") else {
            continue;
        };
        for x in findings {
            if x.get("kind") != Some(&Json::Str("related-flow".into())) {
                continue;
            }
            let Some(Json::Str(v)) = x.get("value") else {
                continue;
            };
            if let Some((o, of)) = announced.insert(v, (*s, *first))
                && o != *s
            {
                return Err(cross(v, (o, of), (*s, *first), "announces it too"));
            }
        }
    }
    for (first, s, f) in all {
        for side in ["local", "remote"] {
            let Some(e) = f.get(side) else { continue };
            let (Some(Json::Str(a)), Some(p)) =
                (e.get("address"), e.get("port").and_then(Json::u64))
            else {
                continue;
            };
            if let Some(&(o, of)) = announced.get(format!("{a}:{p}").as_str())
                && o != *s
            {
                return Err(cross(
                    &format!("{a}:{p}"),
                    (o, of),
                    (*s, *first),
                    "goes to it",
                ));
            }
        }
    }
    Ok(())
}

fn cross(v: &str, (a, af): (usize, u64), (b, bf): (usize, u64), what: &str) -> String {
    format!(
        "{v}, announced by the ALG control flow first seen at frame {af} (shard {a}), links flows of two shards: the flow first seen at frame {bf} (shard {b}) {what}; related flows across inside endpoints (an intra-VPC flow, an announcement naming another host) are reported exactly by one machine only: replay these inputs unsharded"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Json {
        serde_json::from_str(t).unwrap()
    }

    #[test]
    fn keys_keep_their_order_and_numbers_their_text() {
        let t = "{\n  \"zeta\": 1,\n  \"alpha\": [\n    -2,\n    0.5\n  ],\n  \"m\": null\n}";
        assert_eq!(serde_json::to_string_pretty(&parse(t)).unwrap(), t);
    }

    #[test]
    fn counters_sum_frames_stay_and_sparse_maps_join_sorted() {
        let a = parse(
            r#"{"frames":{"in":3},"timeline":[{"frame":5,"after":{"dropped":{"malformed":1}}}],"flows":[{"first_frame":1},{"first_frame":4}]}"#,
        );
        let b = parse(
            r#"{"frames":{"in":2},"timeline":[{"frame":5,"after":{"dropped":{"eni-detached":2}}}],"flows":[{"first_frame":2}]}"#,
        );
        let m = merge_reports(vec![a, b]).unwrap();
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(
            text,
            r#"{"frames":{"in":5},"timeline":[{"frame":5,"after":{"dropped":{"eni-detached":2,"malformed":1}}}],"flows":[{"first_frame":1},{"first_frame":2},{"first_frame":4}]}"#
        );
    }

    #[test]
    fn what_every_shard_has_whole_must_agree() {
        let a = parse(r#"{"timeline":[{"frame":5}]}"#);
        let b = parse(r#"{"timeline":[{"frame":6}]}"#);
        let e = merge_reports(vec![a, b]).unwrap_err();
        assert!(e.contains(".timeline[0].frame"), "{e}");
        let a = parse(r#"{"flows":[{"first_frame":7}]}"#);
        let e = merge_reports(vec![a.clone(), a]).unwrap_err();
        assert!(e.contains("frame 7"), "{e}");
    }

    #[test]
    fn an_endpoint_announced_in_one_shard_and_used_in_another_is_refused() {
        let ctl = r#"{"first_frame":1,"local":{"address":"10.0.0.1","port":5060},"findings":[{"kind":"related-flow","value":"10.0.0.1:30000"}]}"#;
        let rtp = r#"{"first_frame":2,"local":{"address":"10.0.0.2","port":9},"remote":{"address":"10.0.0.1","port":30000},"findings":[]}"#;
        let a = parse(&format!("{{\"flows\":[{ctl}]}}"));
        let b = parse(&format!("{{\"flows\":[{rtp}]}}"));
        let e = merge_reports(vec![a.clone(), b.clone()]).unwrap_err();
        assert!(e.contains("10.0.0.1:30000") && e.contains("frame 2"), "{e}");
        // In one shard, the same flows are fine.
        let one = parse(&format!("{{\"flows\":[{ctl},{rtp}]}}"));
        assert!(merge_reports(vec![one]).is_ok());
    }
}
