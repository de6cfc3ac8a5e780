//! The member-room side of the `chat` client (SPEC §17): where the device identity lives,
//! which fingerprints this device has verified, what an invitation carries as location,
//! finding a member by id prefix or name, and describing members and membership changes.
//!
//! Display names are not authenticated: every member chooses its own, and two members can
//! choose the same. Member ids and device fingerprints are what identify people; a name
//! shown beside an id is only the name that member's devices signed their messages with.

use std::collections::{BTreeSet, HashMap};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use ftpchat_core::{Member, MemberId, PublicIdentity, Role};

use crate::location::{Target, TargetKind};

/// The file, in the state folder, listing the device fingerprints verified on this device.
pub const VERIFIED_FILE: &str = "verified-fingerprints";
/// Hex digits of a member id shown in lists (the full id is 32).
pub const SHORT_ID_LEN: usize = 8;

/// The state folder of member rooms when `--state-dir` is not given: `$XDG_DATA_HOME/
/// ftpchat/chat`, else `~/.local/share/ftpchat/chat`, else `%APPDATA%\ftpchat\chat`.
pub fn default_state_dir() -> Option<PathBuf> {
    let non_empty = |var: &str| std::env::var_os(var).filter(|v| !v.is_empty());
    let base = non_empty("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| non_empty("HOME").map(|h| Path::new(&h).join(".local").join("share")))
        .or_else(|| non_empty("APPDATA").map(PathBuf::from))?;
    Some(base.join("ftpchat").join("chat"))
}

/// `admin` or `member`.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::Member => "member",
    }
}

/// The first [`SHORT_ID_LEN`] hex digits of a member id.
pub fn short_id(id: &MemberId) -> String {
    let mut hex = id.to_string();
    hex.truncate(SHORT_ID_LEN);
    hex
}

/// The first group (five digits) of a fingerprint, shown beside unverified senders.
pub fn short_fingerprint(fingerprint: &str) -> &str {
    fingerprint.split(' ').next().unwrap_or(fingerprint)
}

/// The location written into an invitation: what the invitee opens. With `keep_login`
/// (the chat's own server and its shared `guest` login, or a location that came from an
/// invitation) it is `location` as it is; otherwise an FTP URL loses its user and password
/// (the invitee logs in with an account of its own: `--join URL LOCATION`) and a folder
/// becomes an absolute path.
pub fn invitation_location(location: &str, keep_login: bool) -> Result<String, String> {
    let target = Target::parse(location)?;
    if keep_login {
        return Ok(location.trim().to_owned());
    }
    let room = crate::location::percent_encode(&target.room);
    if target.kind == TargetKind::Folder {
        let base =
            std::path::absolute(&target.base).map_err(|e| format!("{}: {e}", target.base))?;
        return Ok(base.join(&target.room).display().to_string());
    }
    let (scheme, rest) = target.base.split_once("://").ok_or("not a URL")?;
    let (authority, path) = match rest.split_once('/') {
        Some((a, p)) => (a, format!("/{p}")),
        None => (rest, String::new()),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Ok(format!("{scheme}://{host}{path}/{room}"))
}

/// An invitation URL as pasted: every whitespace character removed (a URL copied from a
/// terminal where it wrapped over several lines), surrounding quotes dropped.
pub fn clean_invitation(text: &str) -> String {
    let joined: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    joined.trim_matches(|c| c == '\'' || c == '"').to_owned()
}

/// The device fingerprints this device's user has compared out of band (the safety
/// number, `/whois`) and marked verified with `/verify`. Kept in the state folder, one
/// fingerprint per line; nothing secret.
#[derive(Debug, Clone, Default)]
pub struct Verified {
    path: Option<PathBuf>,
    fingerprints: BTreeSet<String>,
}

impl Verified {
    /// Reads `dir/verified-fingerprints` (empty when missing). `None`: kept in memory only.
    pub fn load(dir: Option<&Path>) -> io::Result<Verified> {
        let Some(dir) = dir else {
            return Ok(Verified::default());
        };
        let path = dir.join(VERIFIED_FILE);
        let fingerprints = match std::fs::read_to_string(&path) {
            Ok(text) => text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned)
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeSet::new(),
            Err(e) => return Err(e),
        };
        Ok(Verified {
            path: Some(path),
            fingerprints,
        })
    }

    /// `true` when `fingerprint` was verified.
    pub fn contains(&self, fingerprint: &str) -> bool {
        self.fingerprints.contains(fingerprint)
    }

    /// The verified fingerprints.
    pub fn fingerprints(&self) -> &BTreeSet<String> {
        &self.fingerprints
    }

    /// Marks fingerprints verified (`true`) or not (`false`) and saves the file.
    pub fn set(&mut self, fingerprints: &[String], verified: bool) -> io::Result<()> {
        for f in fingerprints {
            if verified {
                self.fingerprints.insert(f.clone());
            } else {
                self.fingerprints.remove(f);
            }
        }
        self.save()
    }

    fn save(&self) -> io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        writeln!(
            tmp,
            "# Device fingerprints verified on this device (chat's /verify), one per line"
        )?;
        for f in &self.fingerprints {
            writeln!(tmp, "{f}")?;
        }
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// Display names seen signed by each device (fingerprint → the latest name).
pub type Names = HashMap<String, String>;

/// The names a member's devices signed messages with (latest per device, deduplicated).
pub fn member_names(member: &Member, names: &Names) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in &member.devices {
        if let Some(n) = names.get(&d.fingerprint()) {
            if !out.contains(n) {
                out.push(n.clone());
            }
        }
    }
    out
}

/// Finds the member `query` names: a unique prefix of its hex id (at least 2 digits), else
/// the display name its devices signed with (if exactly one member used it). Returns the
/// member and whether it was found by name (unauthenticated, worth a warning).
pub fn resolve<'a>(
    members: &'a [Member],
    query: &str,
    names: &Names,
) -> Result<(&'a Member, bool), String> {
    let query = query.trim();
    if query.is_empty() {
        return Err("which member? give the start of its id (see /members)".into());
    }
    let lower = query.to_ascii_lowercase();
    if lower.len() >= 2 && lower.bytes().all(|b| b.is_ascii_hexdigit()) {
        let by_id: Vec<&Member> = members
            .iter()
            .filter(|m| m.id.to_string().starts_with(&lower))
            .collect();
        match by_id.as_slice() {
            [one] => return Ok((one, false)),
            [] => {}
            many => {
                return Err(format!(
                    "{} members have an id starting with {query}: give more digits",
                    many.len()
                ))
            }
        }
    }
    let by_name: Vec<&Member> = members
        .iter()
        .filter(|m| member_names(m, names).iter().any(|n| n == query))
        .collect();
    match by_name.as_slice() {
        [one] => Ok((one, true)),
        [] => Err(format!(
            "no member with an id starting with {query:?} or named {query:?} (see /members)"
        )),
        many => Err(format!(
            "{} members call themselves {query:?}: give the start of the id instead (see /members)",
            many.len()
        )),
    }
}

/// Who is `me`: the member holding this device.
pub fn own_member<'a>(members: &'a [Member], me: &PublicIdentity) -> Option<&'a Member> {
    members.iter().find(|m| m.devices.iter().any(|d| d == me))
}

/// `verified` or `NOT verified` for one fingerprint (`this device` for ours).
fn verification(fingerprint: &str, me: Option<&PublicIdentity>, verified: &Verified) -> String {
    if me.is_some_and(|me| me.fingerprint() == fingerprint) {
        "this device".to_owned()
    } else if verified.contains(fingerprint) {
        "verified ✓".to_owned()
    } else {
        "not verified".to_owned()
    }
}

/// The `/members` listing: one line per member (role, short id, names, "you") and one per
/// device (its fingerprint and whether it is verified).
pub fn describe_members(
    members: &[Member],
    me: Option<&PublicIdentity>,
    names: &Names,
    verified: &Verified,
) -> Vec<String> {
    let mut out = vec![format!(
        "{} member(s) (ids identify members; names are what they call themselves):",
        members.len()
    )];
    for m in members {
        let seen = member_names(m, names);
        let name = if seen.is_empty() {
            "(no message yet)".to_owned()
        } else {
            seen.join(", ")
        };
        let you = if me.is_some_and(|me| m.devices.iter().any(|d| d == me)) {
            " (you)"
        } else {
            ""
        };
        out.push(format!(
            "  {:<6} {} {name}{you}",
            role_name(m.role),
            short_id(&m.id)
        ));
        for d in &m.devices {
            let f = d.fingerprint();
            out.push(format!(
                "         device {f} ({})",
                verification(&f, me, verified)
            ));
        }
    }
    out
}

/// The `/whois` answer: the full id, role, each device's full fingerprint, whether it is
/// verified, and the safety number with this device to compare out of band.
pub fn describe_member(
    member: &Member,
    me: Option<&PublicIdentity>,
    names: &Names,
    verified: &Verified,
) -> Vec<String> {
    let seen = member_names(member, names);
    let mut out = vec![format!(
        "member {} ({}), joined in epoch {}{}",
        member.id,
        role_name(member.role),
        member.joined_epoch,
        if seen.is_empty() {
            String::new()
        } else {
            format!(", calls itself {}", seen.join(", "))
        }
    )];
    for d in &member.devices {
        let f = d.fingerprint();
        out.push(format!(
            "  device fingerprint {f} ({})",
            verification(&f, me, verified)
        ));
        if let Some(me) = me.filter(|me| *me != d) {
            out.push(format!(
                "  safety number with you: {}",
                ftpchat_core::safety_number(me, d)
            ));
        }
    }
    if me.is_some_and(|me| !member.devices.iter().any(|d| d == me)) {
        out.push(format!(
            "Compare the safety number with them (in person, or a call), then /verify {}",
            short_id(&member.id)
        ));
    }
    out
}

/// What changed between two member lists, in words: joins, removals, role and device
/// changes (`me`: this device, for "you").
pub fn membership_changes(
    before: &[Member],
    after: &[Member],
    me: Option<&PublicIdentity>,
    names: &Names,
) -> Vec<String> {
    let label = |m: &Member| {
        let seen = member_names(m, names);
        let is_me = me.is_some_and(|me| m.devices.iter().any(|d| d == me));
        match (is_me, seen.first()) {
            (true, _) => format!("{} (you)", short_id(&m.id)),
            (false, Some(n)) => format!("{} ({n})", short_id(&m.id)),
            (false, None) => short_id(&m.id),
        }
    };
    let mut out = Vec::new();
    for m in after {
        match before.iter().find(|b| b.id == m.id) {
            None => out.push(format!(
                "{} joined as {}, device {}",
                label(m),
                role_name(m.role),
                m.devices
                    .iter()
                    .map(PublicIdentity::fingerprint)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Some(b) => {
                if b.role != m.role {
                    out.push(format!("{} is now {}", label(m), role_name(m.role)));
                }
                for d in m.devices.iter().filter(|d| !b.devices.contains(d)) {
                    out.push(format!("{} linked device {}", label(m), d.fingerprint()));
                }
                for d in b.devices.iter().filter(|d| !m.devices.contains(d)) {
                    out.push(format!("{} lost device {}", label(m), d.fingerprint()));
                }
            }
        }
    }
    for b in before
        .iter()
        .filter(|b| !after.iter().any(|m| m.id == b.id))
    {
        out.push(format!("{} was removed from the room", label(b)));
    }
    out
}

/// `/who` and `/last`: one line per member present (online now, or with `window_ms`, seen
/// within that window before `now_ms`), with its state, whether it types, and when it was
/// last active.
pub fn describe_presence(
    presence: &[ftpchat_core::PresenceInfo],
    window_ms: Option<u64>,
    now_ms: u64,
    names: &Names,
) -> Vec<String> {
    use ftpchat_core::PresenceState;
    let shown: Vec<&ftpchat_core::PresenceInfo> = presence
        .iter()
        .filter(|p| match window_ms {
            None => p.state != PresenceState::Offline,
            Some(w) => p.seen_within(now_ms, w),
        })
        .collect();
    let mut out = vec![match window_ms {
        None => format!("{} online now:", shown.len()),
        Some(_) => format!("{} online in the last hour:", shown.len()),
    }];
    for p in shown {
        let name = if p.display_name.is_empty() {
            names.get(&p.fingerprint).cloned().unwrap_or_default()
        } else {
            p.display_name.clone()
        };
        let state = match p.state {
            PresenceState::Online => "online",
            PresenceState::Away => "away",
            _ => "offline",
        };
        let mut line = format!("  {} {name} {state}", short_id(&p.member));
        if p.is_self {
            line += " (you)";
        }
        if p.typing {
            line += ", typing…";
        }
        if let Some(at) = p.last_active_ms {
            let minutes = now_ms.saturating_sub(at) / 60_000;
            line += &format!(", active {minutes} min ago");
        }
        out.push(line);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ftpchat_core::DeviceIdentity;

    fn member(device: &PublicIdentity, role: Role) -> Member {
        Member {
            id: MemberId::of(device),
            role,
            devices: vec![device.clone()],
            joined_epoch: 0,
        }
    }

    #[test]
    fn invitation_locations() {
        assert_eq!(
            invitation_location("ftp://guest:pw@127.0.0.1:2221/lobby", true).unwrap(),
            "ftp://guest:pw@127.0.0.1:2221/lobby"
        );
        // Another server: no login in the invitation (the invitee uses its own).
        for (given, expected) in [
            (
                "ftp://alice:secret@host:21/chats/lobby",
                "ftp://host:21/chats/lobby",
            ),
            ("ftps://alice@host/lobby", "ftps://host/lobby"),
            ("ftpes://host/a%20b", "ftpes://host/a%20b"),
        ] {
            let got = invitation_location(given, false).unwrap();
            assert_eq!(got, expected, "{given}");
            let (a, b) = (Target::parse(given).unwrap(), Target::parse(&got).unwrap());
            assert_eq!(a.room, b.room);
        }
        let folder = invitation_location("some/dir/lobby", false).unwrap();
        assert!(Path::new(&folder).is_absolute(), "{folder}");
        assert!(folder.ends_with("some/dir/lobby"), "{folder}");
        assert!(invitation_location("gopher://x/y", false).is_err());
    }

    #[test]
    fn cleans_pasted_invitations() {
        assert_eq!(
            clean_invitation("'ftpchat://join?v=1&ro\n om=ab  \r\n&key=x'"),
            "ftpchat://join?v=1&room=ab&key=x"
        );
    }

    #[test]
    fn resolves_members_by_id_prefix_then_name() {
        let (a, b, c) = (
            DeviceIdentity::generate().public(),
            DeviceIdentity::generate().public(),
            DeviceIdentity::generate().public(),
        );
        let members = vec![
            member(&a, Role::Admin),
            member(&b, Role::Member),
            member(&c, Role::Member),
        ];
        let mut names = Names::new();
        names.insert(a.fingerprint(), "alice".into());
        names.insert(b.fingerprint(), "bob".into());
        names.insert(c.fingerprint(), "bob".into());

        let full = members[1].id.to_string();
        let (m, by_name) = resolve(&members, &full[..SHORT_ID_LEN], &names).unwrap();
        assert_eq!((m.id, by_name), (members[1].id, false));
        assert_eq!(
            resolve(&members, &full.to_uppercase(), &names)
                .unwrap()
                .0
                .id,
            members[1].id
        );
        let (m, by_name) = resolve(&members, "alice", &names).unwrap();
        assert_eq!((m.id, by_name), (members[0].id, true));
        let e = resolve(&members, "bob", &names).unwrap_err();
        assert!(e.contains("2 members call themselves"), "{e}");
        assert!(resolve(&members, "carol", &names).is_err());
        assert!(resolve(&members, "", &names).is_err());
        // A single digit never matches by id (too easy to hit the wrong member).
        let one = &full[..1];
        assert!(resolve(&members, one, &Names::new()).is_err());
    }

    #[test]
    fn describes_members_and_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (
            DeviceIdentity::generate().public(),
            DeviceIdentity::generate().public(),
        );
        let before = vec![member(&a, Role::Admin)];
        let mut after = vec![member(&a, Role::Admin), member(&b, Role::Member)];
        let mut names = Names::new();
        names.insert(b.fingerprint(), "bob".into());
        let mut verified = Verified::load(Some(dir.path())).unwrap();

        let list = describe_members(&after, Some(&a), &names, &verified);
        assert!(list[0].starts_with("2 member(s)"), "{list:?}");
        assert!(list[1].starts_with(&format!("  admin  {}", short_id(&after[0].id))));
        assert!(list[1].ends_with("(you)"), "{list:?}");
        assert!(list[3].contains(&format!("{} bob", short_id(&after[1].id))));
        assert!(list[4].contains(&format!("device {} (not verified)", b.fingerprint())));

        verified.set(&[b.fingerprint()], true).unwrap();
        let again = Verified::load(Some(dir.path())).unwrap();
        assert!(again.contains(&b.fingerprint()));
        let whois = describe_member(&after[1], Some(&a), &names, &again);
        assert!(whois[1].contains("(verified ✓)"), "{whois:?}");
        assert_eq!(
            whois[2],
            format!(
                "  safety number with you: {}",
                ftpchat_core::safety_number(&a, &b)
            )
        );

        let changes = membership_changes(&before, &after, Some(&a), &names);
        assert_eq!(changes.len(), 1);
        assert!(changes[0].contains("(bob) joined as member"), "{changes:?}");
        after[1].role = Role::Admin;
        let promoted = membership_changes(&before[..], &after, Some(&a), &names);
        assert!(promoted[0].contains("joined as admin"));
        let removed = membership_changes(&after, &before, Some(&b), &names);
        assert_eq!(
            removed,
            [format!(
                "{} (you) was removed from the room",
                short_id(&after[1].id)
            )]
        );
    }

    #[test]
    fn state_dir_default() {
        // Only checks the shape: the variables are the process's.
        if let Some(d) = default_state_dir() {
            assert!(d.ends_with("ftpchat/chat"), "{}", d.display());
        }
        assert_eq!(short_fingerprint("12345 67890"), "12345");
    }
}
