//! The what-if ALG policy a cloud carries: the `[alg]` table of a topology file and the
//! `--alg` list of the command line. Only the data and its parsing live here, so that the model
//! depends on nothing above it; the ALG translator that applies the policy (the `alg` module's
//! `translate`) re-exports [`Policy`] and [`AlgMode`] and adds `Policy::covers`.

/// Which protocols are translated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// FTP control channels (TCP 21).
    pub ftp: bool,
    /// SIP over UDP.
    pub sip: bool,
}

/// What the gateway does for one ALG protocol (`[alg]` in the topology, `--alg`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlgMode {
    /// Find and report what the NAT leaves untranslated (the provider's behaviour).
    Inspect,
    /// What-if: translate as a Linux NAT helper would (FTP and SIP only).
    Translate,
}

/// The protocols an `[alg]` entry may name, in the order error messages list them.
const NAMES: [&str; 6] = ["ftp", "sip", "dns", "tftp", "rtsp", "h323"];

impl Policy {
    /// Whether anything is translated.
    pub fn any(&self) -> bool {
        self.ftp || self.sip
    }

    /// Sets the mode of the protocol named `name` (`ftp`, `sip`, `dns`, `tftp`, `rtsp`, `h323`)
    /// from `mode` (`inspect` or `translate`).
    pub fn set(&mut self, name: &str, mode: &str) -> std::result::Result<(), String> {
        if !NAMES.contains(&name) {
            return Err(format!(
                "unknown ALG protocol {name:?} (ftp, sip, dns, tftp, rtsp, h323)"
            ));
        }
        let mode = match mode {
            "inspect" => AlgMode::Inspect,
            "translate" => AlgMode::Translate,
            _ => {
                return Err(format!(
                    "{name}: unknown mode {mode:?} (inspect or translate)"
                ));
            }
        };
        let on = mode == AlgMode::Translate;
        match name {
            "ftp" => self.ftp = on,
            "sip" => self.sip = on,
            _ if on => {
                return Err(format!(
                    "{name}: what-if translation is built for ftp and sip only"
                ));
            }
            _ => {}
        }
        Ok(())
    }

    /// Applies a `--alg` list such as `ftp=translate,sip=translate` on top of this policy.
    pub fn apply_spec(&mut self, spec: &str) -> std::result::Result<(), String> {
        for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, mode) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?}: expected PROTOCOL=MODE, e.g. ftp=translate"))?;
            self.set(name.trim(), mode.trim())?;
        }
        Ok(())
    }

    /// The policy of a run (`replay`, `live`): this one (the topology's `[alg]`) with the
    /// `--alg` list `spec` applied over it; `alg` is false for `--no-alg`. The message of the
    /// error names what is wrong (a usage error: exit 2): a malformed or unknown entry of the
    /// list, or a list that asks for translation together with `--no-alg`.
    pub fn for_run(mut self, alg: bool, spec: Option<&str>) -> std::result::Result<Policy, String> {
        if let Some(spec) = spec {
            self.apply_spec(spec).map_err(|m| format!("--alg: {m}"))?;
            if !alg && self.any() {
                return Err(
                    "--alg asks for translation, --no-alg turns ALG handling off: choose one"
                        .into(),
                );
            }
        }
        Ok(self)
    }

    /// The `[alg]` table that gives this policy: each translated protocol with `translate`
    /// (the others are `inspect`, the default).
    pub fn to_table(&self) -> std::collections::BTreeMap<String, String> {
        [("ftp", self.ftp), ("sip", self.sip)]
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(n, _)| (n.to_string(), "translate".to_string()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_modes() {
        let mut p = Policy::default();
        p.apply_spec("ftp=translate, dns=inspect").unwrap();
        assert_eq!(
            p,
            Policy {
                ftp: true,
                sip: false
            }
        );
        assert_eq!(
            p.set("dns", "translate").unwrap_err(),
            "dns: what-if translation is built for ftp and sip only"
        );
        assert_eq!(
            p.set("gopher", "inspect").unwrap_err(),
            "unknown ALG protocol \"gopher\" (ftp, sip, dns, tftp, rtsp, h323)"
        );
        assert_eq!(
            p.set("sip", "on").unwrap_err(),
            "sip: unknown mode \"on\" (inspect or translate)"
        );
        let mut q = Policy::default();
        for (n, m) in p.to_table() {
            q.set(&n, &m).unwrap();
        }
        assert_eq!(p, q);
    }
}
